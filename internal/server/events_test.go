package server

import (
	"context"
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
	alice := h.client(h.user("alice", false))
	bob := h.client(h.user("bob", false))
	anon := h.client("")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := anon.OpenEventStream(ctx, "bad id")
	wantErr(t, err, 400, "stream")
	// The POST form without a stream stays a raw call: the SDK subscribes by GET only.
	h.call("POST", "/api/v1/event.subscribe", "", map[string]any{}).wantErr(t, 400, "stream")
	wantErr(t, alice.AuthEventStream(ctx, "0b7c6a7e-0000-4000-8000-00000000dead"), 404, "no open stream")
	wantErr(t, anon.AuthEventStream(ctx, "0b7c6a7e-0000-4000-8000-00000000dead"), 401, "")

	// A websocket on the same path (raw: the SDK reads the server-sent events form): open, bound, and
	// bob cannot take alice's stream.
	cfg, err := anon.InfraConfig(ctx)
	must(t, err)
	id := cfg.Stream
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
	_, err = anon.OpenEventStream(ctx, id)
	wantErr(t, err, 409, "")
	must(t, alice.AuthEventStream(ctx, id))
	if m := read(); !strings.Contains(m, `"event":"bound"`) {
		t.Fatalf("after event.auth: %s", m)
	}
	wantErr(t, bob.AuthEventStream(ctx, id), 409, "another user")
	must(t, alice.AuthEventStream(ctx, id))

	// An unbound stream is closed after the bind timeout.
	cfg, err = anon.InfraConfig(ctx)
	must(t, err)
	start := time.Now()
	es, err := anon.OpenEventStream(ctx, cfg.Stream)
	must(t, err)
	defer es.Close()
	for es.Closed() == "" {
		if _, err := es.Next(ctx); err != nil {
			t.Fatalf("unbound stream ended without a close message: %v", err)
		}
	}
	if !strings.Contains(es.Closed(), "bind timeout") {
		t.Fatalf("unbound stream closed with %q", es.Closed())
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("unbound stream closed after %s, before the bind timeout", d)
	}
}
