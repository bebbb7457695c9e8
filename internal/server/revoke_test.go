package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

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
	ws   *websocket.Conn
	done chan struct{}
}

func watchWS(ws *websocket.Conn) *liveWS {
	l := &liveWS{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
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

// revokeRig is one running desktop and a test server for websockets.
type revokeRig struct {
	t  *testing.T
	h  *harness
	ts *httptest.Server
	id string // the session
}

func newRevokeRig(t *testing.T, opts ...harnessOpt) *revokeRig {
	h := desktopHarness(t, opts...)
	ts := httptest.NewServer(h.s.Handler())
	t.Cleanup(ts.Close)
	return &revokeRig{t: t, h: h, ts: ts}
}

func (r *revokeRig) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(r.ts.URL, "http") + path
}

// display opens the relay websocket of a connect object's url and waits for the RFB greeting.
func (r *revokeRig) display(url string) *liveWS {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, r.wsURL(url), &websocket.DialOptions{Subprotocols: []string{"binary"}})
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
func (r *revokeRig) refused(what, url string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, r.wsURL(url), &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err == nil {
		ws.CloseNow()
		r.t.Fatalf("%s: an unused secret still opens the display after the revocation", what)
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		r.t.Fatalf("%s: unused secret after the revocation: %v (want 401)", what, err)
	}
}

// connect answers the display url of session/connect for token.
func (r *revokeRig) connect(token string) string {
	r.t.Helper()
	return r.h.call("POST", "/v3/api/session/connect", token, map[string]any{"id": r.id}).want(r.t, 200).str("result", "url")
}

// shareKey makes a key of the session and answers it (in full: the answer of its creation).
func (r *revokeRig) shareKey(owner string, perms ...string) (key, id string) {
	r.t.Helper()
	list := r.h.call("POST", "/v3/api/share/edit", owner, map[string]any{"id": r.id, "key": "", "perms": perms}).want(r.t, 200)
	for _, k := range list.get("result").([]any) {
		m := k.(map[string]any)
		if m["key"] != m["keyId"] {
			return m["key"].(string), m["keyId"].(string)
		}
	}
	r.t.Fatalf("no new key in full in %s", list.Raw)
	return "", ""
}

func (r *revokeRig) shareURL(key string) string {
	r.t.Helper()
	return r.h.call("POST", "/v3/api/share/connect", "", map[string]any{"id": r.id, "key": key}).want(r.t, 200).str("result", "url")
}

func (r *revokeRig) apiToken(owner string, revokeAll bool) (secret, name string) {
	r.t.Helper()
	tok := r.h.call("POST", "/api/v1/token.create", owner, map[string]any{"token_lifetime": 3600, "token_revoke_all": revokeAll}).want(r.t, 200)
	return tok.str("data", "attributes", "token"), tok.str("data", "id")
}

// TestRevokeDisplay: each revocation ends the live display connections and the unused secrets issued
// through the revoked credential, within 1 s, and leaves the others alone.
func TestRevokeDisplay(t *testing.T) {
	r := newRevokeRig(t)
	owner := r.h.user("ada", false)
	r.id = r.h.call("POST", "/v3/api/session/start", owner, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	control := r.display(r.connect(owner)) // owner's first token: survives everything but the lock

	type victim struct {
		live   *liveWS
		unused string
	}
	// through returns a live connection and an unused secret issued through the credential.
	tests := []struct {
		name    string
		through func() (victim, func()) // the victim, and the revocation
	}{
		{"share/delete", func() (victim, func()) {
			key, id := r.shareKey(owner, "viewer")
			v := victim{r.display(r.shareURL(key)), r.shareURL(key)}
			return v, func() {
				r.h.call("POST", "/v3/api/share/delete", owner, map[string]any{"id": r.id, "key": id}).want(t, 200)
			}
		}},
		{"share/delete by key", func() (victim, func()) {
			key, _ := r.shareKey(owner, "granter")
			v := victim{r.display(r.shareURL(key)), r.shareURL(key)}
			return v, func() {
				r.h.call("POST", "/v3/api/share/delete", owner, map[string]any{"id": r.id, "key": key}).want(t, 200)
			}
		}},
		{"share/reset", func() (victim, func()) {
			key, _ := r.shareKey(owner, "viewer")
			v := victim{r.display(r.shareURL(key)), r.shareURL(key)}
			return v, func() {
				r.h.call("POST", "/v3/api/share/reset", owner, map[string]any{"id": r.id, "perms": []string{}}).want(t, 200)
			}
		}},
		{"user/logout", func() (victim, func()) {
			tok := r.h.login("ada", testPassword)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() { r.h.call("POST", "/v3/api/user/logout", tok, nil).want(t, 200) }
		}},
		{"user.logout", func() (victim, func()) {
			tok := r.h.login("ada", testPassword)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() { r.h.call("POST", "/api/v1/user.logout", tok, nil).want(t, 200) }
		}},
		{"token.revoke", func() (victim, func()) {
			tok, name := r.apiToken(owner, false)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() {
				r.h.call("POST", "/api/v1/token.revoke", owner, map[string]any{"token_name": name}).want(t, 200)
			}
		}},
		{"token.create token_revoke_all", func() (victim, func()) {
			tok, _ := r.apiToken(owner, false)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() { r.apiToken(owner, true) }
		}},
		{"user.passwordChange", func() (victim, func()) {
			tok := r.h.login("ada", testPassword)
			v := victim{r.display(r.connect(tok)), r.connect(tok)}
			return v, func() {
				r.h.call("POST", "/api/v1/user.passwordChange", owner, map[string]any{"user_password": testPassword + "2", "user_passwordRepeat": testPassword + "2"}).want(t, 200)
				r.h.call("POST", "/api/v1/user.passwordChange", owner, map[string]any{"user_password": testPassword, "user_passwordRepeat": testPassword}).want(t, 200)
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
	guest, guestUnused := r.display(r.shareURL(key)), r.shareURL(key)
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
	owner := r.h.user("ada", false)
	guestTok := r.h.user("bo", false)
	r.id = r.h.call("POST", "/v3/api/session/start", owner, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	waitFor(t, "the agent", func() bool { return r.h.call("GET", "/spawner/"+r.id+"/version", owner, nil).Status == 200 })
	events := func(token string, headers ...string) *liveWS {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + token}}
		for i := 0; i+1 < len(headers); i += 2 {
			h.Set(headers[i], headers[i+1])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, r.wsURL("/spawner/"+r.id+"/events"), &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatalf("events websocket: %v", err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatalf("first event: %v", err)
		}
		return watchWS(ws)
	}
	control := events(owner)

	key, id := r.shareKey(owner, "viewer")
	guest := events(guestTok, "X-Share-Key", key)
	start := time.Now()
	r.h.call("POST", "/v3/api/share/delete", owner, map[string]any{"id": r.id, "key": id}).want(t, 200)
	guest.endedWithin(t, "agent events through a deleted share key", start)
	r.h.call("GET", "/spawner/"+r.id+"/version", guestTok, nil, "X-Share-Key", key).want(t, 404)

	tok := r.h.login("ada", testPassword)
	mine := events(tok)
	start = time.Now()
	r.h.call("POST", "/v3/api/user/logout", tok, nil).want(t, 200)
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
	ts := httptest.NewServer(h.s.Handler())
	defer ts.Close()
	defer h.s.closeInfra()
	h.user("ada", false)
	stream := func(token string) *liveWS {
		t.Helper()
		id := h.call("POST", "/api/v1/config.get", "", nil).want(t, 200).str("data", "attributes", "stream")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/event.subscribe?stream="+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatal(err)
		}
		h.call("POST", "/api/v1/event.auth", token, map[string]any{"stream": id}).want(t, 200)
		return watchWS(ws)
	}
	tok, other := h.login("ada", testPassword), h.login("ada", testPassword)
	mine, control := stream(tok), stream(other)
	start := time.Now()
	h.call("POST", "/api/v1/user.logout", tok, nil).want(t, 200)
	mine.endedWithin(t, "event stream after logout", start)
	control.stillOpen(t, "event stream of another token")
	start = time.Now()
	lockAsCLI(t, h.s.store, "ada")
	control.endedWithin(t, "event stream after the account lock", start)
}
