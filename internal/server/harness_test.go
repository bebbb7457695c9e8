package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/mail"
)

// validated records, across the package's tests, which implemented routes answered 2xx with request and
// answer checked against /openapi.json. TestMain fails the run if one never did.
var validated = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

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
				var missing []string
				for _, r := range s.Routes() {
					if !r.Op.Implemented() || r.Op.Raw {
						continue
					}
					for _, method := range r.Methods {
						if !validated.m[method+" "+r.Path] {
							missing = append(missing, method+" "+r.Path)
						}
					}
				}
				if len(missing) > 0 {
					sort.Strings(missing)
					fmt.Printf("FAIL: implemented endpoints never answered 2xx through the validating harness:\n  %s\n",
						strings.Join(missing, "\n  "))
					code = 1
				}
			}
			st.Close()
		}
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// memMailer keeps mails in memory.
type memMailer struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *memMailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// code returns the code of the last mail to addr.
func (m *memMailer) code(t *testing.T, addr string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].To == addr {
			if c := uuidRE.FindString(m.msgs[i].Body); c != "" {
				return c
			}
		}
	}
	t.Fatalf("no mail with a code to %s", addr)
	return ""
}

func (m *memMailer) count(addr string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, msg := range m.msgs {
		if msg.To == addr {
			n++
		}
	}
	return n
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
	mail   *memMailer
	clock  *clock
	router routers.Router
	remote string
}

type harnessOpt func(*config.Config, *Options)

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	cfg := testConfig(t)
	h := &harness{t: t, mail: &memMailer{}, clock: &clock{t: time.Now().UTC()}, remote: "192.0.2.10:5555"}
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
	if err := json.Unmarshal(rec.Body.Bytes(), &r.Body); err != nil && path != "/metrics" {
		h.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, rec.Body)
	}
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		return r // not a documented route (unknown path tests)
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: validateOpts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code,
		Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: validateOpts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		h.t.Fatalf("%s %s: the %d answer does not match /openapi.json: %v\n%s", method, path, rec.Code, err, rec.Body)
	}
	if rec.Code/100 == 2 {
		if reqErr != nil {
			h.t.Fatalf("%s %s: accepted a request /openapi.json does not allow: %v\n%s", method, path, reqErr, raw)
		}
		validated.Lock()
		validated.m[method+" "+route.Path] = true
		validated.Unlock()
	}
	return r
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
