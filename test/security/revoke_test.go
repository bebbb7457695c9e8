package security

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Probe: a guest whose share key was deleted, or a user who logged out, kept the desktop — the display
// secret they had been given still opened it, and the websocket they had open stayed open. Revocation
// must end both within 1 s (DESIGN §6).

const revokeLimit = time.Second

// openDisplay dials the display websocket of a connect url, reads the RFB greeting and returns a channel
// closed when the connection ends.
func openDisplay(t *testing.T, s *server, url string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+url, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		t.Fatalf("display websocket: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	if _, msg, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(msg), "RFB 003.") {
		t.Fatalf("no RFB greeting: %q %v", msg, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return done
}

// closedWithin fails unless done closes within revokeLimit of since; it answers the latency.
func closedWithin(t *testing.T, what string, done <-chan struct{}, since time.Time) time.Duration {
	t.Helper()
	select {
	case <-done:
		d := time.Since(since)
		t.Logf("%s: display websocket closed %v after the revocation", what, d.Round(time.Millisecond))
		return d
	case <-time.After(revokeLimit - time.Since(since)):
		t.Fatalf("%s: display websocket still open %v after the revocation", what, revokeLimit)
		return 0
	}
}

// refused fails unless an unused connect url is refused (401).
func refused(t *testing.T, s *server, what, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+s.addr+url, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err == nil {
		ws.CloseNow()
		t.Fatalf("%s: an unused display secret still opens the desktop after the revocation", what)
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%s: unused secret: %v, want 401", what, err)
	}
}

func connectURL(t *testing.T, m map[string]any) string {
	t.Helper()
	u, _ := result(m)["url"].(string)
	if u == "" {
		t.Fatalf("no connect url in %v", m)
	}
	return u
}

// newShareKey makes a viewer key and answers it in full and its public id.
func newShareKey(t *testing.T, s *server, token, session string) (key, id string) {
	t.Helper()
	m := s.must("/v3/api/share/edit", token, map[string]any{"id": session, "key": "", "perms": []string{"viewer"}})
	list, _ := m["result"].([]any)
	for _, e := range list {
		k := e.(map[string]any)
		if k["key"] != k["keyId"] {
			return k["key"].(string), k["keyId"].(string)
		}
	}
	t.Fatalf("share/edit answered no new key: %v", m)
	return "", ""
}

func TestRevokeShareDeleteAndLogout(t *testing.T) {
	data := newDataDir(t)
	addUser(t, data, "ada", "correct horse battery staple", false)
	s := startServer(t, data)
	owner := s.login("ada", "correct horse battery staple")
	session := s.startDesktop(owner, "xterm")["id"].(string)

	// share/delete: the guest's live connection and its unused secret.
	key, id := newShareKey(t, s, owner, session)
	guest := openDisplay(t, s, connectURL(t, s.must("/v3/api/share/connect", "", map[string]any{"id": session, "key": key})))
	unused := connectURL(t, s.must("/v3/api/share/connect", "", map[string]any{"id": session, "key": key}))
	start := time.Now()
	s.must("/v3/api/share/delete", owner, map[string]any{"id": session, "key": id})
	closedWithin(t, "share/delete", guest, start)
	refused(t, s, "share/delete", unused)
	if status, _ := s.call("/v3/api/share/connect", "", map[string]any{"id": session, "key": key}); status != 404 {
		t.Fatalf("share/connect with a deleted key: %d", status)
	}

	// logout: the connection and the unused secret of that login; another login's stay.
	other := openDisplay(t, s, connectURL(t, s.must("/v3/api/session/connect", owner, map[string]any{"id": session})))
	tok := s.login("ada", "correct horse battery staple")
	mine := openDisplay(t, s, connectURL(t, s.must("/v3/api/session/connect", tok, map[string]any{"id": session})))
	unused = connectURL(t, s.must("/v3/api/session/connect", tok, map[string]any{"id": session}))
	start = time.Now()
	s.must("/v3/api/user/logout", tok, nil)
	closedWithin(t, "user/logout", mine, start)
	refused(t, s, "user/logout", unused)
	select {
	case <-other:
		t.Fatal("logging out one token closed the display of another")
	case <-time.After(300 * time.Millisecond):
	}

	// Account lock from the command line (another process on the same database).
	unused = connectURL(t, s.must("/v3/api/session/connect", owner, map[string]any{"id": session}))
	start = time.Now()
	cli(t, data, "", "user", "lock", "ada")
	closedWithin(t, "deskhub user lock", other, start)
	refused(t, s, "deskhub user lock", unused)
}
