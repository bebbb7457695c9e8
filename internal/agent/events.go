package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/spawner"
)

// hub fans events (spawner.Event: window.list, proc.started, proc.killed,
// display.setBackgroundBorderColor, speaker.available) out to subscribers; a subscriber that cannot keep up is dropped, never waited for.
type hub struct {
	mu   sync.Mutex
	subs map[chan spawner.Event]struct{}
}

func newHub() *hub { return &hub{subs: map[chan spawner.Event]struct{}{}} }

func (h *hub) subscribe() chan spawner.Event {
	ch := make(chan spawner.Event, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) unsubscribe(ch chan spawner.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// publish sends e to every subscriber and returns how many got it.
func (h *hub) publish(e spawner.Event) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for ch := range h.subs {
		select {
		case ch <- e:
			n++
		default: // too slow: drop it
			delete(h.subs, ch)
			close(ch)
		}
	}
	return n
}

// serveEvents is the websocket of live events (GET /events): the current window list first, then every
// event as a JSON text message, with a ping every 30 s.
func (a *Agent) serveEvents(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // the client sends nothing; reading notices it leaving
		_, _, _ = ws.Read(ctx)
		cancel()
	}()
	ch := a.events.subscribe()
	defer a.events.unsubscribe(ch)
	send := func(e spawner.Event) error {
		b, _ := json.Marshal(e)
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return ws.Write(wctx, websocket.MessageText, b)
	}
	if list, err := a.windows(nil, nil); err == nil {
		if send(spawner.Event{Type: "window.list", Data: list}) != nil {
			return
		}
	}
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			ws.Close(websocket.StatusGoingAway, "")
			return
		case e, ok := <-ch:
			if !ok {
				ws.Close(websocket.StatusPolicyViolation, "too slow")
				return
			}
			if send(e) != nil {
				return
			}
		case <-ping.C:
			if ws.Ping(ctx) != nil {
				return
			}
		}
	}
}
