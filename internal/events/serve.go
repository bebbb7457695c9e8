package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// closeWriteTimeout bounds the best-effort final "close" message.
const closeWriteTimeout = time.Second

// sink is the transport of one stream: server-sent events or a websocket.
type sink interface {
	// send writes one message; seq numbers the events of the stream.
	send(m message, seq uint64) error
	// heartbeat keeps an idle stream alive.
	heartbeat() error
	// finish writes a last "close" message with reason (best effort) and ends the transport.
	finish(reason string)
}

// Serve serves the stream with id stream until the client goes, the stream is dropped, or the hub
// closes. A request with an "Upgrade: websocket" header is served by ServeWS, any other by ServeSSE.
//
// Serve returns ErrBadStreamID, ErrStreamInUse or ErrClosed before writing anything, so the caller can
// answer them. Once streaming has begun it returns nil when the stream ends, or the transport error.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, stream string) error {
	if headerHasToken(r.Header, "Upgrade", "websocket") {
		return h.ServeWS(w, r, stream)
	}
	return h.ServeSSE(w, r, stream)
}

// ServeSSE serves the stream with id stream as text/event-stream until the client goes, the stream is
// dropped, or the hub closes (see Serve for the errors).
//
// The first event is "open", with data {"stream":id,"bind_timeout":seconds}; then "bound", with data
// {"stream":id,"user_id":n}, once event.auth has bound the stream; then one event per vmm.Event, named
// after its Type, with an increasing id and the event as JSON data. A stream the server ends gets a last
// "close" event with data {"reason":"..."}. Idle streams get a ": heartbeat" comment line.
func (h *Hub) ServeSSE(w http.ResponseWriter, r *http.Request, stream string) error {
	s, err := h.open(stream)
	if err != nil {
		return err
	}
	defer h.remove(s, "")

	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{}) // the connection may serve further requests
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	k := &sseSink{w: w, rc: rc, timeout: h.o.WriteTimeout}
	if err := k.write(nil, h.o.WriteTimeout); err != nil {
		return fmt.Errorf("events: start stream: %w", err)
	}
	return h.run(r.Context(), s, k)
}

// ServeWS serves the stream with id stream over a websocket (see Serve for the errors). It carries the
// messages of ServeSSE, each as one JSON text frame {"event":name,"data":...}, with "id" added to the
// frames of events; heartbeats are pings. Messages from the client other than control frames end the
// stream. A failed handshake is returned wrapped in ErrHandshake, after the handshake has answered it.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request, stream string) error {
	s, err := h.open(stream)
	if err != nil {
		return err
	}
	defer h.remove(s, "")

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.o.OriginPatterns})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())
	return h.run(ctx, s, &wsSink{c: c, ctx: ctx, timeout: h.o.WriteTimeout})
}

// run writes the open message, then the stream's messages and heartbeats, until ctx ends (client gone),
// the stream is removed, or a write fails.
func (h *Hub) run(ctx context.Context, s *subscriber, k sink) error {
	open, _ := json.Marshal(struct {
		Stream      string  `json:"stream"`
		BindTimeout float64 `json:"bind_timeout"`
	}{s.id, h.o.BindTimeout.Seconds()})
	if err := k.send(message{name: "open", data: open}, 0); err != nil {
		return err
	}
	tick := time.NewTicker(h.o.Heartbeat)
	defer tick.Stop()
	var seq uint64
	for {
		// A removed stream ends at once, whatever is still queued.
		select {
		case <-s.done:
			if s.reason != "" {
				k.finish(s.reason)
			}
			return nil
		default:
		}
		select {
		case <-s.done:
			continue
		case <-ctx.Done():
			return nil
		case m := <-s.ch:
			if m.event {
				seq++
			}
			if err := k.send(m, seq); err != nil {
				if clientGone(ctx, err) {
					return nil
				}
				return err
			}
		case <-tick.C:
			if err := k.heartbeat(); err != nil {
				if clientGone(ctx, err) {
					return nil
				}
				return err
			}
		}
	}
}

