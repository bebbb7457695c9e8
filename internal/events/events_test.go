package events

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testEvent(typ, id string) vmm.Event {
	return vmm.Event{
		Type: typ, RequestID: "req-" + id, Status: "success", Resource: "instances", ResourceID: id,
		Data: json.RawMessage(`{"name":"` + id + `"}`), Provider: "internal", Time: time.Now().UTC().Truncate(time.Microsecond),
	}
}

func TestSSEDelivery(t *testing.T) {
	ts := newTestServer(t, Options{})

	// Headers and the open event.
	id := newID()
	alice := ts.openSSE(t, id)
	for k, want := range map[string]string{"Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := alice.resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	open := decodeJSON(t, alice.expect(t, "open").Data)
	if open["stream"] != id || open["bind_timeout"] != 30.0 {
		t.Errorf("open data = %v", open)
	}

	// Nothing is delivered before the stream is bound, not even to an audience naming its user.
	if n := ts.hub.Publish(testEvent("instance", "early"), Audience{Users: []int64{1}}); n != 0 {
		t.Errorf("Publish to unbound stream queued on %d streams", n)
	}
	if err := ts.hub.Bind(id, 1, false); err != nil {
		t.Fatal(err)
	}
	bound := decodeJSON(t, alice.expect(t, "bound").Data)
	if bound["stream"] != id || bound["user_id"] != 1.0 {
		t.Errorf("bound data = %v", bound)
	}
	bob, _ := ts.openAndBind(t, 2, false)
	admin, _ := ts.openAndBind(t, 9, true)
	if n := ts.hub.Streams(); n != 3 {
		t.Errorf("Streams() = %d, want 3", n)
	}

	// An event for alice reaches alice and the admin, not bob.
	ev := testEvent("operation", "a1")
	if n := ts.hub.Publish(ev, Audience{Users: []int64{1, 1}}); n != 2 {
		t.Errorf("Publish queued on %d streams, want 2 (alice, admin)", n)
	}
	got := alice.expect(t, "operation")
	if got.ID != "1" {
		t.Errorf("first event id = %q, want 1", got.ID)
	}
	if g := decodeEvent(t, got.Data); !g.Time.Equal(ev.Time) || g.ResourceID != "a1" || string(g.Data) != string(ev.Data) ||
		g.RequestID != ev.RequestID || g.Provider != ev.Provider || g.Status != ev.Status {
		t.Errorf("alice got %+v, want %+v", g, ev)
	}
	if g := decodeEvent(t, admin.expect(t, "operation").Data); g.ResourceID != "a1" {
		t.Errorf("admin got %+v", g)
	}

	// An event for bob: bob's first event is his own (alice's never reached him).
	if n := ts.hub.Publish(testEvent("instance", "b1"), Audience{Users: []int64{2, 3}}); n != 2 {
		t.Errorf("Publish queued on %d streams, want 2 (bob, admin)", n)
	}
	got = bob.expect(t, "instance")
	if g := decodeEvent(t, got.Data); g.ResourceID != "b1" || got.ID != "1" {
		t.Errorf("bob got id %s %+v", got.ID, g)
	}
	got = admin.expect(t, "instance")
	if g := decodeEvent(t, got.Data); g.ResourceID != "b1" || got.ID != "2" {
		t.Errorf("admin got id %s %+v", got.ID, g)
	}
	// An admin-only event.
	ts.hub.Publish(testEvent("server", "s1"), Audience{})
	admin.expect(t, "server")
	alice.quiet(t, 50*time.Millisecond)
	bob.quiet(t, 0)

	// An event type cannot break the SSE framing.
	ts.hub.Publish(testEvent("evil\nevent: x\n", "e1"), Audience{Users: []int64{1}})
	if got := alice.next(t); got.Name != "evilevent: x" || decodeEvent(t, got.Data).ResourceID != "e1" {
		t.Errorf("evil event arrived as %+v", got)
	}
}

func TestBindTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, Options{BindTimeout: 100 * time.Millisecond, Registerer: reg})
	id := newID()
	c := ts.openSSE(t, id)
	if got := decodeJSON(t, c.expect(t, "open").Data)["bind_timeout"]; got != 0.1 {
		t.Errorf("bind_timeout = %v", got)
	}
	if got := decodeJSON(t, c.expect(t, "close").Data)["reason"]; got != "bind timeout" {
		t.Errorf("close reason = %v", got)
	}
	c.expectEnd(t)
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v", err)
	}
	if n := ts.hub.Streams(); n != 0 {
		t.Errorf("Streams() = %d", n)
	}
	if err := ts.hub.Bind(id, 1, false); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("Bind after timeout: %v", err)
	}
	if got := testutil.ToFloat64(ts.hub.m.drops.WithLabelValues("bind_timeout")); got != 1 {
		t.Errorf("bind_timeout drops = %v", got)
	}
	if got := testutil.ToFloat64(ts.hub.m.streams); got != 0 {
		t.Errorf("deskhub_event_streams = %v", got)
	}

	// A stream bound in time stays open past the timeout.
	c2, _ := ts.openAndBind(t, 1, false)
	c2.quiet(t, 250*time.Millisecond)
	if n := ts.hub.Streams(); n != 1 {
		t.Errorf("Streams() = %d after a bound stream outlived the bind timeout", n)
	}
}

