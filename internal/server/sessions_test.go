package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// openDisplay opens the relay websocket of a connect object and reads the RFB version.
func openDisplay(t *testing.T, h *harness, url string) (*websocket.Conn, func()) {
	t.Helper()
	ts := httptest.NewServer(h.s.Handler())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+url, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		cancel()
		ts.Close()
		t.Fatalf("websocket: %v", err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || !strings.HasPrefix(string(msg), "RFB 003.") {
		t.Fatalf("no RFB greeting through the relay: %q %v", msg, err)
	}
	return c, func() { c.CloseNow(); cancel(); ts.Close() }
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
	tok := h.user("alice", false)

	start := h.call("POST", "/v3/api/session/start", tok, map[string]any{"command": "xterm -title deskhub-test", "geometry": "1024x768",
		"name": "work", "params": map[string]string{"project": "x"}}).want(t, 200)
	id := start.str("result", "id")
	if id == "" || start.str("result", "password") == "" || start.str("result", "windowMode") != "desktop" ||
		start.str("result", "geometry") != "1024x768" || start.get("result", "port") != 18080.0 || !strings.HasPrefix(start.str("result", "url"), "/ws/display/"+id+"?secret=") {
		t.Fatalf("start: %s", start.Raw)
	}

	list := h.call("POST", "/v3/api/session/list", tok, "{}").want(t, 200)
	obj, _ := list.get("result", 0).(map[string]any)
	if obj == nil || obj["id"] != id || obj["display"] == "" || obj["serverPid"].(float64) <= 0 || obj["appPid"].(float64) <= 0 ||
		obj["login"] != "alice" || obj["serverId"] != h.s.ServerID() || obj["state"] != "running" || obj["windowMode"] != "desktop" {
		t.Fatalf("list: %s", list.Raw)
	}
	if obj["params"].(map[string]any)["project"] != "x" || obj["params"].(map[string]any)["name"] != "work" {
		t.Fatalf("params: %v", obj["params"])
	}
	if n := h.call("GET", "/v3/api/session/list/count", tok, nil).want(t, 200).get("result"); n != 1.0 {
		t.Fatalf("count %v", n)
	}

	// Params: set one, delete one with "".
	p := h.call("POST", "/v3/api/session/params", tok, map[string]any{"id": id, "params": map[string]string{"color": "blue", "project": ""}}).want(t, 200)
	if p.get("result", "color") != "blue" || p.get("result", "project") != nil {
		t.Fatalf("params: %s", p.Raw)
	}

	// Screenshot, scaled without and with keeping the aspect.
	shot := h.call("POST", "/v3/api/session/screenshot", tok, map[string]any{"id": id, "width": 320, "height": 320, "keep_aspect": 0}).want(t, 200)
	if b := decodeDataURL(t, shot.str("result", "src")).Bounds(); b.Dx() != 320 || b.Dy() != 320 {
		t.Fatalf("screenshot %v", b)
	}
	shot = h.call("POST", "/v3/api/session/screenshot", tok, map[string]any{"id": id, "geometry": "512x512", "format": "jpeg"}).want(t, 200)
	if !strings.HasPrefix(shot.str("result", "src"), "data:image/jpeg;base64,") {
		t.Fatal("not jpeg")
	}
	if b := decodeDataURL(t, shot.str("result", "src")).Bounds(); b.Dx() != 512 || b.Dy() != 384 {
		t.Fatalf("keep-aspect screenshot %v, want 512x384", b)
	}

	// Exec runs a program in the display.
	if pid := h.call("POST", "/v3/api/session/exec", tok, map[string]any{"id": id, "command": "xclock"}).want(t, 200).get("result", "pid"); pid.(float64) <= 0 {
		t.Fatalf("exec pid %v", pid)
	}
	h.call("POST", "/v3/api/session/exec", tok, map[string]any{"id": id, "command": "no-such-program-xyz"}).wantErr(t, 400, "command")

	// The display relay: the one-time secret opens the screen once.
	ws, done := openDisplay(t, h, start.str("result", "url"))
	waitFor(t, "clients=1", func() bool {
		return h.call("POST", "/v3/api/session/list", tok, "{}").get("result", 0, "clients") == 1.0
	})
	if h.call("POST", "/v3/api/session/list", tok, "{}").get("result", 0, "lastConnect") == nil {
		t.Fatal("lastConnect not recorded")
	}
	ts := httptest.NewServer(h.s.Handler())
	defer ts.Close()
	if _, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+start.str("result", "url"), nil); err == nil {
		t.Fatal("a used one-time secret opened the display again")
	}
	// disconnect drops the client.
	h.call("POST", "/v3/api/session/disconnect", tok, map[string]any{"id": id}).want(t, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			break
		}
	}
	done()
	waitFor(t, "lastDisconnect", func() bool {
		return h.call("POST", "/v3/api/session/list", tok, "{}").get("result", 0, "lastDisconnect") != nil
	})
	// connect hands out a fresh secret.
	c2 := h.call("POST", "/v3/api/session/connect", tok, map[string]any{"id": id}).want(t, 200)
	_, done2 := openDisplay(t, h, c2.str("result", "url"))
	done2()

	log := h.call("POST", "/v3/api/session/log", tok, map[string]any{"id": id}).want(t, 200)
	if log.str("result", "id") != id {
		t.Fatalf("log: %s", log.Raw)
	}

	// Terminate: gone from the list, its screenshot refused.
	h.call("POST", "/v3/api/session/terminate", tok, map[string]any{"id": id}).want(t, 200)
	if n := len(h.call("POST", "/v3/api/session/list", tok, "{}").get("result").([]any)); n != 0 {
		t.Fatalf("%d sessions after terminate", n)
	}
	h.call("POST", "/v3/api/session/screenshot", tok, map[string]any{"id": id}).wantErr(t, 409, "ended")
	h.call("POST", "/v3/api/session/terminate", tok, map[string]any{"id": id}).wantErr(t, 409, "ended")
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
