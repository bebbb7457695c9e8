package display

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/internal/revoke"
)

// Options configures a Relay. Zero values get defaults in NewRelay.
type Options struct {
	Log *slog.Logger
	// Dial connects to the RFB server of a session (a unix socket in practice). Required.
	Dial func(ctx context.Context, sessionID string) (net.Conn, error)
	// OnChange is called after each client connects (connected=true) or disconnects, with the
	// session's client count after the change. Called from the connection's goroutine; keep it short.
	OnChange func(sessionID string, clients int, connected bool, at time.Time)
	// MaxMessage bounds a client's ClientCutText payload (default DefaultMaxMessage).
	MaxMessage int
	// OriginPatterns are extra allowed browser origins (path.Match patterns on the origin host, or on
	// "scheme://host" if the pattern has "://"); same-origin requests are always accepted.
	OriginPatterns []string
	// DialTimeout bounds Dial (default 10 s).
	DialTimeout time.Duration
	// Now is the clock for OnChange (default time.Now).
	Now func() time.Time
	// Revoke, when set, ends a client (close code 4003) as soon as a credential of its grant's Deps is
	// revoked.
	Revoke *revoke.Registry
}

// Websocket close codes sent to the browser.
const (
	closeKicked   websocket.StatusCode = 4000 // Disconnect / DisconnectWhere / Close
	closeProtocol websocket.StatusCode = 4001 // the client's RFB stream was refused by the filter
	closeUpstream websocket.StatusCode = 4002 // the RFB server could not be reached
	closeRevoked  websocket.StatusCode = 4003 // a credential the connection came through was revoked
)

// Relay connects browser websockets to RFB servers and keeps count of the clients of each session.
type Relay struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]map[*client]struct{}
	closed   bool
	wg       sync.WaitGroup
	// changes counts the changes of any session's client count (Changes).
	changes atomic.Uint64
}

type client struct {
	grant   Grant
	kick    chan struct{}
	kicked  bool // guarded by Relay.mu
	revoked bool // guarded by Relay.mu; set before kick is closed
}

// NewRelay returns a relay; o.Dial must be set.
func NewRelay(o Options) *Relay {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dial == nil {
		o.Dial = func(context.Context, string) (net.Conn, error) { return nil, errors.New("display: no Dial configured") }
	}
	return &Relay{o: o, log: o.Log.With("component", "display"), sessions: make(map[string]map[*client]struct{})}
}

// ServeWS upgrades the request to a websocket (subprotocol "binary" when offered, as noVNC does),
// dials the session's RFB server and relays binary messages ↔ stream until either side ends or the
// client is disconnected. The caller has already authorized g (e.g. by redeeming a secret).
func (r *Relay) ServeWS(w http.ResponseWriter, req *http.Request, g Grant) {
	log := r.log.With("session", g.SessionID, "who", g.Label, "view_only", g.ViewOnly, "remote", req.RemoteAddr)
	offered := OfferedSubprotocols(req)
	ws, err := websocket.Accept(w, req, &websocket.AcceptOptions{
		Subprotocols:    []string{"binary"},
		OriginPatterns:  r.o.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled, // RFB payloads are compressed already
	})
	if err != nil {
		log.Info("display websocket refused", "err", err)
		return // Accept wrote the response
	}
	if len(offered) > 0 && ws.Subprotocol() != "binary" {
		log.Info("display websocket refused: no binary subprotocol", "offered", offered)
		ws.Close(websocket.StatusPolicyViolation, "subprotocol binary required")
		return
	}
	ws.SetReadLimit(-1) // messages are streamed through the filter, never held whole

	dctx, cancel := context.WithTimeout(req.Context(), r.o.DialTimeout)
	conn, err := r.o.Dial(dctx, g.SessionID)
	cancel()
	if err != nil {
		log.Warn("display dial failed", "err", err)
		ws.Close(closeUpstream, "display unavailable")
		return
	}
	c := &client{grant: g, kick: make(chan struct{})}
	if !r.add(c) {
		conn.Close()
		ws.Close(websocket.StatusGoingAway, "shutting down")
		return
	}
	defer r.wg.Done()
	if r.o.Revoke != nil {
		defer r.o.Revoke.Watch(g.Deps, func() { r.revoke(c) })()
	}
	log.Info("display client connected")
	start := time.Now()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	type end struct {
		code   websocket.StatusCode
		reason string
		err    error
	}
	ends := make(chan end, 2)
	filter := NewClientFilter(g.ViewOnly, r.o.MaxMessage)
	var up, down int64

	go func() { // browser → filter → RFB server
		buf := make([]byte, 32<<10)
		out := make([]byte, 0, 32<<10)
		for {
			typ, rd, err := ws.Reader(ctx)
			if err != nil {
				ends <- end{websocket.StatusNormalClosure, "", err}
				return
			}
			if typ != websocket.MessageBinary {
				ends <- end{websocket.StatusUnsupportedData, "binary messages only", errors.New("text message from client")}
				return
			}
			for {
				n, rerr := rd.Read(buf)
				if n > 0 {
					var ferr error
					out, ferr = filter.Filter(out[:0], buf[:n])
					if len(out) > 0 {
						if _, err := conn.Write(out); err != nil {
							ends <- end{websocket.StatusNormalClosure, "", fmt.Errorf("write to display: %w", err)}
							return
						}
						up += int64(len(out))
					}
					if ferr != nil {
						ends <- end{closeProtocol, "protocol error", ferr}
						return
					}
				}
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					ends <- end{websocket.StatusNormalClosure, "", rerr}
					return
				}
			}
		}
	}()
	go func() { // RFB server → browser, unchanged
		buf := make([]byte, 256<<10)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				if werr := ws.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
					ends <- end{websocket.StatusNormalClosure, "", werr}
					return
				}
				down += int64(n)
			}
			if err != nil {
				ends <- end{websocket.StatusNormalClosure, "display closed", fmt.Errorf("read from display: %w", err)}
				return
			}
		}
	}()

	var first end
	pending := 2
	select {
	case first = <-ends:
		pending--
	case <-c.kick:
		first = end{closeKicked, "disconnected", errors.New("disconnected by broker")}
		r.mu.Lock()
		if c.revoked {
			first = end{closeRevoked, "credentials revoked", errors.New("credentials revoked")}
		}
		r.mu.Unlock()
	}
	conn.Close()
	if err := ws.Close(first.code, first.reason); err != nil {
		ws.CloseNow()
	}
	stop()
	for ; pending > 0; pending-- {
		<-ends
	}
	if first.code == closeProtocol {
		log.Warn("display client refused: RFB stream not acceptable", "err", first.err)
	}
	if filter.Opaque() {
		log.Info("display client handshake not framed; relayed opaque (full control)")
	}
	r.remove(c)
	log.Info("display client disconnected", "cause", first.err, "duration", time.Since(start).Round(time.Millisecond),
		"bytes_up", up, "bytes_down", down, "dropped", filter.Dropped())
}