func TestBindErrors(t *testing.T) {
	ts := newTestServer(t, Options{})
	if err := ts.hub.Bind("no-such-stream", 1, false); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("Bind unknown: %v", err)
	}
	_, id := ts.openAndBind(t, 1, false)
	if err := ts.hub.Bind(id, 2, false); !errors.Is(err, ErrBoundElsewhere) {
		t.Errorf("Bind to another user: %v", err)
	}
	if err := ts.hub.Bind(id, 2, true); !errors.Is(err, ErrBoundElsewhere) {
		t.Errorf("Bind to another admin: %v", err)
	}
	if err := ts.hub.Bind(id, 1, false); err != nil {
		t.Errorf("Bind again to the same user: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ts := newTestServer(t, Options{})
	id := newID()
	c := ts.openSSE(t, id)
	c.expect(t, "open")

	if _, status := ts.tryOpenSSE(t, id); status != http.StatusConflict {
		t.Errorf("second open of %s: status %d, want 409", id, status)
	}
	if _, status := ts.tryOpenSSE(t, "short"); status != http.StatusBadRequest {
		t.Errorf("open with a bad id: status %d, want 400", status)
	}
	// The first stream is unaffected.
	if err := ts.hub.Bind(id, 1, false); err != nil {
		t.Fatal(err)
	}
	c.expect(t, "bound")

	// Errors come before anything is written, so the caller can answer them.
	for _, tc := range []struct {
		id   string
		want error
		ws   bool
	}{
		{id, ErrStreamInUse, false}, {id, ErrStreamInUse, true}, {"bad id!", ErrBadStreamID, false}, {"", ErrBadStreamID, true},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/events", nil)
		if tc.ws {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
		}
		if err := ts.hub.Serve(rec, req, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Serve(%q, ws=%v) = %v, want %v", tc.id, tc.ws, err, tc.want)
		}
		if rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Flushed {
			t.Errorf("Serve(%q) wrote before failing: headers %v, body %q", tc.id, rec.Header(), rec.Body)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	ts := newTestServer(t, Options{Heartbeat: 20 * time.Millisecond})
	c := ts.openSSE(t, newID())
	c.expect(t, "open")
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for beats := 0; beats < 2; {
		select {
		case ev := <-c.events:
			if ev.Comment == "" {
				t.Fatalf("unexpected event %+v", ev)
			}
			if ev.Comment != "heartbeat" {
				t.Fatalf("comment %q, want heartbeat", ev.Comment)
			}
			beats++
		case <-timer.C:
			t.Fatal("no heartbeat")
		}
	}
}

func TestSlowConsumerDropped(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, Options{Buffer: 4, Registerer: reg})
	healthy, _ := ts.openAndBind(t, 2, false)

	// The slow client reads up to its bound event, then stops reading.
	id := newID()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events?stream="+id, nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "event: open\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if err := ts.hub.Bind(id, 1, false); err != nil {
		t.Fatal(err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "event: bound\n" {
			break
		}
	}

	// 10000 events of 4 KiB (40 MiB, more than the socket buffers hold): Publish must not block.
	const events = 10000
	big := testEvent("instance", "big")
	big.Data = json.RawMessage(`"` + strings.Repeat("x", 4096) + `"`)
	published := make(chan int, 1)
	go func() {
		queued := 0
		for range events {
			queued += ts.hub.Publish(big, Audience{Users: []int64{1}})
		}
		published <- queued
	}()
	select {
	case queued := <-published:
		if queued >= events {
			t.Errorf("all %d events were queued on the slow stream", queued)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Publish blocked on a slow consumer")
	}

	if n := ts.hub.Streams(); n != 1 {
		t.Errorf("Streams() = %d, want 1 (the healthy one)", n)
	}
	if got := testutil.ToFloat64(ts.hub.m.drops.WithLabelValues("slow_consumer")); got != 1 {
		t.Errorf("slow_consumer drops = %v", got)
	}
	if got := testutil.ToFloat64(ts.hub.m.events); got != events {
		t.Errorf("events published = %v", got)
	}
	if ts.hub.SendTo(id, big) {
		t.Error("SendTo a dropped stream: true")
	}
	// The healthy stream of another user is untouched.
	ts.hub.Publish(testEvent("instance", "h1"), Audience{Users: []int64{2}})
	if g := decodeEvent(t, healthy.expect(t, "instance").Data); g.ResourceID != "h1" {
		t.Errorf("healthy stream got %+v", g)
	}

	// Once the slow client reads again, it finds (after what was already written) a close event.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no close event: %v", err)
		}
		if line == "event: close\n" {
			if line, _ = br.ReadString('\n'); line != `data: {"reason":"slow consumer"}`+"\n" {
				t.Errorf("close data %q", line)
			}
			break
		}
	}
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v", err)
	}
}

func TestSendTo(t *testing.T) {
	ts := newTestServer(t, Options{})
	c, id := ts.openAndBind(t, 1, false)
	ev := testEvent("operation", "replay")
	if !ts.hub.SendTo(id, ev) {
		t.Fatal("SendTo bound stream: false")
	}
	got := c.expect(t, "operation")
	if g := decodeEvent(t, got.Data); g.ResourceID != "replay" || got.ID != "1" {
		t.Errorf("got id %s %+v", got.ID, g)
	}
	if ts.hub.SendTo("no-such-stream", ev) {
		t.Error("SendTo unknown stream: true")
	}
	unbound := newID()
	u := ts.openSSE(t, unbound)
	u.expect(t, "open")
	if ts.hub.SendTo(unbound, ev) {
		t.Error("SendTo unbound stream: true")
	}
	// A stream the client closed is gone.
	c.Close()
	eventually(t, "stream removed after the client left", func() bool { return ts.hub.Streams() == 1 })
	if ts.hub.SendTo(id, ev) {
		t.Error("SendTo closed stream: true")
	}
}

func TestClientGoneFreesStream(t *testing.T) {
	ts := newTestServer(t, Options{})
	c, id := ts.openAndBind(t, 1, false)
	c.Close()
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v after the client left", err)
	}
	if n := ts.hub.Streams(); n != 0 {
		t.Errorf("Streams() = %d", n)
	}
	if n := ts.hub.Publish(testEvent("instance", "x"), Audience{Users: []int64{1}}); n != 0 {
		t.Errorf("Publish queued on %d streams", n)
	}
	// The id can be opened again, as a new unbound stream.
	c2 := ts.openSSE(t, id)
	c2.expect(t, "open")
	if err := ts.hub.Bind(id, 2, false); err != nil {
		t.Errorf("Bind reopened stream to another user: %v", err)
	}
	c2.expect(t, "bound")
}

