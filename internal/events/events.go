// Package events is the event hub behind the infrastructure API's event stream.
//
// A client gets a fresh random stream id from config.get, opens event.subscribe?stream=<id> (server-sent
// events, or a websocket on the same path) and then calls event.auth with its bearer token, which binds
// the stream to the user (Hub.Bind). A stream that is not bound within Options.BindTimeout is closed.
// Nothing is delivered to a stream before it is bound; after that it receives every event published to
// an audience that contains its user, or every event at all if the user is an administrator.
//
// Publishing never waits for a client: each stream has a bounded queue, and a stream whose queue is full
// is dropped (closed with reason "slow consumer") rather than holding up the publisher.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero fields of Options.
const (
	DefaultBindTimeout  = 30 * time.Second
	DefaultHeartbeat    = 15 * time.Second
	DefaultBuffer       = 256
	DefaultWriteTimeout = 10 * time.Second
)

// Reasons a stream is closed, sent as the reason of the final "close" event.
const (
	ReasonSlowConsumer = "slow consumer"
	ReasonBindTimeout  = "bind timeout"
	ReasonShutdown     = "server shutting down"
	ReasonRevoked      = "credentials revoked"
)

// Errors of Serve and Bind. Serve returns ErrBadStreamID, ErrStreamInUse and ErrClosed before it writes
// anything, so the caller can answer them (400, 409 and 503) itself.
var (
	// ErrBadStreamID: the stream id is not 8-128 characters of [A-Za-z0-9_-] (see ValidStreamID).
	ErrBadStreamID = errors.New("events: invalid stream id")
	// ErrStreamInUse: a stream with that id is already open.
	ErrStreamInUse = errors.New("events: stream already open")
	// ErrUnknownStream: Bind found no open stream with that id.
	ErrUnknownStream = errors.New("events: no open stream with that id")
	// ErrBoundElsewhere: the stream is already bound to another user.
	ErrBoundElsewhere = errors.New("events: stream bound to another user")
	// ErrClosed: the hub has been closed (server shutting down).
	ErrClosed = errors.New("events: hub closed")
	// ErrHandshake wraps a failed websocket handshake; the handshake has already answered the request,
	// so the caller must not write a response of its own.
	ErrHandshake = errors.New("events: websocket handshake failed")
)

// Options configures a Hub. Zero values get defaults in New.
type Options struct {
	// BindTimeout is how long a stream may stay unbound before it is closed (default 30 s).
	BindTimeout time.Duration
	// Heartbeat is the interval of the SSE comment line ": heartbeat" or the websocket ping, which keeps
	// proxies from closing idle streams (default 15 s).
	Heartbeat time.Duration
	// Buffer is how many messages are queued per stream (default 256); a stream whose queue is full is
	// dropped (closed) rather than blocking Publish.
	Buffer int
	// WriteTimeout bounds each write to a client (default 10 s), so a stuck client cannot hold a
	// goroutine forever.
	WriteTimeout time.Duration
	// OriginPatterns are extra browser origins allowed to open a websocket (see
	// websocket.AcceptOptions.OriginPatterns); same-origin requests are always accepted.
	OriginPatterns []string
	// Log receives the hub's messages, with component=events (default: discarded).
	Log *slog.Logger
	// Registerer, if set, gets the gauge deskhub_event_streams and the counters
	// deskhub_events_published_total and deskhub_event_streams_dropped_total{reason}.
	Registerer prometheus.Registerer
}

// Audience says who may see an event: the listed users, plus admins always.
type Audience struct {
	// Users are the ids of the users whose streams get the event.
	Users []int64
}

// Hub keeps the open event streams and fans published events out to them. Its methods are safe for
// concurrent use.
type Hub struct {
	o   Options
	log *slog.Logger
	m   *metrics

	mu      sync.RWMutex
	closed  bool
	streams map[string]*subscriber
	byUser  map[int64]map[*subscriber]struct{} // bound streams of non-admin users
	admins  map[*subscriber]struct{}           // bound streams of admins
}

