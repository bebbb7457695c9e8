package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/provider/local"
	"github.com/deskhub/deskhub/internal/session"
	"github.com/deskhub/deskhub/internal/store"
)

func x11Sockets(t *testing.T) int {
	entries, _ := os.ReadDir("/tmp/.X11-unix")
	return len(entries)
}

func TestSessionBadInputAndIsolation(t *testing.T) {
	h := desktopHarness(t, func(c *config.Config, _ *Options) { c.Sessions.MaxPerUser = 1 })
	a := h.user("ann", false)
	b := h.user("ben", false)
	before := x11Sockets(t)
	for _, g := range []string{"0x0", "99999x99999", "abc", "1024x", "-5x10"} {
		h.call("POST", "/v3/api/session/start", a, map[string]any{"command": "xterm", "geometry": g}).wantErr(t, 400, "geometry")
	}
	h.call("POST", "/v3/api/session/start", a, map[string]any{"command": "no-such-program-xyz"}).wantErr(t, 400, "command")
	h.call("POST", "/v3/api/session/start", a, map[string]any{"command": "xterm 'unclosed"}).wantErr(t, 400, "quote")
	h.call("POST", "/v3/api/session/start", a, map[string]any{"command": ""}).wantErr(t, 400, "empty")
	h.call("POST", "/v3/api/session/start", a, map[string]any{"command": "xterm", "id": "../../etc"}).wantErr(t, 400, "id")
	if rows, _ := h.s.store.ListSessions(context.Background(), store.SessionFilter{}); len(rows) != 0 {
		t.Fatalf("refused starts left %d rows", len(rows))
	}
	if n := x11Sockets(t); n != before {
		t.Fatalf("refused starts left X servers: %d sockets, were %d", n, before)
	}

	id := h.call("POST", "/v3/api/session/start", a, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	// The per-user limit.
	h.call("POST", "/v3/api/session/start", a, map[string]any{"command": "xterm"}).wantErr(t, 429, "most allowed")
	// Another user's session answers exactly like an unknown one.
	for _, path := range []string{"connect", "disconnect", "terminate", "log", "screenshot", "params"} {
		theirs := h.call("POST", "/v3/api/session/"+path, b, map[string]any{"id": id}).want(t, 404)
		unknown := h.call("POST", "/v3/api/session/"+path, b, map[string]any{"id": "nope"}).want(t, 404)
		if strings.ReplaceAll(theirs.detail(), id, "nope") != unknown.detail() {
			t.Errorf("%s: another's session %q vs unknown %q", path, theirs.detail(), unknown.detail())
		}
	}
	if n := len(h.call("POST", "/v3/api/session/list", b, "{}").get("result").([]any)); n != 0 {
		t.Fatal("ben sees ann's session")
	}
	h.call("POST", "/v3/api/session/list", a, map[string]any{"filter": []string{"bad filter"}}).wantErr(t, 400, "filter")
	h.call("POST", "/v3/api/session/screenshot", a, map[string]any{"id": id, "format": "gif"}).wantErr(t, 400, "format")
	h.call("POST", "/v3/api/session/terminate", a, map[string]any{"id": id}).want(t, 200)
}

func TestSharingViewOnly(t *testing.T) {
	h := desktopHarness(t)
	owner := h.user("olga", false)
	guest := h.user("gus", false)
	id := h.call("POST", "/v3/api/session/start", owner, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	other := h.call("POST", "/v3/api/session/start", guest, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")

	keys := h.call("POST", "/v3/api/share/edit", owner, map[string]any{"id": id, "key": "", "perms": []string{"viewer"}}).want(t, 200)
	viewKey := keys.str("result", 0, "key")
	if viewKey == "" || keys.get("result", 0, "perms", 0) != "viewer" {
		t.Fatalf("share/edit: %s", keys.Raw)
	}
	grant := h.call("POST", "/v3/api/share/edit", owner, map[string]any{"id": id, "key": "", "perms": []string{"granter"}}).want(t, 200)
	var grantKey string
	for _, k := range grant.get("result").([]any) {
		if k.(map[string]any)["key"] != viewKey {
			grantKey = k.(map[string]any)["key"].(string)
		}
	}
	// A granter creates viewer keys, and only those.
	h.call("POST", "/v3/api/share/edit", guest, map[string]any{"id": id, "key": "", "perms": []string{"viewer"}}, "X-Share-Key", grantKey).want(t, 200)
	h.call("POST", "/v3/api/share/edit", guest, map[string]any{"id": id, "key": "", "perms": []string{"granter"}}, "X-Share-Key", grantKey).wantErr(t, 403, "only")
	h.call("POST", "/v3/api/share/edit", guest, map[string]any{"id": id, "key": "", "perms": []string{"viewer"}}).want(t, 404)
	if n := len(h.call("POST", "/v3/api/share/list", owner, map[string]any{"id": id}).want(t, 200).get("result").([]any)); n != 3 {
		t.Fatalf("%d keys", n)
	}
	h.call("POST", "/v3/api/share/list", guest, map[string]any{"id": id}).want(t, 404)
	// A key works for its own session only.
	h.call("POST", "/v3/api/share/connect", "", map[string]any{"id": other, "key": viewKey}).wantErr(t, 404, "no share key")
	conn := h.call("POST", "/v3/api/share/connect", "", map[string]any{"id": id, "key": viewKey}).want(t, 200)
	ws, done := openDisplay(t, h.client(""), fastx.Connect{URL: conn.str("result", "url")})
	defer done()
	waitFor(t, "viewer connected", func() bool { return h.s.relay.Clients(id) == 1 })
	// share/reset of viewer keys drops the viewer at once.
	h.call("POST", "/v3/api/share/reset", owner, map[string]any{"id": id, "perms": []string{"viewer"}}).want(t, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			break
		}
	}
	if n := len(h.call("POST", "/v3/api/share/list", owner, map[string]any{"id": id}).get("result").([]any)); n != 1 {
		t.Fatalf("%d keys left after resetting viewers, want the granter key", n)
	}
	h.call("POST", "/v3/api/share/connect", "", map[string]any{"id": id, "key": viewKey}).want(t, 404)
	h.call("POST", "/v3/api/share/delete", owner, map[string]any{"id": id, "key": grantKey}).want(t, 200)
	h.call("POST", "/v3/api/share/delete", owner, map[string]any{"id": id, "key": grantKey}).want(t, 404)
	// share/email makes a key and mails its link.
	h.call("POST", "/v3/api/share/email", owner, map[string]any{"id": id, "email": "friend@example.org"}).want(t, 200)
	if h.mail.count("friend@example.org") != 1 {
		t.Fatal("no invitation mailed")
	}
	h.call("POST", "/v3/api/share/reset", owner, map[string]any{"id": id}).want(t, 200)
}

func TestBookmarksShortcutsSchedule(t *testing.T) {
	h := desktopHarness(t)
	tok := h.user("bea", false)
	list := h.call("GET", "/v3/api/bookmark/list", tok, nil).want(t, 200)
	if len(list.get("result", "suggestions").([]any)) == 0 {
		t.Fatalf("no suggestions: %s", list.Raw)
	}
	h.call("POST", "/v3/api/bookmark/edit", tok, map[string]any{"id": "term", "command": "xterm -title bm", "name": "My terminal", "geometry": "800x600", "tags": []string{"dev"}}).want(t, 200)
	h.call("POST", "/v3/api/bookmark/edit", tok, map[string]any{"id": "bad", "command": "xterm", "geometry": "1x"}).wantErr(t, 400, "geometry")
	c := h.call("POST", "/v3/api/session/start/bookmark", tok, map[string]any{"id": "term"}).want(t, 200)
	if c.str("result", "geometry") != "800x600" {
		t.Fatalf("bookmark start: %s", c.Raw)
	}
	// shortcut connects to the running session started from the bookmark instead of starting another.
	s2 := h.call("POST", "/v3/api/session/shortcut", tok, map[string]any{"id": "term"}).want(t, 200)
	if s2.str("result", "id") != c.str("result", "id") {
		t.Fatal("shortcut started a second session")
	}
	l := h.call("POST", "/v3/api/bookmark/list", tok, "{}").want(t, 200)
	if len(l.get("result", "history").([]any)) == 0 || len(l.get("result", "bookmarks").([]any)) != 1 {
		t.Fatalf("bookmark list: %s", l.Raw)
	}
	h.call("POST", "/v3/api/bookmark/delete", tok, map[string]any{"id": "term"}).want(t, 200)
	h.call("POST", "/v3/api/bookmark/delete", tok, map[string]any{"id": "term"}).want(t, 404)
	h.call("POST", "/v3/api/session/start/bookmark", tok, map[string]any{"id": "term"}).want(t, 404)

	// A schedule in the near future starts on time.
	at := time.Now().Add(300 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	sch := h.call("POST", "/v3/api/session/schedule", tok, map[string]any{"command": "xterm", "at": at, "name": "later"}).want(t, 200)
	sid := sch.str("result", "id")
	waitFor(t, "scheduled session running", func() bool {
		r, err := h.s.store.GetSession(context.Background(), sid)
		return err == nil && r.State == session.StateRunning
	})
}

func TestSystemViews(t *testing.T) {
	h := desktopHarness(t)
	admin := h.user("root", true)
	u := h.user("uma", false)
	h.call("POST", "/v3/api/session/start", u, map[string]any{"command": "xterm"}).want(t, 200)
	h.call("GET", "/v3/system/session/list", u, nil).want(t, 403)
	all := h.call("GET", "/v3/system/session/list", admin, nil).want(t, 200)
	if n := len(all.get("result").([]any)); n != 1 {
		t.Fatalf("admin sees %d sessions", n)
	}
	if n := h.call("POST", "/v3/system/session/count", admin, map[string]any{"filter": []string{"login==uma"}}).want(t, 200).get("result"); n != 1.0 {
		t.Fatalf("count %v", n)
	}
	srv := h.call("GET", "/v3/system/server/list", admin, nil).want(t, 200)
	if srv.get("result", 0, "cpus").(float64) < 1 || srv.get("result", 0, "totalMemory").(float64) <= 0 || srv.get("result", 0, "sessions") != 1.0 ||
		srv.get("result", 0, "uptime").(float64) <= 0 {
		t.Fatalf("server list: %s", srv.Raw)
	}
	prof := h.call("GET", "/v3/system/session/profile", u, nil).want(t, 200)
	if prof.get("result", "sessions") != 1.0 || prof.str("result", "login") != "uma" {
		t.Fatalf("profile: %s", prof.Raw)
	}
}

// TestRestartAdoptsDesktops: a new server on the same store adopts running desktops with their ids, and
// marks those whose processes died as ended.
func TestRestartAdoptsDesktops(t *testing.T) {
	h := desktopHarness(t)
	tok := h.user("rita", false)
	keep := h.call("POST", "/v3/api/session/start", tok, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	kill := h.call("POST", "/v3/api/session/start", tok, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	killRow, _ := h.s.store.GetSession(context.Background(), kill)
	// The old server goes away without stopping anything (as after kill -9): close its watchers only.
	h.s.closeSessions()
	_ = syscall.Kill(killRow.ServerPID, syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)

	p, err := local.New(local.Options{StateDir: filepath.Join(h.s.cfg.DataDir, "sessions")})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(Options{Config: h.s.cfg, Store: h.s.store, Provider: p, Mailer: h.mail})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.sessions.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	h2 := *h
	h2.s = s2
	defer s2.closeSessions()
	list := h2.call("POST", "/v3/api/session/list", tok, "{}").want(t, 200)
	if n := len(list.get("result").([]any)); n != 1 || list.str("result", 0, "id") != keep {
		t.Fatalf("after restart: %s", list.Raw)
	}
	h2.call("POST", "/v3/api/session/screenshot", tok, map[string]any{"id": keep}).want(t, 200)
	if r, _ := s2.store.GetSession(context.Background(), kill); r.State != session.StateEnded {
		t.Fatalf("dead desktop is %s, want ended", r.State)
	}
	h2.call("POST", "/v3/api/session/terminate", tok, map[string]any{"id": keep}).want(t, 200)
}