func TestCloseEndsStreams(t *testing.T) {
	ts := newTestServer(t, Options{})
	bound, _ := ts.openAndBind(t, 1, false)
	unbound := ts.openSSE(t, newID())
	unbound.expect(t, "open")

	ts.hub.Close()
	for _, c := range []*sseClient{bound, unbound} {
		if got := decodeJSON(t, c.expect(t, "close").Data)["reason"]; got != "server shutting down" {
			t.Errorf("close reason = %v", got)
		}
		c.expectEnd(t)
	}
	for range 2 {
		if err := ts.nextServed(t); err != nil {
			t.Errorf("Serve returned %v", err)
		}
	}
	if n := ts.hub.Streams(); n != 0 {
		t.Errorf("Streams() = %d", n)
	}
	if _, status := ts.tryOpenSSE(t, newID()); status != http.StatusServiceUnavailable {
		t.Errorf("open after Close: status %d, want 503", status)
	}
	ts.hub.Close() // idempotent
}

// wsFrameT is a websocket message as the tests read it.
type wsFrameT struct {
	Event string          `json:"event"`
	ID    uint64          `json:"id"`
	Data  json.RawMessage `json:"data"`
}

func readFrame(t *testing.T, c *websocket.Conn) wsFrameT {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v", typ)
	}
	var f wsFrameT
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}

