package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/internal/config"
)

// TestEventStreamRoutes checks event.subscribe and event.auth through the broker: bad and reused
// stream ids, binding rules, the websocket form on the same path, and unbound streams being closed.
func TestEventStreamRoutes(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Infra.StreamBindTimeout = time.Second })
	ts := httptest.NewServer(h.s.Handler())
	defer ts.Close()
	defer h.s.closeInfra()
	alice := h.user("alice", false)
	bob := h.user("bob", false)

	h.call("GET", "/api/v1/event.subscribe?stream=bad%20id", "", nil).wantErr(t, 400, "stream")
	h.call("POST", "/api/v1/event.subscribe", "", map[string]any{}).wantErr(t, 400, "stream")
	h.call("POST", "/api/v1/event.auth", alice, map[string]any{"stream": "0b7c6a7e-0000-4000-8000-00000000dead"}).wantErr(t, 404, "no open stream")
	h.call("POST", "/api/v1/event.auth", "", map[string]any{"stream": "0b7c6a7e-0000-4000-8000-00000000dead"}).want(t, 401)

	// A websocket on the same path: open, bound, and bob cannot take alice's stream.
	id := h.call("POST", "/api/v1/config.get", "", nil).want(t, 200).str("data", "attributes", "stream")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(ts.URL, "http", "ws", 1)+"/api/v1/event.subscribe?stream="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() string {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if m := read(); !strings.Contains(m, `"event":"open"`) {
		t.Fatalf("first message %s", m)
	}
	resp, err := http.Get(ts.URL + "/api/v1/event.subscribe?stream=" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 409 {
		t.Fatalf("second subscriber on an open stream: %d", resp.StatusCode)
	}
	h.call("POST", "/api/v1/event.auth", alice, map[string]any{"stream": id}).want(t, 200)
	if m := read(); !strings.Contains(m, `"event":"bound"`) {
		t.Fatalf("after event.auth: %s", m)
	}
	h.call("POST", "/api/v1/event.auth", bob, map[string]any{"stream": id}).wantErr(t, 409, "another user")
	h.call("POST", "/api/v1/event.auth", alice, map[string]any{"stream": id}).want(t, 200)

	// An unbound stream is closed after the bind timeout.
	id2 := h.call("POST", "/api/v1/config.get", "", nil).want(t, 200).str("data", "attributes", "stream")
	start := time.Now()
	resp, err = http.Get(ts.URL + "/api/v1/event.subscribe?stream=" + id2)
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	_, _ = io.Copy(body, resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "event: close") || !strings.Contains(body.String(), "bind timeout") {
		t.Fatalf("unbound stream ended with %q", body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("unbound stream closed after %s, before the bind timeout", d)
	}
}
