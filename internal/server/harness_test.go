package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/contract"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/mail/mailtest"
)

// validated records, across the package's tests, which implemented routes answered 2xx with request and
// answer checked against /openapi.json; fulfilled, which answered 2xx checked against the contract in
// the repository (contract/contract.json). TestMain fails the run if one never did.
var validated = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

var fulfilled = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// theContract is contract/contract.json, the contract written from the seeds and the real clients.
var theContract = func() *contract.Contract {
	c, err := contract.Load()
	if err != nil {
		panic(err)
	}
	return c
}()

func TestMain(m *testing.M) {
	code := lxdtest.Main(m)
	if code == 0 && os.Getenv("DESKHUB_SKIP_COVERAGE_CHECK") == "" && !strings.Contains(strings.Join(os.Args, " "), "-test.run") {
		cfg := config.Default()
		dir, _ := os.MkdirTemp("", "deskhub-cov")
		cfg.DataDir = dir
		st, err := openStoreForMain(dir)
		if err == nil {
			s, err := New(Options{Config: cfg, Store: st})
			if err == nil {
				var missing, unfulfilled []string
				for _, r := range s.Routes() {
					if !r.Op.Implemented() || r.Op.Raw && !r.Op.Document {
						continue
					}
					for _, method := range r.Methods {
						if !validated.m[method+" "+r.Path] {
							missing = append(missing, method+" "+r.Path)
						}
						if e, ok := theContract.Find(method, r.Path); ok && e.Stream == "" && !fulfilled.m[method+" "+r.Path] {
							unfulfilled = append(unfulfilled, method+" "+r.Path)
						}
					}
				}
				if len(missing) > 0 {
					sort.Strings(missing)
					fmt.Printf("FAIL: implemented endpoints never answered 2xx through the validating harness:\n  %s\n",
						strings.Join(missing, "\n  "))
					code = 1
				}
				if len(unfulfilled) > 0 {
					sort.Strings(unfulfilled)
					fmt.Printf("FAIL: endpoints never answered 2xx checked against contract/contract.json:\n  %s\n",
						strings.Join(unfulfilled, "\n  "))
					code = 1
				}
			}
			st.Close()
		}
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a server with a validating client.
type harness struct {
	t      testing.TB
	s      *Server
	mail   *mailtest.Mailer
	clock  *clock
	router routers.Router
	remote string
	// root is the test that made the harness; listeners (see url) serve h.s to SDK clients.
	root      testing.TB
	listeners *listeners
}

type harnessOpt func(*config.Config, *Options)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	cfg := testConfig(t)
	h := &harness{t: t, mail: &mailtest.Mailer{}, clock: &clock{t: time.Now().UTC()}, remote: "192.0.2.10:5555",
		root: t, listeners: &listeners{m: map[*Server]*httptest.Server{}}}
	o := Options{Config: cfg, Mailer: h.mail, Now: h.clock.Now, Throttle: auth.ThrottleOptions{Free: 3, Base: time.Second}}
	for _, f := range opts {
		f(&o.Config, &o)
	}
	o.Store = openSQLite(t, o.Config.DataDir)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	doc, err := openapi3.NewLoader().LoadFromData(s.openapi)
	if err != nil {
		t.Fatal(err)
	}
	if h.router, err = legacy.NewRouter(doc); err != nil {
		t.Fatal(err)
	}
	return h
}

// get sends a GET with the parameters in the query string, as FastX clients may.
func (h *harness) get(path, token string, params url.Values, headers ...string) reply {
	h.t.Helper()
	if len(params) > 0 {
		path += "?" + params.Encode()
	}
	return h.call("GET", path, token, nil, headers...)
}

// with returns the harness for a subtest (failures must go to the subtest's t).
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// reply is an answer decoded as a generic JSON object.
type reply struct {
	Status int
	Body   map[string]any
	Header http.Header
	Raw    string
}

// get digs into the body: get("data", "attributes", "token").
func (r reply) get(path ...any) any {
	var v any = r.Body
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func (r reply) str(path ...any) string { s, _ := r.get(path...).(string); return s }

// detail is the error message of any surface's error envelope.
func (r reply) detail() string {
	if s := r.str("errors", 0, "detail"); s != "" {
		return s
	}
	if s := r.str("error", "message"); s != "" {
		return s
	}
	return r.str("data")
}

var validateOpts = &openapi3filter.Options{
	IncludeResponseStatus:   true,
	MultiError:              true,
	SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()},
	AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
}

// call sends one request; body is a JSON string or a value to encode ("" and nil: no body). Headers
// come in pairs. Every request and answer is checked against /openapi.json: a 2xx answer that does
// not match fails the test, and a matching one marks its route as validated.
func (h *harness) call(method, path, token string, body any, headers ...string) reply {
	h.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.RemoteAddr = h.remote
	if len(raw) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, req)
	r := reply{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	// Answers are JSON objects, but for abcdesktop's getmimeforfile (a bare string) and /metrics.
	if err := json.Unmarshal(rec.Body.Bytes(), &r.Body); err != nil && path != "/metrics" && !json.Valid(rec.Body.Bytes()) {
		h.t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body)
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	if err := h.validate(req, raw, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// validate checks a request (its body raw) and its answer against /openapi.json. An answer that does
// not match is an error whatever its status; a 2xx answer to a request the document does not allow is
// one too, and a 2xx answer that matches marks its route as validated. Requests to undocumented paths
// (unknown path tests) are not checked.
func (h *harness) validate(req *http.Request, raw []byte, status int, header http.Header, body []byte) error {
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		return nil
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: validateOpts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status,
		Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: validateOpts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s: the %d answer does not match /openapi.json: %v\n%s", req.Method, req.URL.Path, status, err, body)
	}
	if status/100 == 2 {
		if reqErr != nil {
			return fmt.Errorf("%s %s: accepted a request /openapi.json does not allow: %v\n%s", req.Method, req.URL.Path, reqErr, raw)
		}
		validated.Lock()
		validated.m[req.Method+" "+route.Path] = true
		validated.Unlock()
		if err := checkContract(req, raw, header, body, route.Path); err != nil {
			return err
		}
	}
	return nil
}

// checkContract holds a 2xx exchange against the contract's entry for its route (method and path
// template): the request's members (body, or query) and the answer's. Streams are not documents, and
// multipart uploads are not JSON: their requests are not checked.
func checkContract(req *http.Request, raw []byte, header http.Header, body []byte, path string) error {
	e, ok := theContract.Find(req.Method, path)
	if !ok {
		return fmt.Errorf("%s %s: answered 2xx, but contract/contract.json has no such endpoint", req.Method, path)
	}
	if e.Stream != "" || strings.HasPrefix(header.Get("Content-Type"), "text/event-stream") {
		return nil
	}
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/") {
		if ps := e.CheckRequest(raw, req.URL.Query()); len(ps) > 0 {
			return fmt.Errorf("%s %s: answered 2xx to a request contract/contract.json does not allow: %v\n%s", req.Method, req.URL.Path, ps, raw)
		}
	}
	if ps := e.CheckAnswer(body); len(ps) > 0 {
		return fmt.Errorf("%s %s: the answer breaks contract/contract.json: %v\n%s", req.Method, req.URL.Path, ps, body)
	}
	fulfilled.Lock()
	fulfilled.m[req.Method+" "+path] = true
	fulfilled.Unlock()
	return nil
}

// client answers an SDK client of the harness's server sending token ("": none) and the headers (in
// pairs) on every request. It talks HTTP to a real listener of the server's handler (so websockets and
// event streams work; the server sees the harness's remote address), through a transport that checks
// every request and answer against /openapi.json as call does: a mismatch fails the test and makes the
// call fail, and 2xx answers count for TestMain's coverage check.
func (h *harness) client(token string, headers ...string) *client.Client {
	h.t.Helper()
	tr := &validatingTransport{h: h, base: http.DefaultTransport, header: http.Header{}}
	for i := 0; i+1 < len(headers); i += 2 {
		tr.header.Set(headers[i], headers[i+1])
	}
	c, err := client.New(h.url(), &client.Options{Token: token, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// url answers the base URL of a listener serving h.s (one per server, closed at the end of the test
// that made the harness).
func (h *harness) url() string {
	h.listeners.Lock()
	defer h.listeners.Unlock()
	if ts := h.listeners.m[h.s]; ts != nil {
		return ts.URL
	}
	handler, remote := h.s.Handler(), h.remote
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = remote
		if a := r.Header.Get(remoteHeader); a != "" {
			r.RemoteAddr = a
		}
		r.Header.Del(remoteHeader)
		handler.ServeHTTP(w, r)
	}))
	h.listeners.m[h.s] = ts
	h.root.Cleanup(ts.Close)
	return ts.URL
}

// wantErr fails unless err is an answer of the server with the status whose message contains detail.
func wantErr(t testing.TB, err error, status int, detail string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want a %d answer", err, err, status)
	}
	if e.Status != status || !strings.Contains(e.Message, detail) {
		t.Fatalf("got %d %q, want %d with %q", e.Status, e.Message, status, detail)
	}
	return e
}