func TestWebsocket(t *testing.T) {
	ts := newTestServer(t, Options{BindTimeout: 5 * time.Second, Heartbeat: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	id := newID()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/events?stream=" + id
	var pings atomic.Int64
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	f := readFrame(t, c)
	if f.Event != "open" || string(f.Data) != fmt.Sprintf(`{"stream":%q,"bind_timeout":5}`, id) {
		t.Errorf("open frame: %+v %s", f, f.Data)
	}
	// The same id cannot be opened twice, whatever the transport.
	if _, status := ts.tryOpenSSE(t, id); status != http.StatusConflict {
		t.Errorf("SSE open of a websocket stream's id: status %d", status)
	}
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Errorf("second websocket open: %v %v", err, resp)
	}
	for range 2 {
		if err := ts.nextServed(t); !errors.Is(err, ErrStreamInUse) {
			t.Errorf("Serve of an open id returned %v", err)
		}
	}

	ts.hub.Publish(testEvent("instance", "early"), Audience{Users: []int64{7}})
	if err := ts.hub.Bind(id, 7, false); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c); f.Event != "bound" || string(f.Data) != fmt.Sprintf(`{"stream":%q,"user_id":7}`, id) {
		t.Errorf("bound frame: %+v %s", f, f.Data)
	}
	ev := testEvent("operation", "w1")
	if n := ts.hub.Publish(ev, Audience{Users: []int64{7}}); n != 1 {
		t.Errorf("Publish queued on %d streams", n)
	}
	ts.hub.Publish(testEvent("operation", "other"), Audience{Users: []int64{8}})
	ts.hub.SendTo(id, testEvent("operation", "w2"))
	for i, want := range []string{"w1", "w2"} {
		f := readFrame(t, c)
		if f.Event != "operation" || f.ID != uint64(i+1) || decodeEvent(t, string(f.Data)).ResourceID != want {
			t.Errorf("frame %d: %+v %s, want %s", i, f, f.Data, want)
		}
	}
	time.Sleep(60 * time.Millisecond) // a few pings go by; the client answers them while reading below

	ts.hub.Close()
	f = readFrame(t, c)
	if f.Event != "close" || string(f.Data) != `{"reason":"server shutting down"}` {
		t.Errorf("close frame: %+v %s", f, f.Data)
	}
	_, _, err = c.Read(ctx)
	if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
		t.Errorf("after close frame: %v (status %v), want going away", err, s)
	}
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v", err)
	}
	if pings.Load() == 0 {
		t.Error("no heartbeat ping")
	}
}

func TestWebsocketUnansweredPing(t *testing.T) {
	ts := newTestServer(t, Options{Heartbeat: 20 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	id := newID()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/events?stream="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	readFrame(t, c)
	if err := ts.hub.Bind(id, 1, false); err != nil {
		t.Fatal(err)
	}
	// The client stops reading, so it answers no ping: the server hangs up.
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v", err)
	}
	if n := ts.hub.Streams(); n != 0 {
		t.Errorf("Streams() = %d", n)
	}
}

func TestWebsocketBindTimeoutAndClientGone(t *testing.T) {
	ts := newTestServer(t, Options{BindTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	base := "ws" + strings.TrimPrefix(ts.URL, "http") + "/events?stream="

	c, _, err := websocket.Dial(ctx, base+newID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	readFrame(t, c)
	if f := readFrame(t, c); f.Event != "close" || string(f.Data) != `{"reason":"bind timeout"}` {
		t.Errorf("close frame: %+v %s", f, f.Data)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after close frame: %v", err)
	}
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v", err)
	}

	id := newID()
	c2, _, err := websocket.Dial(ctx, base+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, c2)
	if err := ts.hub.Bind(id, 1, false); err != nil {
		t.Fatal(err)
	}
	c2.Close(websocket.StatusNormalClosure, "bye")
	if err := ts.nextServed(t); err != nil {
		t.Errorf("Serve returned %v after the client left", err)
	}
	if n := ts.hub.Streams(); n != 0 {
		t.Errorf("Streams() = %d", n)
	}
}

var streamIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,128}$`)

func TestValidStreamID(t *testing.T) {
	for id, want := range map[string]bool{
		"6f1c2b9e-4d3a-4b8e-9f2a-1c3d5e7f9a0b": true,
		"abcdefgh":                             true,
		"abcdefg":                              false,
		strings.Repeat("a", 128):               true,
		strings.Repeat("a", 129):               false,
		"abc def gh":                           false,
		"abcdefgh\n":                           false,
		"abcdéfghij":                           false,
		"":                                     false,
		"A_B-c_d-09":                           true,
		"abcdefgh/..":                          false,
	} {
		if got := ValidStreamID(id); got != want {
			t.Errorf("ValidStreamID(%q) = %v, want %v", id, got, want)
		}
	}
}

func FuzzValidStreamID(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "6f1c2b9e-4d3a-4b8e-9f2a-1c3d5e7f9a0b", strings.Repeat("z", 129), "abc\x00defgh", "ĀĀĀĀĀĀĀĀ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidStreamID(id), streamIDPattern.MatchString(id); got != want {
			t.Errorf("ValidStreamID(%q) = %v, regexp says %v", id, got, want)
		}
	})
}
