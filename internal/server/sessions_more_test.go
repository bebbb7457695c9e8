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
	"github.com/deskhub/deskhub/client"
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
	a := h.client(h.user("ann", false))
	b := h.client(h.user("ben", false))
	ctx := context.Background()
	start := func(c *client.Client, req fastx.StartRequest) error {
		_, err := c.StartSession(ctx, req)
		return err
	}
	before := x11Sockets(t)
	for _, g := range []string{"0x0", "99999x99999", "abc", "1024x", "-5x10"} {
		wantErr(t, start(a, fastx.StartRequest{Command: "xterm", Geometry: g}), 400, "geometry")
	}
	wantErr(t, start(a, fastx.StartRequest{Command: "no-such-program-xyz"}), 400, "command")
	wantErr(t, start(a, fastx.StartRequest{Command: "xterm 'unclosed"}), 400, "quote")
	wantErr(t, start(a, fastx.StartRequest{Command: ""}), 400, "empty")
	wantErr(t, start(a, fastx.StartRequest{Command: "xterm", ID: "../../etc"}), 400, "id")
	if rows, _ := h.s.store.ListSessions(context.Background(), store.SessionFilter{}); len(rows) != 0 {
		t.Fatalf("refused starts left %d rows", len(rows))
	}
	if n := x11Sockets(t); n != before {
		t.Fatalf("refused starts left X servers: %d sockets, were %d", n, before)
	}

	conn, err := a.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	id := conn.ID
	// The per-user limit.
	wantErr(t, start(a, fastx.StartRequest{Command: "xterm"}), 429, "most allowed")
	// Another user's session answers exactly like an unknown one.
	calls := map[string]func(id string) error{
		"connect":    func(id string) error { _, err := b.ConnectSession(ctx, id, nil); return err },
		"disconnect": func(id string) error { return b.DisconnectSession(ctx, id) },
		"terminate":  func(id string) error { return b.TerminateSession(ctx, id) },
		"log":        func(id string) error { _, err := b.SessionLog(ctx, id); return err },
		"screenshot": func(id string) error { _, err := b.Screenshot(ctx, fastx.ScreenshotRequest{ID: id}); return err },
		"params":     func(id string) error { _, err := b.SetSessionParams(ctx, id, nil); return err },
	}
	for path, call := range calls {
		theirs := wantErr(t, call(id), 404, "")
		unknown := wantErr(t, call("nope"), 404, "")
		if strings.ReplaceAll(theirs.Message, id, "nope") != unknown.Message {
			t.Errorf("%s: another's session %q vs unknown %q", path, theirs.Message, unknown.Message)
		}
	}
	if list, err := b.ListSessions(ctx, fastx.ListRequest{}); err != nil || len(list) != 0 {
		t.Fatalf("ben sees ann's session: %v, %v", list, err)
	}
	_, err = a.ListSessions(ctx, fastx.ListRequest{Filter: []string{"bad filter"}})
	wantErr(t, err, 400, "filter")
	_, err = a.Screenshot(ctx, fastx.ScreenshotRequest{ID: id, Format: "gif"})
	wantErr(t, err, 400, "format")
	must(t, a.TerminateSession(ctx, id))
}

func TestSharingViewOnly(t *testing.T) {
	h := desktopHarness(t)
	owner := h.client(h.user("olga", false))
	guest := h.client(h.user("gus", false))
	anon := h.client("")
	ctx := context.Background()
	conn, err := owner.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	id := conn.ID
	conn, err = guest.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	other := conn.ID

	keys, err := owner.EditShare(ctx, fastx.ShareEditRequest{ID: id, Perms: []string{"viewer"}})
	must(t, err)
	if len(keys) == 0 || keys[0].Key == "" || len(keys[0].Perms) == 0 || keys[0].Perms[0] != "viewer" {
		t.Fatalf("share/edit: %+v", keys)
	}
	viewKey := keys[0].Key
	grant, err := owner.EditShare(ctx, fastx.ShareEditRequest{ID: id, Perms: []string{"granter"}})
	must(t, err)
	var grantKey string
	for _, k := range grant {
		if k.Key != viewKey {
			grantKey = k.Key
		}
	}
	// A granter creates viewer keys, and only those.
	granter := guest.WithShareKey(grantKey)
	_, err = granter.EditShare(ctx, fastx.ShareEditRequest{ID: id, Perms: []string{"viewer"}})
	must(t, err)
	_, err = granter.EditShare(ctx, fastx.ShareEditRequest{ID: id, Perms: []string{"granter"}})
	wantErr(t, err, 403, "only")
	_, err = guest.EditShare(ctx, fastx.ShareEditRequest{ID: id, Perms: []string{"viewer"}})
	wantErr(t, err, 404, "")
	if keys, err := owner.ListShares(ctx, id); err != nil || len(keys) != 3 {
		t.Fatalf("%d keys (%v)", len(keys), err)
	}
	_, err = guest.ListShares(ctx, id)
	wantErr(t, err, 404, "")
	// A key works for its own session only.
	_, err = anon.ConnectShare(ctx, other, viewKey)
	wantErr(t, err, 404, "no share key")
	view, err := anon.ConnectShare(ctx, id, viewKey)
	must(t, err)
	ws, done := openDisplay(t, anon, view)
	defer done()
	waitFor(t, "viewer connected", func() bool { return h.s.relay.Clients(id) == 1 })
	// share/reset of viewer keys drops the viewer at once.
	_, err = owner.ResetShares(ctx, id, "viewer")
	must(t, err)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(rctx); err != nil {
			break
		}
	}
	if keys, err := owner.ListShares(ctx, id); err != nil || len(keys) != 1 {
		t.Fatalf("%d keys left after resetting viewers, want the granter key (%v)", len(keys), err)
	}
	_, err = anon.ConnectShare(ctx, id, viewKey)
	wantErr(t, err, 404, "")
	_, err = owner.DeleteShare(ctx, id, grantKey)
	must(t, err)
	_, err = owner.DeleteShare(ctx, id, grantKey)
	wantErr(t, err, 404, "")
	// share/email makes a key and mails its link.
	_, err = owner.EmailShare(ctx, fastx.ShareEmailRequest{ID: id, Email: "friend@example.org"})
	must(t, err)
	if h.mail.Count("friend@example.org") != 1 {
		t.Fatal("no invitation mailed")
	}
	_, err = owner.ResetShares(ctx, id)
	must(t, err)
}