// must fails the test on an error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// listeners are a harness's HTTP listeners, by server (a copied harness with another server gets its
// own).
type listeners struct {
	sync.Mutex
	m map[*Server]*httptest.Server
}

// remoteHeader carries the harness's remote address at the time of each SDK call from the transport
// to the listener, which makes it the request's RemoteAddr and drops it: a test that changes h.remote
// (throttling per address) changes it for its clients' next calls, as for call's.
const remoteHeader = "X-Deskhub-Harness-Remote"

// validatingTransport is the harness's checks as an http.RoundTripper for the SDK.
type validatingTransport struct {
	h      *harness
	base   http.RoundTripper
	header http.Header
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var raw []byte
	if req.Body != nil {
		var err error
		if raw, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	req = req.Clone(req.Context())
	if req.Body != nil {
		req.Body = io.NopCloser(bytes.NewReader(raw))
	}
	for k, vs := range v.header {
		req.Header[k] = vs
	}
	req.Header.Set(remoteHeader, v.h.remote)
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// Websocket upgrades and event streams are not documents to check: they pass as they are.
	if resp.StatusCode == http.StatusSwitchingProtocols || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := httptest.NewRequest(req.Method, req.URL.RequestURI(), bytes.NewReader(raw))
	check.Header = req.Header.Clone()
	check.Header.Del(remoteHeader)
	if err := v.h.validate(check, raw, resp.StatusCode, resp.Header, body); err != nil {
		v.h.t.Error(err) // Error, not Fatal: the SDK may call from any goroutine
		return nil, err
	}
	return resp, nil
}

// want fails unless the answer has the status.
func (r reply) want(t testing.TB, status int) reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

func (r reply) wantErr(t testing.TB, status int, detail string) reply {
	t.Helper()
	r.want(t, status)
	if !strings.Contains(r.detail(), detail) {
		t.Fatalf("error %q does not contain %q", r.detail(), detail)
	}
	return r
}

// TestHarnessClient: the SDK client's calls are checked and counted like call's, and the server sees
// the harness's remote address.
func TestHarnessClient(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	validated.Lock()
	delete(validated.m, "POST /api/v1/health.alive")
	validated.Unlock()
	if a, err := h.client("").Alive(ctx); err != nil || a.Status != "ok" {
		t.Fatalf("Alive: %+v, %v", a, err)
	}
	validated.Lock()
	ok := validated.m["POST /api/v1/health.alive"]
	validated.Unlock()
	if !ok {
		t.Fatal("an SDK call did not count as validated")
	}
	if _, err := h.client("dh_forged").ListTokens(ctx); client.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("a forged token: %v", err)
	}
}
