package desktoptoken

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func setup(t *testing.T) (*Service, store.Store, *clock, store.User) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/d.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := store.User{Login: "ann", Email: "ann@example.org", PasswordHash: "x", Provider: store.ProviderLocal}
	if err := st.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now().UTC()}
	reg := revoke.New(revoke.Options{Store: st, Now: c.now})
	t.Cleanup(reg.Close)
	return New(Options{Store: st, Revoke: reg, Now: c.now, MaxTTL: time.Hour}), st, c, u
}

func unauthorized(t *testing.T, err error) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Unauthorized {
		t.Fatalf("got %v, want a 401", err)
	}
}

// TestIssueVerify: a token names its session and role, is stored only hashed, and stops at its expiry
// (never beyond the maximum lifetime).
func TestIssueVerify(t *testing.T) {
	s, st, c, u := setup(t)
	ctx := context.Background()
	secret, g, err := s.Issue(ctx, Grant{Session: "s1", Role: Viewer, UserID: u.ID}, 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, Prefix) || len(secret) < 40 || !g.ExpiresAt.Equal(c.now().Add(time.Hour)) || g.CanWrite() {
		t.Fatalf("issued %q %+v", secret, g)
	}
	got, err := s.Verify(ctx, secret)
	if err != nil || got.Session != "s1" || got.Role != Viewer || got.ID != g.ID {
		t.Fatalf("verify: %+v %v", got, err)
	}
	// Only the hash is kept.
	row, err := st.GetCode(ctx, g.ID)
	if err != nil || bytes.Contains(row.Hash, []byte(secret)) || strings.Contains(row.Data, secret) || len(row.Hash) != 32 {
		t.Fatalf("stored: %+v %v", row, err)
	}
	for _, bad := range []string{"", "dh_" + secret[4:], secret + "x", secret[:len(secret)-1]} {
		_, err := s.Verify(ctx, bad)
		unauthorized(t, err)
	}
	c.add(time.Hour)
	_, err = s.Verify(ctx, secret)
	unauthorized(t, err)
}

// TestRevoke: a token is revoked by name or with all of its session's; one issued through a deskhub
// token stops with that token, one issued through a share key with the key.
func TestRevoke(t *testing.T) {
	s, st, _, u := setup(t)
	ctx := context.Background()
	a, ga, _ := s.Issue(ctx, Grant{Session: "s1", Role: Owner, UserID: u.ID}, 0)
	b, _, _ := s.Issue(ctx, Grant{Session: "s1", Role: Granter}, 0)
	other, _, _ := s.Issue(ctx, Grant{Session: "s2", Role: Owner, UserID: u.ID}, 0)
	if n, err := s.Revoke(ctx, "s2", ga.Name()); err == nil || n != 0 {
		t.Fatalf("revoked another session's token: %d %v", n, err)
	}
	if n, err := s.Revoke(ctx, "s1", ga.Name()); err != nil || n != 1 {
		t.Fatalf("revoke by name: %d %v", n, err)
	}
	_, err := s.Verify(ctx, a)
	unauthorized(t, err)
	if _, err := s.Verify(ctx, b); err != nil {
		t.Fatalf("the other token of the session: %v", err)
	}
	if n, err := s.Revoke(ctx, "s1", ""); err != nil || n != 1 {
		t.Fatalf("revoke all: %d %v", n, err)
	}
	_, err = s.Verify(ctx, b)
	unauthorized(t, err)
	if _, err := s.Verify(ctx, other); err != nil {
		t.Fatalf("another session's token after revoking s1's: %v", err)
	}

	// Issued through a login token: revoking that token ends it.
	tok := store.Token{UserID: u.ID, Name: "t1", Type: "user.login", Hash: []byte("h1"), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.CreateToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	viaTok, _, _ := s.Issue(ctx, Grant{Session: "s3", Role: Owner, UserID: u.ID, TokenID: tok.ID}, 0)
	if _, err := s.Verify(ctx, viaTok); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(ctx, viaTok)
	unauthorized(t, err)

	// Issued through a share key: deleting the key ends it.
	viaShare, _, _ := s.Issue(ctx, Grant{Session: "s4", Role: Viewer, ShareID: "no-such-share"}, 0)
	_, err = s.Verify(ctx, viaShare)
	unauthorized(t, err)
}