// clientGone tells whether a failed write only means that the client left (it closed the connection
// while a message was on its way): that ends the stream normally.
func clientGone(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || websocket.CloseStatus(err) != -1
}

// sseSink writes server-sent events.
type sseSink struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

// write writes b and flushes it, within timeout.
func (k *sseSink) write(b []byte, timeout time.Duration) error {
	if err := k.rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if len(b) > 0 {
		if _, err := k.w.Write(b); err != nil {
			return err
		}
	}
	return k.rc.Flush()
}

func (k *sseSink) send(m message, seq uint64) error {
	return k.write(k.format(m, seq), k.timeout)
}

func (k *sseSink) format(m message, seq uint64) []byte {
	b := k.buf[:0]
	if m.event {
		b = append(b, "id: "...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, m.name...)
	b = append(b, "\ndata: "...)
	b = append(b, m.data...)
	b = append(b, "\n\n"...)
	if m.panel != nil {
		b = append(b, "event: message\ndata: "...)
		b = append(b, m.panel...)
		b = append(b, "\n\n"...)
	}
	k.buf = b
	return b
}

func (k *sseSink) heartbeat() error {
	return k.write([]byte(": heartbeat\n\n"), k.timeout)
}

func (k *sseSink) finish(reason string) {
	_ = k.write(k.format(closeMessage(reason), 0), closeWriteTimeout)
}

// wsSink writes websocket text frames.
type wsSink struct {
	c       *websocket.Conn
	ctx     context.Context // ends when the client closes the connection
	timeout time.Duration
	pinging atomic.Bool // a ping is waiting for its pong
}

func (k *wsSink) write(m message, seq uint64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(k.ctx, timeout)
	defer cancel()
	if err := k.c.Write(ctx, websocket.MessageText, wsFrame(m, seq)); err != nil || m.panel == nil {
		return err
	}
	return k.c.Write(ctx, websocket.MessageText, wsFrame(message{name: "message", data: m.panel}, 0))
}

func (k *wsSink) send(m message, seq uint64) error { return k.write(m, seq, k.timeout) }

// heartbeat pings the client. The pong is awaited in another goroutine so that events keep flowing
// meanwhile; a client that does not answer within the write timeout is disconnected.
func (k *wsSink) heartbeat() error {
	if !k.pinging.CompareAndSwap(false, true) {
		return nil // the previous ping is still waiting for its pong
	}
	go func() {
		defer k.pinging.Store(false)
		ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
		defer cancel()
		if err := k.c.Ping(ctx); err != nil && k.ctx.Err() == nil {
			k.c.CloseNow() // ends k.ctx, and with it the stream
		}
	}()
	return nil
}

func (k *wsSink) finish(reason string) {
	if k.write(closeMessage(reason), 0, closeWriteTimeout) != nil {
		return
	}
	code := websocket.StatusNormalClosure
	if reason == ReasonShutdown {
		code = websocket.StatusGoingAway
	}
	_ = k.c.Close(code, reason)
}

// wsFrame encodes m as {"event":name,"id":seq,"data":...} (id only for events).
func wsFrame(m message, seq uint64) []byte {
	name, _ := json.Marshal(m.name)
	b := make([]byte, 0, len(m.data)+len(name)+40)
	b = append(b, `{"event":`...)
	b = append(b, name...)
	if m.event {
		b = append(b, `,"id":`...)
		b = strconv.AppendUint(b, seq, 10)
	}
	b = append(b, `,"data":`...)
	b = append(b, m.data...)
	b = append(b, '}')
	return b
}

// closeMessage is the last message of a stream the server ends.
func closeMessage(reason string) message {
	data, _ := json.Marshal(struct {
		Reason string `json:"reason"`
	}{reason})
	return message{name: "close", data: data}
}

// headerHasToken tells whether the comma-separated header key holds token (case-insensitive).
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
