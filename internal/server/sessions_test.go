package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// Desktop sessions end to end: a real Xvnc + openbox + xterm per session, started through the session
// surface, reached through the display relay's websocket.

func desktopHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	xtest.Ensure(t)
	dir := xtest.StateDir(t) // traversable by the desktops' Unix users
	opts = append([]harnessOpt{func(c *config.Config, _ *Options) { c.DataDir = dir }}, opts...)
	h := newHarness(t, opts...)
	t.Cleanup(func() {
		// Stop every desktop the test left behind.
		rows, _ := h.s.store.ListSessions(context.Background(), storeRunning)
		for _, r := range rows {
			_ = h.s.prov.Stop(context.Background(), r.ID)
		}
		h.s.closeSessions()
	})
	if err := h.s.sessions.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// openDisplay opens the relay websocket of a connect object with c and reads the RFB version.
func openDisplay(t *testing.T, c *client.Client, conn fastx.Connect) (*websocket.Conn, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ws, err := c.DialDisplayWebSocket(ctx, conn)
	if err != nil {
		cancel()
		t.Fatalf("websocket: %v", err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil || !strings.HasPrefix(string(msg), "RFB 003.") {
		t.Fatalf("no RFB greeting through the relay: %q %v", msg, err)
	}
	return ws, func() { ws.CloseNow(); cancel() }
}

func decodeDataURL(t *testing.T, src string) image.Image {
	t.Helper()
	_, b64, ok := strings.Cut(src, ";base64,")
	if !ok {
		t.Fatalf("not a data URL: %.40s", src)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestSessionLifecycle(t *testing.T) {
	h := desktopHarness(t)
	c := h.client(h.user("alice", false))
	ctx := context.Background()

	start, err := c.StartSession(ctx, fastx.StartRequest{Command: "xterm -title deskhub-test", Geometry: "1024x768",
		Name: "work", Params: fastx.Params{"project": "x"}})
	must(t, err)
	id := start.ID
	if id == "" || start.Password == "" || start.WindowMode != "desktop" ||
		start.Geometry != "1024x768" || start.Port != 18080 || !strings.HasPrefix(start.URL, "/ws/display/"+id+"?secret=") {
		t.Fatalf("start: %+v", start)
	}

	list, err := c.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(list) == 0 {
		t.Fatal("list: no session")
	}
	obj := list[0]
	if obj.ID != id || obj.Display == "" || obj.ServerPid <= 0 || obj.AppPid <= 0 ||
		obj.Login != "alice" || obj.ServerID != h.s.ServerID() || obj.State != "running" || obj.WindowMode != "desktop" {
		t.Fatalf("list: %+v", list)
	}
	if obj.Params["project"] != "x" || obj.Params["name"] != "work" {
		t.Fatalf("params: %v", obj.Params)
	}
	if n, err := c.CountSessions(ctx); err != nil || n != 1 {
		t.Fatalf("count %v, %v", n, err)
	}

	// Params: set one, delete one with "".
	p, err := c.SetSessionParams(ctx, id, fastx.Params{"color": "blue", "project": ""})
	must(t, err)
	if _, has := p["project"]; p["color"] != "blue" || has {
		t.Fatalf("params: %v", p)
	}

	// Screenshot, scaled without and with keeping the aspect.
	noAspect := 0
	shot, err := c.Screenshot(ctx, fastx.ScreenshotRequest{ID: id, Width: 320, Height: 320, KeepAspect: &noAspect})
	must(t, err)
	if b := decodeDataURL(t, shot.Src).Bounds(); b.Dx() != 320 || b.Dy() != 320 {
		t.Fatalf("screenshot %v", b)
	}
	shot, err = c.Screenshot(ctx, fastx.ScreenshotRequest{ID: id, Geometry: "512x512", Format: "jpeg"})
	must(t, err)
	if !strings.HasPrefix(shot.Src, "data:image/jpeg;base64,") {
		t.Fatal("not jpeg")
	}
	if b := decodeDataURL(t, shot.Src).Bounds(); b.Dx() != 512 || b.Dy() != 384 {
		t.Fatalf("keep-aspect screenshot %v, want 512x384", b)
	}

	// Exec runs a program in the display.
	if r, err := c.Exec(ctx, fastx.ExecRequest{ID: id, Command: "xclock"}); err != nil || r.Pid <= 0 {
		t.Fatalf("exec pid %v, %v", r.Pid, err)
	}
	_, err = c.Exec(ctx, fastx.ExecRequest{ID: id, Command: "no-such-program-xyz"})
	wantErr(t, err, 400, "command")

	// session0 answers the first session of the list.
	session0 := func() fastx.Session {
		list, err := c.ListSessions(ctx, fastx.ListRequest{})
		if err != nil || len(list) == 0 {
			t.Fatalf("list: %v, %v", list, err)
		}
		return list[0]
	}
	// The display relay: the one-time secret opens the screen once.
	ws, done := openDisplay(t, c, start)
	waitFor(t, "clients=1", func() bool { return session0().Clients == 1 })
	if session0().LastConnect == nil {
		t.Fatal("lastConnect not recorded")
	}
	if _, err := c.DialDisplayWebSocket(ctx, start); err == nil {
		t.Fatal("a used one-time secret opened the display again")
	}
	// disconnect drops the client.
	must(t, c.DisconnectSession(ctx, id))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(rctx); err != nil {
			break
		}
	}
	done()
	waitFor(t, "lastDisconnect", func() bool { return session0().LastDisconnect != nil })
	// connect hands out a fresh secret.
	c2, err := c.ConnectSession(ctx, id, nil)
	must(t, err)
	_, done2 := openDisplay(t, c, c2)
	done2()

	log, err := c.SessionLog(ctx, id)
	must(t, err)
	if log.ID != id {
		t.Fatalf("log: %+v", log)
	}

	// Terminate: gone from the list, its screenshot refused.
	must(t, c.TerminateSession(ctx, id))
	if list, err := c.ListSessions(ctx, fastx.ListRequest{}); err != nil || len(list) != 0 {
		t.Fatalf("%d sessions after terminate (%v)", len(list), err)
	}
	_, err = c.Screenshot(ctx, fastx.ScreenshotRequest{ID: id})
	wantErr(t, err, 409, "ended")
	wantErr(t, c.TerminateSession(ctx, id), 409, "ended")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	waitWithin(t, 10*time.Second, what, ok)
}

// waitWithin polls ok until it holds, failing the test after timeout.
func waitWithin(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
