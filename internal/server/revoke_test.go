package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/store"
)

// Revocation is immediate (DESIGN §6): whatever a token, a share key or an account granted — display
// secrets not used yet, live display websockets, the agent proxy (events websocket included) and event
// streams — ends within 1 s of the credential's revocation, by this process or by another one on the
// same database (`deskhub user lock`).

const revokeLimit = time.Second

// liveWS is a websocket whose end is watched: done closes when a read fails.
type liveWS struct {
	done chan struct{}
}

func watchWS(ws *websocket.Conn) *liveWS {
	return watch(func() error { _, _, err := ws.Read(context.Background()); return err })
}

// watch answers a liveWS whose done closes when read fails.
func watch(read func() error) *liveWS {
	l := &liveWS{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for read() == nil {
		}
	}()
	return l
}

// endedWithin fails unless l ended within limit of since, and reports how long it took.
func (l *liveWS) endedWithin(t *testing.T, what string, since time.Time) time.Duration {
	t.Helper()
	select {
	case <-l.done:
		d := time.Since(since)
		t.Logf("%s: closed %v after the revocation", what, d.Round(time.Millisecond))
		return d
	case <-time.After(revokeLimit - time.Since(since)):
		t.Fatalf("%s: still open %v after the revocation", what, revokeLimit)
		return 0
	}
}

func (l *liveWS) stillOpen(t *testing.T, what string) {
	t.Helper()
	select {
	case <-l.done:
		t.Fatalf("%s was closed, though nothing it depends on was revoked", what)
	default:
	}
}

// revokeRig is one running desktop and an SDK client without a token (display secrets, share keys).
type revokeRig struct {
	t    *testing.T
	h    *harness
	anon *client.Client
	id   string // the session
}

func newRevokeRig(t *testing.T, opts ...harnessOpt) *revokeRig {
	h := desktopHarness(t, opts...)
	return &revokeRig{t: t, h: h, anon: h.client("")}
}

// display opens the relay websocket of a connect object and waits for the RFB greeting.
func (r *revokeRig) display(conn fastx.Connect) *liveWS {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := r.anon.DialDisplayWebSocket(ctx, conn)
	if err != nil {
		r.t.Fatalf("display websocket: %v", err)
	}
	r.t.Cleanup(func() { ws.CloseNow() })
	if _, msg, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(msg), "RFB 003.") {
		r.t.Fatalf("no RFB greeting: %q %v", msg, err)
	}
	return watchWS(ws)
}

// refused checks that an unused connect secret no longer opens the display.
func (r *revokeRig) refused(what string, conn fastx.Connect) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := r.anon.DialDisplayWebSocket(ctx, conn)
	if err == nil {
		ws.CloseNow()
		r.t.Fatalf("%s: an unused secret still opens the display after the revocation", what)
	}
	if client.StatusCode(err) != http.StatusUnauthorized {
		r.t.Fatalf("%s: unused secret after the revocation: %v (want 401)", what, err)
	}
}

// connect answers the connect object of session/connect for c.
func (r *revokeRig) connect(c *client.Client) fastx.Connect {
	r.t.Helper()
	conn, err := c.ConnectSession(context.Background(), r.id, nil)
	must(r.t, err)
	return conn
}

// shareKey makes a key of the session and answers it (in full: the answer of its creation).
func (r *revokeRig) shareKey(owner *client.Client, perms ...string) (key, id string) {
	r.t.Helper()
	k, err := owner.CreateShare(context.Background(), r.id, perms...)
	must(r.t, err)
	return k.Key, k.KeyID
}

func (r *revokeRig) shareConn(key string) fastx.Connect {
	r.t.Helper()
	conn, err := r.anon.ConnectShare(context.Background(), r.id, key)
	must(r.t, err)
	return conn
}

// apiToken creates an API token of owner and answers a client of it and its name.
func (r *revokeRig) apiToken(owner *client.Client, revokeAll bool) (*client.Client, string) {
	r.t.Helper()
	tok, err := owner.CreateToken(context.Background(), time.Hour, revokeAll)
	must(r.t, err)
	return r.h.client(tok.Data.Attributes.Token), tok.Data.ID
}