// OfferedSubprotocols are the websocket subprotocols a request offers (Sec-WebSocket-Protocol).
func OfferedSubprotocols(req *http.Request) []string {
	var out []string
	for _, h := range req.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (r *Relay) add(c *client) bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	r.wg.Add(1)
	m := r.sessions[c.grant.SessionID]
	if m == nil {
		m = make(map[*client]struct{})
		r.sessions[c.grant.SessionID] = m
	}
	m[c] = struct{}{}
	n := len(m)
	r.changes.Add(1)
	r.mu.Unlock()
	r.notify(c.grant.SessionID, n, true)
	return true
}

func (r *Relay) remove(c *client) {
	r.mu.Lock()
	m := r.sessions[c.grant.SessionID]
	delete(m, c)
	n := len(m)
	if n == 0 {
		delete(r.sessions, c.grant.SessionID)
	}
	r.changes.Add(1)
	r.mu.Unlock()
	r.notify(c.grant.SessionID, n, false)
}

func (r *Relay) notify(id string, n int, connected bool) {
	if r.o.OnChange != nil {
		r.o.OnChange(id, n, connected, r.o.Now())
	}
}

// Changes is a number that moves whenever Clients may answer differently for any session (it counts
// the clients that came and went): two equal readings mean that no count changed between them.
func (r *Relay) Changes() uint64 { return r.changes.Load() }

// Clients returns the number of clients connected to the session.
func (r *Relay) Clients(sessionID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions[sessionID])
}

// Disconnect drops every client of the session and returns how many (clients already being dropped
// are not counted again). The websockets are closed (code 4000) asynchronously; Clients and OnChange
// follow as each connection ends.
func (r *Relay) Disconnect(sessionID string) int {
	return r.DisconnectWhere(sessionID, func(Grant) bool { return true })
}

// DisconnectWhere drops the clients of the session whose grant satisfies f (e.g. all viewers that came
// in through one share key) and returns how many.
func (r *Relay) DisconnectWhere(sessionID string, f func(Grant) bool) int {
	r.mu.Lock()
	var kick []*client
	for c := range r.sessions[sessionID] {
		if !c.kicked && f(c.grant) {
			c.kicked = true
			kick = append(kick, c)
		}
	}
	r.mu.Unlock()
	for _, c := range kick {
		close(c.kick)
	}
	return len(kick)
}

// revoke drops c because a credential of its grant went.
func (r *Relay) revoke(c *client) {
	r.mu.Lock()
	if c.kicked {
		r.mu.Unlock()
		return
	}
	c.kicked, c.revoked = true, true
	r.mu.Unlock()
	close(c.kick)
}

// Close drops every client, refuses new ones, and waits for the connections to end.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	var all []*client
	for _, m := range r.sessions {
		for c := range m {
			if !c.kicked {
				c.kicked = true
				all = append(all, c)
			}
		}
	}
	r.mu.Unlock()
	for _, c := range all {
		close(c.kick)
	}
	r.wg.Wait()
}

// Sessions lists the sessions that have clients (for metrics and tests).
func (r *Relay) Sessions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.sessions))
	for id := range r.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