// subscriber is one open event stream.
type subscriber struct {
	id   string
	ch   chan message  // queued messages; never closed
	done chan struct{} // closed when the stream is removed from the hub

	// Guarded by Hub.mu; reason is written before done is closed and read by the server after.
	closed bool
	bound  bool
	admin  bool
	user   int64
	reason string
	timer  *time.Timer // bind timeout
}

// message is one message for a client: an SSE event, or a websocket text frame.
type message struct {
	name  string // event name: "bound" or the vmm.Event's Type
	data  []byte // JSON; shared between streams, never modified
	event bool   // a vmm.Event, which gets a sequence number
	// panel is the same news as ui-vmm's panel reads it, sent right after as an unnamed ("message")
	// event without an id: {"type": endpoint, "request_id", "body": JSON text of a document}.
	panel []byte
}

// New returns a hub configured by o.
func New(o Options) *Hub {
	if o.BindTimeout <= 0 {
		o.BindTimeout = DefaultBindTimeout
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		o:       o,
		log:     o.Log.With("component", "events"),
		m:       newMetrics(o.Registerer),
		streams: make(map[string]*subscriber),
		byUser:  make(map[int64]map[*subscriber]struct{}),
		admins:  make(map[*subscriber]struct{}),
	}
}

// ValidStreamID tells whether id can name a stream: 8-128 characters of [A-Za-z0-9_-] (config.get hands
// out UUIDs).
func ValidStreamID(id string) bool {
	if len(id) < 8 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Publish queues ev for every bound stream whose user is in the audience or is an admin. It never
// blocks: a stream whose queue is full is dropped instead. It returns how many streams ev was queued on.
func (h *Hub) Publish(ev vmm.Event, aud Audience) int {
	msg, err := eventMessage(ev)
	if err != nil {
		h.log.Error("event not published", "type", ev.Type, "err", err)
		return 0
	}
	h.m.published()

	n := 0
	var slow []*subscriber
	queue := func(s *subscriber) {
		select {
		case s.ch <- msg:
			n++
		default:
			slow = append(slow, s)
		}
	}
	var seen map[int64]bool
	if len(aud.Users) > 16 {
		seen = make(map[int64]bool, len(aud.Users))
	}

	h.mu.RLock()
	for s := range h.admins {
		queue(s)
	}
	for i, u := range aud.Users {
		if seen != nil {
			if seen[u] {
				continue
			}
			seen[u] = true
		} else if slices.Contains(aud.Users[:i], u) {
			continue
		}
		for s := range h.byUser[u] {
			queue(s)
		}
	}
	h.mu.RUnlock()

	for _, s := range slow {
		h.drop(s, ReasonSlowConsumer)
	}
	return n
}

// SendTo queues ev on one bound stream (used to replay results missed while no stream was open). It
// returns false if that stream is not open, not bound, or its queue is full (the stream is then dropped).
func (h *Hub) SendTo(stream string, ev vmm.Event) bool {
	msg, err := eventMessage(ev)
	if err != nil {
		h.log.Error("event not sent", "type", ev.Type, "err", err)
		return false
	}
	h.mu.RLock()
	s := h.streams[stream]
	if s == nil || !s.bound {
		h.mu.RUnlock()
		return false
	}
	var ok bool
	select {
	case s.ch <- msg:
		ok = true
	default:
	}
	h.mu.RUnlock()
	if !ok {
		h.drop(s, ReasonSlowConsumer)
	}
	return ok
}

// Bind ties the open stream with id stream to a user; from then on it gets the events of that user (all
// events if admin) and its bind timeout no longer applies. Binding again to the same user is a no-op.
// Errors: ErrUnknownStream (no open stream with that id), ErrBoundElsewhere (bound to another user).
func (h *Hub) Bind(stream string, userID int64, admin bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[stream]
	if s == nil {
		return ErrUnknownStream
	}
	if s.bound {
		if s.user != userID {
			return ErrBoundElsewhere
		}
		return nil
	}
	s.bound, s.user, s.admin = true, userID, admin
	s.timer.Stop()
	if admin {
		h.admins[s] = struct{}{}
	} else {
		set := h.byUser[userID]
		if set == nil {
			set = make(map[*subscriber]struct{})
			h.byUser[userID] = set
		}
		set[s] = struct{}{}
	}
	data, _ := json.Marshal(struct {
		Stream string `json:"stream"`
		UserID int64  `json:"user_id"`
	}{stream, userID})
	// Nothing is queued on an unbound stream, so the queue has room for this first message.
	select {
	case s.ch <- message{name: "bound", data: data}:
	default:
	}
	h.log.Debug("stream bound", "stream", stream, "user_id", userID, "admin", admin)
	return nil
}

// End closes the stream with id stream (its final "close" event says reason); false if no such stream
// is open.
func (h *Hub) End(stream, reason string) bool {
	h.mu.RLock()
	s := h.streams[stream]
	h.mu.RUnlock()
	if s == nil || !h.remove(s, reason) {
		return false
	}
	h.log.Info("stream ended", "stream", stream, "user_id", s.user, "reason", reason)
	return true
}

// Done returns a channel closed when the stream with id stream ends (nil if no such stream is open).
func (h *Hub) Done(stream string) <-chan struct{} {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s := h.streams[stream]; s != nil {
		return s.done
	}
	return nil
}

// Close ends every stream (each gets a final "close" event with reason "server shutting down") and makes
// later Serve calls fail with ErrClosed. It does not wait for the Serve calls to return.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, s := range h.streams {
		h.removeLocked(s, ReasonShutdown)
	}
}

