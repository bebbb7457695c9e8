package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Authenticator finds the caller of a request from its credentials. It returns (nil, nil) when the
// request carries none, and an error when it carries bad ones.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, s Surface) (*Principal, error)
}

// Options configure the handler NewMux builds.
type Options struct {
	Log *slog.Logger
	// Registerer receives the request metrics (nil: no metrics).
	Registerer prometheus.Registerer
	// Auth authenticates callers of non-public routes (nil: every such route answers 401).
	Auth Authenticator
	// MaxBody limits request bodies (0: DefaultMaxBody).
	MaxBody int64
	// Appenders write results of these types as JSON themselves, byte for byte what encoding/json
	// writes, without its reflection (session lists: the broker's largest and most frequent answers).
	// An appender that answers false leaves the result to encoding/json.
	Appenders map[reflect.Type]Appender
}

// Appender appends the JSON of v, the text json.Marshal gives it; false: leave v to encoding/json.
type Appender func(dst []byte, v any) ([]byte, bool)

// Mux serves route tables on a net/http ServeMux, with one fallback per surface so that unknown routes
// get a 404 in the right envelope.
type Mux struct {
	*http.ServeMux
	opts    Options
	metrics *metrics
	routes  []Route
}

// Prefixes of the surfaces: an unknown path under one of them gets that surface's 404.
var surfacePrefixes = map[Surface][]string{
	Infra:   {"/api/"},
	Session: {"/v3/"},
	Agent:   {"/spawner/"},
}

// NewMux builds the handler for the given route tables. It panics on a malformed table (a programming
// error, caught by tests).
func NewMux(opts Options, tables ...[]Route) *Mux {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = DefaultMaxBody
	}
	m := &Mux{ServeMux: http.NewServeMux(), opts: opts, metrics: newMetrics(opts.Registerer)}
	byPath := map[string][]*Route{}
	var order []string
	for _, table := range tables {
		for i := range table {
			r := &table[i]
			if r.Surface == 0 || r.Path == "" || len(r.Methods) == 0 {
				panic(fmt.Sprintf("httpapi: incomplete route %+v", *r))
			}
			if _, seen := byPath[r.Path]; !seen {
				order = append(order, r.Path)
			}
			byPath[r.Path] = append(byPath[r.Path], r)
			m.routes = append(m.routes, *r)
		}
	}
	for _, path := range order {
		m.Handle(path, m.pathHandler(byPath[path]))
	}
	for s, prefixes := range surfacePrefixes {
		for _, p := range prefixes {
			m.Handle(p, m.notFound(s))
		}
	}
	return m
}

// HandleUnknown answers unknown paths under prefix with a 404 in the surface's envelope (the three
// surfaces' own prefixes are set up by NewMux; the agent serves its surface at "/").
func (m *Mux) HandleUnknown(prefix string, s Surface) { m.Handle(prefix, m.notFound(s)) }

// HandleRaw serves pattern with fn, which writes its own answer (files, generated documents), with
// what routes get: a request id, metrics under route, one log line, and an error fn returns before
// writing anything answered in the surface's envelope.
func (m *Mux) HandleRaw(pattern string, s Surface, route string, fn func(w http.ResponseWriter, r *http.Request) error) {
	m.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.instrument(w, r, s, route, func(w http.ResponseWriter) error { return fn(w, r) })
	}))
}

// Routes lists every route the mux serves.
func (m *Mux) Routes() []Route { return slices.Clone(m.routes) }

// pathHandler dispatches one path by method; a method no route takes gets a 405 in the envelope.
func (m *Mux) pathHandler(routes []*Route) http.Handler {
	var allow []string
	for _, r := range routes {
		allow = append(allow, r.Methods...)
	}
	slices.Sort(allow)
	allow = slices.Compact(allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, route := range routes {
			if slices.Contains(route.Methods, r.Method) {
				m.serve(w, r, route)
				return
			}
		}
		s := routes[0].Surface
		m.instrument(w, r, s, routes[0].Path, func(w http.ResponseWriter) error {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return Errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s; use %s",
				r.Method, r.URL.Path, strings.Join(allow, " or "))
		})
	})
}