func TestBookmarksShortcutsSchedule(t *testing.T) {
	h := desktopHarness(t)
	c := h.client(h.user("bea", false))
	ctx := context.Background()
	list, err := c.ListBookmarks(ctx)
	must(t, err)
	if len(list.Suggestions) == 0 {
		t.Fatalf("no suggestions: %+v", list)
	}
	_, err = c.EditBookmark(ctx, fastx.Bookmark{ID: "term", Command: "xterm -title bm", Name: "My terminal", Geometry: "800x600", Tags: []string{"dev"}})
	must(t, err)
	_, err = c.EditBookmark(ctx, fastx.Bookmark{ID: "bad", Command: "xterm", Geometry: "1x"})
	wantErr(t, err, 400, "geometry")
	started, err := c.StartBookmark(ctx, "term")
	must(t, err)
	if started.Geometry != "800x600" {
		t.Fatalf("bookmark start: %+v", started)
	}
	// shortcut connects to the running session started from the bookmark instead of starting another.
	s2, err := c.Shortcut(ctx, "term")
	must(t, err)
	if s2.ID != started.ID {
		t.Fatal("shortcut started a second session")
	}
	l, err := c.ListBookmarks(ctx)
	must(t, err)
	if len(l.History) == 0 || len(l.Bookmarks) != 1 {
		t.Fatalf("bookmark list: %+v", l)
	}
	_, err = c.DeleteBookmark(ctx, "term")
	must(t, err)
	_, err = c.DeleteBookmark(ctx, "term")
	wantErr(t, err, 404, "")
	_, err = c.StartBookmark(ctx, "term")
	wantErr(t, err, 404, "")

	// A schedule in the near future starts on time.
	sch, err := c.ScheduleSession(ctx, fastx.ScheduleRequest{Command: "xterm", At: time.Now().Add(300 * time.Millisecond).UTC(), Name: "later"})
	must(t, err)
	waitFor(t, "scheduled session running", func() bool {
		r, err := h.s.store.GetSession(context.Background(), sch.ID)
		return err == nil && r.State == session.StateRunning
	})
}

func TestSystemViews(t *testing.T) {
	h := desktopHarness(t)
	admin := h.client(h.user("root", true))
	u := h.client(h.user("uma", false))
	ctx := context.Background()
	_, err := u.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	_, err = u.SystemSessions(ctx, fastx.ListRequest{})
	wantErr(t, err, 403, "")
	all, err := admin.SystemSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(all) != 1 {
		t.Fatalf("admin sees %d sessions", len(all))
	}
	if n, err := admin.SystemSessionCount(ctx, "login==uma"); err != nil || n != 1 {
		t.Fatalf("count %v, %v", n, err)
	}
	srv, err := admin.SystemServers(ctx)
	must(t, err)
	if len(srv) == 0 || srv[0].CPUs < 1 || srv[0].TotalMemory <= 0 || srv[0].Sessions != 1 || srv[0].Uptime <= 0 {
		t.Fatalf("server list: %+v", srv)
	}
	prof, err := u.SessionProfile(ctx)
	must(t, err)
	if prof.Sessions != 1 || prof.Login != "uma" {
		t.Fatalf("profile: %+v", prof)
	}
}

// TestRestartAdoptsDesktops: a new server on the same store adopts running desktops with their ids, and
// marks those whose processes died as ended.
func TestRestartAdoptsDesktops(t *testing.T) {
	h := desktopHarness(t)
	tok := h.user("rita", false)
	ctx := context.Background()
	keep, err := h.client(tok).StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	kill, err := h.client(tok).StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	killRow, _ := h.s.store.GetSession(context.Background(), kill.ID)
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
	c2 := h2.client(tok) // talks to s2
	list, err := c2.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(list) != 1 || list[0].ID != keep.ID {
		t.Fatalf("after restart: %+v", list)
	}
	_, err = c2.Screenshot(ctx, fastx.ScreenshotRequest{ID: keep.ID})
	must(t, err)
	if r, _ := s2.store.GetSession(context.Background(), kill.ID); r.State != session.StateEnded {
		t.Fatalf("dead desktop is %s, want ended", r.State)
	}
	must(t, c2.TerminateSession(ctx, keep.ID))
}