// Streams reports how many streams are open (bound or not).
func (h *Hub) Streams() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.streams)
}

// open registers a new stream with id.
func (h *Hub) open(id string) (*subscriber, error) {
	if !ValidStreamID(id) {
		return nil, ErrBadStreamID
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if _, ok := h.streams[id]; ok {
		return nil, ErrStreamInUse
	}
	s := &subscriber{id: id, ch: make(chan message, h.o.Buffer), done: make(chan struct{})}
	s.timer = time.AfterFunc(h.o.BindTimeout, func() { h.expire(s) })
	h.streams[id] = s
	h.m.streamsGauge(1)
	h.log.Debug("stream opened", "stream", id)
	return s, nil
}

// expire closes s if it is still unbound (its bind timeout has passed).
func (h *Hub) expire(s *subscriber) {
	h.mu.Lock()
	if s.closed || s.bound {
		h.mu.Unlock()
		return
	}
	h.m.dropped(ReasonBindTimeout) // counted before the stream learns it is closed
	h.removeLocked(s, ReasonBindTimeout)
	h.mu.Unlock()
	h.log.Debug("stream closed: not bound in time", "stream", s.id)
}

// drop closes s for reason (a slow consumer) and counts it.
func (h *Hub) drop(s *subscriber, reason string) {
	h.mu.Lock()
	if s.closed {
		h.mu.Unlock()
		return
	}
	h.m.dropped(reason) // counted before the stream learns it is closed
	h.removeLocked(s, reason)
	h.mu.Unlock()
	h.log.Info("stream dropped", "stream", s.id, "user_id", s.user, "reason", reason)
}

// remove takes s out of the hub, telling its server why; false if it was already gone.
func (h *Hub) remove(s *subscriber, reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return false
	}
	h.removeLocked(s, reason)
	return true
}

func (h *Hub) removeLocked(s *subscriber, reason string) {
	s.closed = true
	s.reason = reason
	s.timer.Stop()
	if h.streams[s.id] == s {
		delete(h.streams, s.id)
	}
	if s.bound {
		if s.admin {
			delete(h.admins, s)
		} else if set := h.byUser[s.user]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(h.byUser, s.user)
			}
		}
	}
	close(s.done)
	h.m.streamsGauge(-1)
}

// eventMessage encodes ev once for all the streams it goes to.
func eventMessage(ev vmm.Event) (message, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return message{}, fmt.Errorf("encode event: %w", err)
	}
	return message{name: eventName(ev.Type), data: data, event: true, panel: panelOperation(ev)}, nil
}