func (m *Mux) notFound(s Surface) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.instrument(w, r, s, "unmatched", func(http.ResponseWriter) error {
			return NotFound("no such endpoint: %s %s", r.Method, r.URL.Path)
		})
	})
}

func (m *Mux) serve(w http.ResponseWriter, r *http.Request, route *Route) {
	m.instrument(w, r, route.Surface, route.Path, func(w http.ResponseWriter) error {
		if !route.Op.Implemented() {
			return Errorf(http.StatusNotImplemented, "%s is not implemented yet (planned: %s)",
				strings.TrimSpace(r.Method+" "+route.Path), route.Op.Planned)
		}
		c := &Call{Ctx: r.Context(), R: r, W: w, Route: route}
		p, err := m.authenticate(r, route)
		if err != nil {
			return err
		}
		c.Principal = p
		if route.BodyTimeout != 0 {
			extendBodyDeadline(r, route.BodyTimeout)
		}
		if r.Body != nil {
			limit := m.opts.MaxBody
			if route.MaxBody > 0 {
				limit = route.MaxBody
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		result, err := route.Op.serve(c)
		if err != nil || route.Op.Raw {
			return err
		}
		if e, ok := result.(Encoded); ok && route.Surface == Session {
			writeEncoded(w, route.Surface, e.EncodedJSON())
			return nil
		}
		if fn := m.opts.Appenders[reflect.TypeOf(result)]; fn != nil && route.Surface == Session {
			if writeAppended(w, route.Surface, result, fn) {
				return nil
			}
		}
		WriteResult(w, route.Surface, http.StatusOK, result)
		return nil
	})
}

func (m *Mux) authenticate(r *http.Request, route *Route) (*Principal, error) {
	var p *Principal
	var err error
	if m.opts.Auth != nil {
		p, err = m.opts.Auth.Authenticate(r.Context(), r, route.Surface)
	}
	if route.Access == Public {
		return p, nil // bad credentials don't stop a public call; it just runs anonymously
	}
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, Errorf(http.StatusUnauthorized, "this call needs a token (Authorization: Bearer …)")
	}
	if route.Access == Admin && !p.Admin {
		return nil, Errorf(http.StatusForbidden, "this call is for administrators")
	}
	return p, nil
}

type requestIDKey struct{}

// RequestID returns the id deskhub gave the request (also sent back in X-Request-Id).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var validRequestID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`) })

// instrument runs fn with a request id, panic recovery, error mapping, one log line and metrics.
func (m *Mux) instrument(w http.ResponseWriter, r *http.Request, s Surface, route string, fn func(http.ResponseWriter) error) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id")
	if !validRequestID().MatchString(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	sw := &statusWriter{ResponseWriter: w}
	var cause error
	func() {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				cause = fmt.Errorf("panic: %v", v)
				if !sw.wrote {
					WriteError(sw, s, Internal(cause))
				}
			}
		}()
		if err := fn(sw); err != nil {
			if sw.wrote {
				cause = err // a raw handler failed after starting its answer
				return
			}
			e := WriteError(sw, s, err)
			cause = e.Err
			if cause == nil && e.Status >= 500 {
				cause = e
			}
		}
	}()
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	d := time.Since(start)
	m.metrics.observe(s, route, r.Method, status, d)
	attrs := []slog.Attr{
		slog.String("request_id", id), slog.String("surface", s.String()), slog.String("route", route),
		slog.String("method", r.Method), slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr),
	}
	level := slog.LevelInfo
	if cause != nil {
		attrs = append(attrs, slog.String("error", cause.Error()))
		if status >= 500 {
			level = slog.LevelError
		}
	}
	m.opts.Log.LogAttrs(r.Context(), level, "request", attrs...)
}

// statusWriter remembers the status written, and whether anything was.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, hijack for websockets).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush forwards to the underlying writer (server-sent events).
func (w *statusWriter) Flush() {
	if err := http.NewResponseController(w.ResponseWriter).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return
	}
}