// TestRevokeDisplay: each revocation ends the live display connections and the unused secrets issued
// through the revoked credential, within 1 s, and leaves the others alone.
func TestRevokeDisplay(t *testing.T) {
	r := newRevokeRig(t)
	ctx := context.Background()
	owner := r.h.client(r.h.user("ada", false))
	conn, err := owner.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	r.id = conn.ID
	control := r.display(r.connect(owner)) // owner's first token: survives everything but the lock
	login := func() *client.Client { return r.h.client(r.h.login("ada", testPassword)) }

	type victim struct {
		live   *liveWS
		unused fastx.Connect
	}
	// through returns a live connection and an unused secret issued through the credential.
	tests := []struct {
		name    string
		through func() (victim, func()) // the victim, and the revocation
	}{
		{"share/delete", func() (victim, func()) {
			key, id := r.shareKey(owner, "viewer")
			v := victim{r.display(r.shareConn(key)), r.shareConn(key)}
			return v, func() {
				_, err := owner.DeleteShare(ctx, r.id, id)
				must(t, err)
			}
		}},
		{"share/delete by key", func() (victim, func()) {
			key, _ := r.shareKey(owner, "granter")
			v := victim{r.display(r.shareConn(key)), r.shareConn(key)}
			return v, func() {
				_, err := owner.DeleteShare(ctx, r.id, key)
				must(t, err)
			}
		}},
		{"share/reset", func() (victim, func()) {
			key, _ := r.shareKey(owner, "viewer")
			v := victim{r.display(r.shareConn(key)), r.shareConn(key)}
			return v, func() {
				_, err := owner.ResetShares(ctx, r.id)
				must(t, err)
			}
		}},
		{"user/logout", func() (victim, func()) {
			tok := login()
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() { must(t, tok.Logout(ctx)) }
		}},
		{"user.logout", func() (victim, func()) {
			tok := login()
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() { must(t, tok.UserLogout(ctx)) }
		}},
		{"token.revoke", func() (victim, func()) {
			tok, name := r.apiToken(owner, false)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() {
				must(t, owner.RevokeToken(ctx, name))
			}
		}},
		{"token.create token_revoke_all", func() (victim, func()) {
			tok, _ := r.apiToken(owner, false)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() { r.apiToken(owner, true) }
		}},
		{"user.passwordChange", func() (victim, func()) {
			tok := login()
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() {
				_, err := owner.ChangePassword(ctx, testPassword+"2")
				must(t, err)
				_, err = owner.ChangePassword(ctx, testPassword)
				must(t, err)
			}
		}},
	}
	for _, tc := range tests {
		v, revoke := tc.through()
		start := time.Now()
		revoke()
		v.live.endedWithin(t, tc.name, start)
		r.refused(tc.name, v.unused)
		control.stillOpen(t, "the owner's connection through another token ("+tc.name+")")
	}

	// Account lock, as `deskhub user lock` does it: another process writes the database, nothing in
	// this one is told. The owner's connections end, and so do the guests' of the owner's desktop.
	key, _ := r.shareKey(owner, "viewer")
	guest, guestUnused := r.display(r.shareConn(key)), r.shareConn(key)
	unused := r.connect(owner)
	start := time.Now()
	lockAsCLI(t, r.h.s.store, "ada")
	control.endedWithin(t, "account lock (owner)", start)
	guest.endedWithin(t, "account lock (guest of the owner's desktop)", start)
	r.refused("account lock", unused)
	r.refused("account lock (guest)", guestUnused)
}

// lockAsCLI does what `deskhub user lock` does, straight on the store.
func lockAsCLI(t *testing.T, st store.Store, login string) {
	t.Helper()
	ctx := context.Background()
	err := st.InTx(ctx, func(tx store.Store) error {
		u, err := tx.GetUserByLogin(ctx, login)
		if err != nil {
			return err
		}
		u.Disabled = true
		if err := tx.UpdateUser(ctx, &u); err != nil {
			return err
		}
		_, err = tx.RevokeUserTokens(ctx, u.ID, "", 0, time.Now().UTC())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRevokeAgentProxy: the agent's events websocket through the broker ends with the token it was
// opened with, with the share key it was opened through, and with the account.
func TestRevokeAgentProxy(t *testing.T) {
	bin := agentBinary(t)
	r := newRevokeRig(t, func(c *config.Config, _ *Options) { c.Sessions.AgentCommand = []string{bin, "agent"} })
	ctx := context.Background()
	owner := r.h.client(r.h.user("ada", false))
	guestClient := r.h.client(r.h.user("bo", false))
	conn, err := owner.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	r.id = conn.ID
	waitFor(t, "the agent", func() bool { _, err := owner.Agent(r.id).Version(ctx); return err == nil })
	events := func(a *client.Agent) *liveWS {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ev, err := a.Events(ctx)
		if err != nil {
			t.Fatalf("events websocket: %v", err)
		}
		t.Cleanup(func() { ev.Close() })
		if _, err := ev.Next(ctx); err != nil {
			t.Fatalf("first event: %v", err)
		}
		return watch(func() error { _, err := ev.Next(context.Background()); return err })
	}
	control := events(owner.Agent(r.id))

	key, id := r.shareKey(owner, "viewer")
	guest := events(guestClient.Agent(r.id).WithShareKey(key))
	start := time.Now()
	_, err = owner.DeleteShare(ctx, r.id, id)
	must(t, err)
	guest.endedWithin(t, "agent events through a deleted share key", start)
	_, err = guestClient.Agent(r.id).WithShareKey(key).Version(ctx)
	wantErr(t, err, 404, "")

	tok := r.h.client(r.h.login("ada", testPassword))
	mine := events(tok.Agent(r.id))
	start = time.Now()
	must(t, tok.Logout(ctx))
	mine.endedWithin(t, "agent events after logout", start)
	control.stillOpen(t, "agent events through another token")

	start = time.Now()
	lockAsCLI(t, r.h.s.store, "ada")
	control.endedWithin(t, "agent events after the account lock", start)
}

// TestRevokeEventStream: an infrastructure event stream bound by a token ends when that token is
// revoked (logout) or the account is locked.
func TestRevokeEventStream(t *testing.T) {
	h := newHarness(t)
	defer h.s.closeInfra()
	h.user("ada", false)
	// stream binds a fresh event stream (server-sent events) to c's token.
	stream := func(c *client.Client) *liveWS {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		es, err := c.Subscribe(ctx)
		must(t, err)
		t.Cleanup(func() { es.Close() })
		// The server ends a revoked stream with a close message, then the response.
		return watch(func() error { _, err := es.Next(context.Background()); return err })
	}
	tok, other := h.client(h.login("ada", testPassword)), h.client(h.login("ada", testPassword))
	mine, control := stream(tok), stream(other)
	start := time.Now()
	must(t, tok.UserLogout(context.Background()))
	mine.endedWithin(t, "event stream after logout", start)
	control.stillOpen(t, "event stream of another token")
	start = time.Now()
	lockAsCLI(t, h.s.store, "ada")
	control.endedWithin(t, "event stream after the account lock", start)
}
