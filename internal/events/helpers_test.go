package events

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/vmm"
)

// wait bounds every expectation of the tests; none of them is a timing assertion.
const wait = 10 * time.Second

// testServer serves hub's streams at /events?stream=<id>, answering Serve's early errors as the infra
// API would, and reports what each Serve call returned on served.
type testServer struct {
	*httptest.Server
	hub    *Hub
	served chan error
}

func newTestServer(t testing.TB, o Options) *testServer {
	t.Helper()
	hub := New(o)
	ts := &testServer{hub: hub, served: make(chan error, 4096)}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := hub.Serve(w, r, r.URL.Query().Get("stream"))
		switch {
		case errors.Is(err, ErrBadStreamID):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case errors.Is(err, ErrStreamInUse):
			http.Error(w, err.Error(), http.StatusConflict)
		case errors.Is(err, ErrClosed):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
		select {
		case ts.served <- err:
		default:
		}
	}))
	t.Cleanup(func() {
		hub.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

var idSeq atomic.Int64

// newID returns a fresh valid stream id.
func newID() string { return fmt.Sprintf("stream-%08d", idSeq.Add(1)) }

// sseEvent is one parsed server-sent event, or a comment line.
type sseEvent struct {
	ID, Name, Data string
	Comment        string
}

// sseClient reads one SSE response.
type sseClient struct {
	resp   *http.Response
	events chan sseEvent
	done   chan error // the read error that ended the stream (io.EOF when the server ended it)
	cancel context.CancelFunc
}

// openSSE opens the stream id and fails the test unless the answer is 200 text/event-stream.
func (ts *testServer) openSSE(t testing.TB, id string) *sseClient {
	t.Helper()
	c, status := ts.tryOpenSSE(t, id)
	if status != http.StatusOK {
		t.Fatalf("open %s: status %d", id, status)
	}
	return c
}

// tryOpenSSE opens the stream id and returns the status; the client is nil unless it is 200.
func (ts *testServer) tryOpenSSE(t testing.TB, id string) (*sseClient, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events?stream="+id, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open %s: %v", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	c := &sseClient{resp: resp, events: make(chan sseEvent, 1024), done: make(chan error, 1), cancel: cancel}
	go c.read(bufio.NewReader(resp.Body))
	t.Cleanup(c.Close)
	return c, resp.StatusCode
}

func (c *sseClient) read(br *bufio.Reader) {
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			close(c.events)
			c.done <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				c.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			c.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Name = value
			case "data":
				ev.Data += value
			}
		}
	}
}

// Close hangs up.
func (c *sseClient) Close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event, skipping heartbeat comments.
func (c *sseClient) next(t testing.TB) sseEvent {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended: %v", <-c.done)
			}
			if ev.Comment != "" {
				continue
			}
			return ev
		case <-timer.C:
			t.Fatalf("no event within %v", wait)
		}
	}
}

// expect reads the next event and checks its name.
func (c *sseClient) expect(t testing.TB, name string) sseEvent {
	t.Helper()
	ev := c.next(t)
	if ev.Name != name {
		t.Fatalf("got event %q (%s), want %q", ev.Name, ev.Data, name)
	}
	return ev
}

// expectEnd checks that the server ends the stream.
func (c *sseClient) expectEnd(t testing.TB) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				if err := <-c.done; err != io.EOF {
					t.Fatalf("stream ended with %v, want EOF", err)
				}
				return
			}
			if ev.Comment == "" {
				t.Fatalf("unexpected event %q (%s) before the end", ev.Name, ev.Data)
			}
		case <-timer.C:
			t.Fatalf("stream not ended within %v", wait)
		}
	}
}

// quiet checks that no event (other than heartbeats) arrives for d.
func (c *sseClient) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended: %v", <-c.done)
			}
			if ev.Comment == "" {
				t.Fatalf("unexpected event %q (%s)", ev.Name, ev.Data)
			}
		case <-timer.C:
			return
		}
	}
}

// openAndBind opens a stream, checks its open event, binds it and checks its bound event.
func (ts *testServer) openAndBind(t testing.TB, userID int64, admin bool) (*sseClient, string) {
	t.Helper()
	id := newID()
	c := ts.openSSE(t, id)
	c.expect(t, "open")
	if err := ts.hub.Bind(id, userID, admin); err != nil {
		t.Fatalf("Bind(%s, %d): %v", id, userID, err)
	}
	c.expect(t, "bound")
	return c, id
}

// decodeEvent decodes the data of an event.
func decodeEvent(t testing.TB, data string) vmm.Event {
	t.Helper()
	var ev vmm.Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return ev
}

// decodeJSON decodes data into a map.
func decodeJSON(t testing.TB, data string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	return m
}

// eventually waits for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextServed returns what the next Serve call to end returned.
func (ts *testServer) nextServed(t testing.TB) error {
	t.Helper()
	select {
	case err := <-ts.served:
		return err
	case <-time.After(wait):
		t.Fatalf("Serve did not return within %v", wait)
		return nil
	}
}
