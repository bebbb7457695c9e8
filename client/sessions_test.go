package client_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// startDesktop starts an xterm desktop for c and terminates it after the test.
func startDesktop(t *testing.T, c *client.Client) fastx.Connect {
	t.Helper()
	xtest.Ensure(t)
	ctx := context.Background()
	conn, err := c.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: "800x600", Name: "sdk-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateSession(context.Background(), conn.ID) })
	return conn
}

// greeting reads the RFB greeting through the display websocket of conn.
func greeting(t *testing.T, c *client.Client, conn fastx.Connect) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rfb, err := c.DialDisplay(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer rfb.Close()
	_ = rfb.SetReadDeadline(time.Now().Add(15 * time.Second))
	b := make([]byte, 12)
	if _, err := io.ReadFull(rfb, b); err != nil || !bytes.HasPrefix(b, []byte("RFB 003.")) {
		t.Fatalf("RFB greeting: %q, %v", b, err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	c := login(t, "bob", bobPW)
	conn := startDesktop(t, c)
	if conn.ID == "" || conn.Password == "" || !strings.HasPrefix(conn.URL, "/ws/display/") {
		t.Fatalf("connect object: %+v", conn)
	}
	greeting(t, c, conn)
	// The one-time password is spent.
	if _, err := c.DialDisplay(ctx, conn); client.StatusCode(err) != 401 {
		t.Fatalf("second dial with the same connect object: %v", err)
	}

	list, err := c.ListSessions(ctx, fastx.ListRequest{Filter: []string{"id==" + conn.ID}})
	if err != nil || len(list) != 1 || list[0].Name != "sdk-test" || list[0].Login != "bob" {
		t.Fatalf("ListSessions: %+v, %v", list, err)
	}
	if n, err := c.CountSessions(ctx); err != nil || n < 1 {
		t.Fatalf("CountSessions: %d, %v", n, err)
	}
	params, err := c.SetSessionParams(ctx, conn.ID, fastx.Params{"color": "blue"})
	if err != nil || params["color"] != "blue" {
		t.Fatalf("SetSessionParams: %v, %v", params, err)
	}
	again, err := c.ConnectSession(ctx, conn.ID, nil)
	if err != nil || again.Password == conn.Password || again.Params["color"] != "blue" {
		t.Fatalf("ConnectSession: %+v, %v", again, err)
	}
	greeting(t, c, again)
	if err := c.DisconnectSession(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Exec(ctx, fastx.ExecRequest{ID: conn.ID, Command: "true"}); err != nil || res.Pid == 0 {
		t.Fatalf("Exec: %+v, %v", res, err)
	}
	if lg, err := c.SessionLog(ctx, conn.ID); err != nil || lg.ID != conn.ID {
		t.Fatalf("SessionLog: %+v, %v", lg, err)
	}
	shot, err := c.Screenshot(ctx, fastx.ScreenshotRequest{ID: conn.ID, Width: 200, Height: 150})
	if err != nil {
		t.Fatal(err)
	}
	mt, png, err := client.DecodeDataURL(shot.Src)
	if err != nil || mt != "image/png" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %s, %d bytes, %v", mt, len(png), err)
	}

	// Another account sees nothing of it: 404 on the session surface.
	other := login(t, "carol", "carol-password-1")
	e := wantStatus(t, "carol's SessionLog of bob's session", func() error { _, err := other.SessionLog(ctx, conn.ID); return err }(),
		client.SurfaceSession, 404)
	if e.Name != "NotFound" {
		t.Errorf("error name %q, want NotFound", e.Name)
	}

	if err := c.TerminateSession(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectSession(ctx, conn.ID, nil); err == nil {
		t.Fatal("ConnectSession after TerminateSession succeeded")
	}
}

func TestScheduleAndBookmarks(t *testing.T) {
	ctx := context.Background()
	c := login(t, "carol", "carol-password-1")
	cfg, err := c.SessionConfig(ctx)
	if err != nil || cfg.Version != 3 {
		t.Fatalf("SessionConfig: %+v, %v", cfg, err)
	}
	if x, err := c.XrdpConfig(ctx); err != nil || x.Geometry == "" {
		t.Fatalf("XrdpConfig: %+v, %v", x, err)
	}
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	sc, err := c.ScheduleSession(ctx, fastx.ScheduleRequest{Command: "xterm", At: at})
	if err != nil || sc.ID == "" || !sc.At.Equal(at) {
		t.Fatalf("ScheduleSession: %+v, %v", sc, err)
	}
	bl, err := c.EditBookmark(ctx, fastx.Bookmark{ID: "term", Command: "xterm", Name: "Terminal", Geometry: "640x480"})
	if err != nil || len(bl.Bookmarks) != 1 || bl.Bookmarks[0].Name != "Terminal" {
		t.Fatalf("EditBookmark: %+v, %v", bl, err)
	}
	if bl, err = c.ListBookmarks(ctx); err != nil || len(bl.Bookmarks) != 1 {
		t.Fatalf("ListBookmarks: %+v, %v", bl, err)
	}
	if bl, err = c.DeleteBookmark(ctx, "term"); err != nil || len(bl.Bookmarks) != 0 {
		t.Fatalf("DeleteBookmark: %+v, %v", bl, err)
	}
	// A bad request names the member at fault.
	_, err = c.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: "huge"})
	if e := wantStatus(t, "StartSession with a bad geometry", err, client.SurfaceSession, 400); !strings.Contains(e.Message, "geometry") {
		t.Errorf("message %q does not name geometry", e.Message)
	}
}

func TestBookmarkStartAndShortcut(t *testing.T) {
	xtest.Ensure(t)
	ctx := context.Background()
	c := login(t, "carol", "carol-password-1")
	if _, err := c.EditBookmark(ctx, fastx.Bookmark{ID: "sc", Command: "xterm", Geometry: "640x480"}); err != nil {
		t.Fatal(err)
	}
	first, err := c.Shortcut(ctx, "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateSession(context.Background(), first.ID) })
	second, err := c.Shortcut(ctx, "sc")
	if err != nil || second.ID != first.ID {
		t.Fatalf("Shortcut again: %+v, %v (want session %s)", second, err, first.ID)
	}
	fromBookmark, err := c.StartBookmark(ctx, "sc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateSession(context.Background(), fromBookmark.ID) })
	if fromBookmark.ID == first.ID || fromBookmark.Geometry != "640x480" {
		t.Fatalf("StartBookmark: %+v", fromBookmark)
	}
}

func TestSystemViews(t *testing.T) {
	ctx := context.Background()
	admin, bob := login(t, "alice", alicePW), login(t, "bob", bobPW)
	if ok, err := admin.IsAdmin(ctx); !ok || err != nil {
		t.Fatalf("IsAdmin(alice): %v, %v", ok, err)
	}
	if err := admin.Keepalive(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := bob.SessionProfile(ctx); err != nil || p.Login != "bob" {
		t.Fatalf("SessionProfile: %+v, %v", p, err)
	}
	if _, err := admin.SystemSessionCount(ctx, "login==bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SystemSessions(ctx, fastx.ListRequest{}); err != nil {
		t.Fatal(err)
	}
	if servers, err := admin.SystemServers(ctx); err != nil || len(servers) == 0 || servers[0].CPUs == 0 {
		t.Fatalf("SystemServers: %+v, %v", servers, err)
	}
	_, err := bob.SystemServers(ctx)
	wantStatus(t, "SystemServers as bob", err, client.SurfaceSession, 403)

	// Logout revokes the token.
	tok := bob.Token()
	if err := bob.Logout(ctx); err != nil || bob.Token() != "" {
		t.Fatalf("Logout: %v, token %q", err, bob.Token())
	}
	bob.SetToken(tok)
	_, err = bob.UserProfile(ctx)
	wantStatus(t, "UserProfile after Logout", err, client.SurfaceSession, 401)
}