// PanelMessage is a message of the form ui-vmm's panel reads on its stream (unnamed SSE events): the
// call it answers (Type, e.g. "instance.action"), the client's RequestID, and Body, the JSON text of
// a document, which the panel parses again.
type PanelMessage struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Body      string `json:"body"`
}

// panelOperation is the panel's message about the end of an asynchronous call (an operation event
// with the client's request_id and a final status), else nil. The body is a JSON:API document of the
// operation; a failure's is {"errors": {"data": {"errors": [...]}}}, the shape the panel's handler
// reads (it passes body.errors to its parser of failed axios answers, which reads .data.errors).
func panelOperation(ev vmm.Event) []byte {
	if ev.Type != "operation" || ev.RequestID == "" || (ev.Status != vmm.OperationSuccess && ev.Status != vmm.OperationFailure) {
		return nil
	}
	var op struct {
		OperationID string `json:"operation_id"`
		Kind        string `json:"kind"`
	}
	_ = json.Unmarshal(ev.Data, &op)
	if op.Kind == "" {
		return nil
	}
	var body []byte
	if ev.Status == vmm.OperationFailure {
		errs := []map[string]string{{"status": "500", "title": "Operation failed", "detail": ev.Error}}
		body, _ = json.Marshal(map[string]any{"errors": map[string]any{"status": 500, "data": map[string]any{"errors": errs}}})
	} else {
		body, _ = json.Marshal(map[string]any{"data": map[string]any{"type": vmm.TypeOperation, "id": op.OperationID,
			"attributes": vmm.OperationAttributes{OperationID: op.OperationID, RequestID: ev.RequestID, Status: ev.Status, Provider: ev.Provider}}})
	}
	out, _ := json.Marshal(PanelMessage{Type: op.Kind, RequestID: ev.RequestID, Body: string(body)})
	return out
}

// SendPanel queues a message of the panel's form on one bound stream (event.auth's answer on the
// stream); false if that stream is not open and bound, or its queue is full (it is then dropped).
func (h *Hub) SendPanel(stream string, m PanelMessage) bool {
	data, err := json.Marshal(m)
	if err != nil {
		return false
	}
	h.mu.RLock()
	s := h.streams[stream]
	if s == nil || !s.bound {
		h.mu.RUnlock()
		return false
	}
	var ok bool
	select {
	case s.ch <- message{name: "message", data: data}:
		ok = true
	default:
	}
	h.mu.RUnlock()
	if !ok {
		h.drop(s, ReasonSlowConsumer)
	}
	return ok
}

// eventName makes an event type safe as an SSE event name (one line; "message" if empty).
func eventName(t string) string {
	if strings.ContainsAny(t, "\r\n") {
		t = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, t)
	}
	if t == "" {
		return "message"
	}
	return t
}

// metrics are the hub's Prometheus collectors; a nil *metrics records nothing.
type metrics struct {
	streams prometheus.Gauge
	events  prometheus.Counter
	drops   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "deskhub", Name: "event_streams",
			Help: "Event streams open (bound or not).",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "deskhub", Name: "events_published_total",
			Help: "Events published to the event hub.",
		}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deskhub", Name: "event_streams_dropped_total",
			Help: "Event streams closed by the server, by reason (slow_consumer, bind_timeout).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.streams, m.events, m.drops)
	m.drops.WithLabelValues(dropLabel(ReasonSlowConsumer))
	m.drops.WithLabelValues(dropLabel(ReasonBindTimeout))
	return m
}

func dropLabel(reason string) string { return strings.ReplaceAll(reason, " ", "_") }

func (m *metrics) streamsGauge(d float64) {
	if m != nil {
		m.streams.Add(d)
	}
}

func (m *metrics) published() {
	if m != nil {
		m.events.Inc()
	}
}

func (m *metrics) dropped(reason string) {
	if m != nil {
		m.drops.WithLabelValues(dropLabel(reason)).Inc()
	}
}
