package revoke_test

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// fixture is a store with one user, a token, a running session and a share of it.
type fixture struct {
	st    store.Store
	user  store.User
	tok   store.Token
	share store.Share
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := fixture{st: st, user: store.User{Login: "ada", Provider: "local"}}
	must(t, st.CreateUser(ctx, &f.user))
	f.tok = store.Token{UserID: f.user.ID, Name: "tok-1", Type: store.TokenUserLogin, Hash: []byte("h"), ExpiresAt: time.Now().Add(time.Hour)}
	must(t, st.CreateToken(ctx, &f.tok))
	must(t, st.CreateSession(ctx, &store.Session{ID: "s1", UserID: f.user.ID, State: store.SessionRunning}))
	h := sha256.Sum256([]byte("key"))
	f.share = store.Share{SessionID: "s1", KeyHash: h[:]}
	must(t, st.CreateShare(ctx, &f.share))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRevocation: each way a credential goes ends what depends on it (and only that), within the
// polling interval even without a Kick (a revocation by another process), and Check refuses it.
func TestRevocation(t *testing.T) {
	tests := []struct {
		name   string
		revoke func(t *testing.T, f fixture)
		dead   func(f fixture) revoke.Deps // depends on the revoked credential
		alive  func(f fixture) revoke.Deps // does not
	}{
		{"token revoked", func(t *testing.T, f fixture) { must(t, f.st.RevokeToken(t.Context(), f.tok.ID, time.Now())) },
			func(f fixture) revoke.Deps { return revoke.Deps{UserID: f.user.ID, TokenID: f.tok.ID} },
			func(f fixture) revoke.Deps { return revoke.Deps{ShareID: f.share.ID, UserID: f.user.ID} }},
		{"share deleted", func(t *testing.T, f fixture) { must(t, f.st.DeleteShare(t.Context(), "s1", f.share.ID)) },
			func(f fixture) revoke.Deps { return revoke.Deps{ShareID: f.share.ID} },
			func(f fixture) revoke.Deps { return revoke.Deps{UserID: f.user.ID, TokenID: f.tok.ID} }},
		{"user locked", func(t *testing.T, f fixture) {
			u := f.user
			u.Disabled = true
			must(t, f.st.UpdateUser(t.Context(), &u))
		},
			func(f fixture) revoke.Deps { return revoke.Deps{ShareID: f.share.ID, UserID: f.user.ID} },
			func(f fixture) revoke.Deps { return revoke.Deps{ShareID: f.share.ID} }},
		{"user deleted", func(t *testing.T, f fixture) { must(t, f.st.DeleteUser(t.Context(), f.user.ID)) },
			func(f fixture) revoke.Deps { return revoke.Deps{UserID: f.user.ID} },
			func(f fixture) revoke.Deps { return revoke.Deps{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			r := revoke.New(revoke.Options{Store: f.st, Interval: 50 * time.Millisecond})
			defer r.Close()
			dead, alive := make(chan struct{}), make(chan struct{})
			stopDead := r.Watch(tc.dead(f), func() { close(dead) })
			defer stopDead()
			stopAlive := r.Watch(tc.alive(f), func() { close(alive) })
			defer stopAlive()
			must(t, r.Check(t.Context(), tc.dead(f)))
			time.Sleep(120 * time.Millisecond) // a few sweeps: nothing is ended while all stands
			select {
			case <-dead:
				t.Fatal("ended before any revocation")
			default:
			}
			start := time.Now()
			tc.revoke(t, f) // no Kick: as if another process revoked it
			select {
			case <-dead:
				t.Logf("ended %v after the revocation", time.Since(start).Round(time.Millisecond))
			case <-time.After(time.Second):
				t.Fatal("not ended within 1 s of the revocation")
			}
			if err := r.Check(t.Context(), tc.dead(f)); !errors.Is(err, revoke.ErrRevoked) {
				t.Fatalf("Check after revocation = %v", err)
			}
			time.Sleep(120 * time.Millisecond)
			select {
			case <-alive:
				t.Fatal("an unrelated watch was ended")
			default:
			}
			must(t, r.Check(t.Context(), tc.alive(f)))
		})
	}
}

// TestKick: a Kick re-checks at once, long before the next tick.
func TestKick(t *testing.T) {
	f := newFixture(t)
	r := revoke.New(revoke.Options{Store: f.st, Interval: time.Hour})
	defer r.Close()
	ended := make(chan struct{})
	defer r.Watch(revoke.Deps{TokenID: f.tok.ID}, func() { close(ended) })()
	must(t, f.st.RevokeToken(t.Context(), f.tok.ID, time.Now()))
	r.Kick()
	select {
	case <-ended:
	case <-time.After(time.Second):
		t.Fatal("Kick did not end the watch")
	}
	if n := r.Live(); n != 0 {
		t.Fatalf("%d watches live after the end", n)
	}
}

// TestExpiredToken: a token past its expiry counts as gone.
func TestExpiredToken(t *testing.T) {
	f := newFixture(t)
	now := time.Now().Add(2 * time.Hour)
	r := revoke.New(revoke.Options{Store: f.st, Now: func() time.Time { return now }})
	if err := r.Check(t.Context(), revoke.Deps{TokenID: f.tok.ID}); !errors.Is(err, revoke.ErrRevoked) {
		t.Fatalf("Check of an expired token = %v", err)
	}
}
