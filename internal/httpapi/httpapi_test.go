package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deskhub/deskhub/api/field"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

type echoReq struct {
	Name  string   `json:"name" required:"true"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner *struct {
		Key string `json:"key" required:"true"`
	} `json:"inner"`
	Items []struct {
		ID int `json:"id" required:"true"`
	} `json:"items"`
}

func (r *echoReq) Validate() error {
	if r.Count < 0 {
		return BadRequest("count", "count must not be negative")
	}
	return nil
}

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, r *http.Request, _ Surface) (*Principal, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return nil, nil
	case "Bearer user":
		return &Principal{UserID: 1, Login: "u"}, nil
	case "Bearer admin":
		return &Principal{UserID: 2, Login: "a", Admin: true}, nil
	}
	return nil, Errorf(http.StatusUnauthorized, "token is not valid")
}

// testMux serves one echo route per surface plus failure routes, and counts handler calls.
func testMux(t *testing.T, calls *atomic.Int64) (*Mux, *prometheus.Registry) {
	t.Helper()
	echo := Op(func(c *Call, r *echoReq) (*echoReq, error) {
		calls.Add(1)
		return r, nil
	})
	reg := prometheus.NewRegistry()
	m := NewMux(Options{Registerer: reg, Auth: fakeAuth{}, MaxBody: 2048},
		[]Route{
			{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/echo.do", Op: echo},
			{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/later.do", Op: Planned[Empty, Empty]("issue 9")},
			{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/notfound.do", Op: Op(func(*Call, *Empty) (any, error) {
				return nil, fmt.Errorf("user %q: %w", "bob", store.ErrNotFound)
			})},
			{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/panic.do", Op: Op(func(*Call, *Empty) (any, error) {
				panic("boom")
			})},
		},
		[]Route{
			{Surface: Session, Methods: []string{"GET", "POST"}, Path: "/v3/api/echo", Op: echo},
			{Surface: Session, Methods: []string{"GET", "POST"}, Path: "/v3/api/private", Access: User, Op: echo},
			{Surface: Session, Methods: []string{"GET", "POST"}, Path: "/v3/system/admin", Access: Admin, Op: echo},
		},
		[]Route{
			{Surface: Agent, Methods: []string{"GET"}, Path: "/spawner/{session_id}/echo", Op: echo},
			{Surface: Agent, Methods: []string{"PUT"}, Path: "/spawner/{session_id}/echo2", Op: Op(func(c *Call, _ *Empty) (string, error) {
				return c.R.PathValue("session_id"), nil
			})},
		},
	)
	return m, reg
}

type reply struct {
	status int
	body   map[string]any
	header http.Header
}

func do(t *testing.T, h http.Handler, method, target, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %q", method, target, rec.Body.String())
	}
	return reply{rec.Code, m, rec.Header()}
}

func infraDetail(t *testing.T, r reply) string {
	t.Helper()
	errs, ok := r.body["errors"].([]any)
	if !ok || len(errs) != 1 {
		t.Fatalf("not a JSON:API error document: %v", r.body)
	}
	e := errs[0].(map[string]any)
	if e["status"] != fmt.Sprint(r.status) {
		t.Fatalf("error status %v does not match HTTP status %d", e["status"], r.status)
	}
	return e["detail"].(string)
}

func sessionMessage(t *testing.T, r reply) string {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	if !ok || e["name"] == "" {
		t.Fatalf("not a session error envelope: %v", r.body)
	}
	return e["message"].(string)
}

func TestDecodeRejectsBadInput(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	cases := []struct {
		name, body string
		status     int
		want       string // substring of the message
	}{
		{"malformed", `{"name":`, 400, "malformed JSON"},
		{"syntax", `{"name" "x"}`, 400, "malformed JSON at byte"},
		{"not an object", `[1,2]`, 400, "must be a JSON object"},
		{"null", `null`, 400, "must be a JSON object"},
		{"missing required", `{"count":1}`, 400, `"name" is required`},
		{"null required", `{"name":null}`, 400, `"name" is required`},
		{"wrong type string", `{"name":5}`, 400, `member "name" must be a string, not number`},
		{"wrong type int", `{"name":"a","count":"7"}`, 400, `member "count" must be an integer, not string`},
		{"float for int", `{"name":"a","count":1.5}`, 400, `"count" must be an integer`},
		{"wrong array", `{"name":"a","tags":"x"}`, 400, `"tags" must be an array`},
		{"nested required", `{"name":"a","inner":{}}`, 400, `"inner.key" is required`},
		{"required in array", `{"name":"a","items":[{"id":1},{}]}`, 400, `"items[1].id" is required`},
		{"validate", `{"name":"a","count":-1}`, 400, "count must not be negative"},
		{"unknown member", `{"name":"a","colour":"red"}`, 400, `member "colour" is not known; this call takes name, count, tags, inner, items`},
		{"unknown nested", `{"name":"a","inner":{"key":"k","x":1}}`, 400, `member "inner.x" is not known`},
		{"unknown in array", `{"name":"a","items":[{"id":1,"y":2}]}`, 400, `member "items[0].y" is not known`},
		{"unknown in JSON:API", `{"data":{"type":"e","attributes":{"name":"a","z":1}}}`, 400, `member "z" is not known`},
		{"too large", `{"name":"` + strings.Repeat("x", 4096) + `"}`, 413, "larger than the limit of 2048 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, m, "POST", "/api/v1/echo.do", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%v)", r.status, tc.status, r.body)
			}
			if d := infraDetail(t, r); !strings.Contains(d, tc.want) {
				t.Fatalf("detail %q does not contain %q", d, tc.want)
			}
			if r.header.Get("Content-Type") != "application/vnd.api+json" {
				t.Fatalf("content type %q", r.header.Get("Content-Type"))
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the handler ran %d times on rejected requests", n)
	}
	r := do(t, m, "POST", "/api/v1/echo.do", `{"name":"x","count":1}`)
	if r.status != 200 || r.body["name"] != "x" || calls.Load() != 1 {
		t.Fatalf("good request: %d %v", r.status, r.body)
	}
}

func TestFieldPointer(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	r := do(t, m, "POST", "/api/v1/echo.do", `{"name":3}`)
	src := r.body["errors"].([]any)[0].(map[string]any)["source"].(map[string]any)
	if src["pointer"] != "/data/attributes/name" {
		t.Fatalf("pointer %v", src["pointer"])
	}
}

// countReq is a request whose Validate reports a *field.Error, as the api/... wire types do.
type countReq struct {
	Count int  `json:"count"`
	Wrap  bool `json:"wrap"`
}

func (r *countReq) Validate() error {
	if r.Count < 0 {
		err := field.Errorf("count", "must not be negative, not %d", r.Count)
		if r.Wrap {
			return fmt.Errorf("checking the request: %w", err)
		}
		return err
	}
	return nil
}

func TestFieldErrorPointer(t *testing.T) {
	m := NewMux(Options{Registerer: prometheus.NewRegistry(), Auth: fakeAuth{}}, []Route{
		{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/count.do", Op: Op(func(_ *Call, r *countReq) (*countReq, error) {
			return r, nil
		})},
	})
	for _, body := range []string{
		`{"count":-2}`,
		`{"count":-2,"wrap":true}`,
		`{"data":{"type":"count","attributes":{"count":-2}}}`,
	} {
		r := do(t, m, "POST", "/api/v1/count.do", body)
		if r.status != 400 {
			t.Fatalf("%s: status %d, want 400 (%v)", body, r.status, r.body)
		}
		if d, want := infraDetail(t, r), `member "count" must not be negative, not -2`; d != want {
			t.Fatalf("%s: detail %q, want %q", body, d, want)
		}
		src, _ := r.body["errors"].([]any)[0].(map[string]any)["source"].(map[string]any)
		if src["pointer"] != "/data/attributes/count" {
			t.Fatalf("%s: source %v, want pointer /data/attributes/count", body, src)
		}
	}
	if r := do(t, m, "POST", "/api/v1/count.do", `{"count":1}`); r.status != 200 || r.body["count"] != 1.0 {
		t.Fatalf("good request: %d %v", r.status, r.body)
	}
}

func TestJSONPointer(t *testing.T) {
	for in, want := range map[string]string{"name": "/name", "items[1].id": "/items/1/id", "a/b~c": "/a~1b~0c",
		"inner.key": "/inner/key", "filter[0]": "/filter/0"} {
		if got := jsonPointer(in); got != want {
			t.Errorf("jsonPointer(%q) = %q, want %q", in, got, want)
		}
	}
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	r := do(t, m, "POST", "/api/v1/echo.do", `{"name":"a","items":[{"id":1},{}]}`)
	src := r.body["errors"].([]any)[0].(map[string]any)["source"].(map[string]any)
	if src["pointer"] != "/data/attributes/items/1/id" {
		t.Fatalf("pointer %v", src["pointer"])
	}
}

func TestEnvelopes(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)

	// Infrastructure: flat body and JSON:API wrapper both accepted; answer is what the handler returns.
	for _, body := range []string{`{"name":"a","count":2}`, `{"data":{"type":"echo","attributes":{"name":"a","count":2}}}`} {
		r := do(t, m, "POST", "/api/v1/echo.do", body)
		if r.status != 200 || r.body["name"] != "a" || r.body["count"] != 2.0 {
			t.Fatalf("infra echo of %s: %d %v", body, r.status, r.body)
		}
	}
	// Session: {"result": …}, by POST body or GET query.
	r := do(t, m, "POST", "/v3/api/echo", `{"name":"b","tags":["x"]}`)
	if res, ok := r.body["result"].(map[string]any); r.status != 200 || !ok || res["name"] != "b" {
		t.Fatalf("session POST: %d %v", r.status, r.body)
	}
	r = do(t, m, "GET", "/v3/api/echo?name=c&count=3&tags=x&tags=y&_=1", "")
	res, _ := r.body["result"].(map[string]any)
	if r.status != 200 || res["name"] != "c" || res["count"] != 3.0 || len(res["tags"].([]any)) != 2 {
		t.Fatalf("session GET: %d %v", r.status, r.body)
	}
	r = do(t, m, "GET", "/v3/api/echo?name=c&bogus=1", "")
	if r.status != 400 || !strings.Contains(sessionMessage(t, r), `member "bogus" is not known`) {
		t.Fatalf("session GET unknown parameter: %d %v", r.status, r.body)
	}
	r = do(t, m, "GET", "/v3/api/echo?name=c&count=three", "")
	if r.status != 400 || !strings.Contains(sessionMessage(t, r), `"count" must be an integer`) {
		t.Fatalf("session GET bad type: %d %v", r.status, r.body)
	}
	if r.body["error"].(map[string]any)["name"] != "BadRequest" {
		t.Fatalf("session error name: %v", r.body)
	}
	// Agent: {"code": status, "data": …}.
	r = do(t, m, "GET", "/spawner/s1/echo?name=d", "")
	if data, ok := r.body["data"].(map[string]any); r.status != 200 || r.body["code"] != 200.0 || !ok || data["name"] != "d" {
		t.Fatalf("agent GET: %d %v", r.status, r.body)
	}
	r = do(t, m, "PUT", "/spawner/abc/echo2", `{}`)
	if r.body["data"] != "abc" {
		t.Fatalf("path value: %v", r.body)
	}
	r = do(t, m, "GET", "/spawner/s1/echo", "")
	if r.status != 400 || r.body["code"] != 400.0 || !strings.Contains(r.body["data"].(string), `"name" is required`) {
		t.Fatalf("agent error: %d %v", r.status, r.body)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	r := do(t, m, "POST", "/api/v1/nope.nope", `{}`)
	if r.status != 404 || !strings.Contains(infraDetail(t, r), "no such endpoint") {
		t.Fatalf("infra unknown: %d %v", r.status, r.body)
	}
	r = do(t, m, "GET", "/v3/api/nope", "")
	if r.status != 404 || sessionMessage(t, r) == "" {
		t.Fatalf("session unknown: %d %v", r.status, r.body)
	}
	r = do(t, m, "GET", "/spawner/x/nope", "")
	if r.status != 404 || r.body["code"] != 404.0 {
		t.Fatalf("agent unknown: %d %v", r.status, r.body)
	}
	r = do(t, m, "GET", "/api/v1/echo.do", "")
	if r.status != 405 || r.header.Get("Allow") != "POST" || !strings.Contains(infraDetail(t, r), "use POST") {
		t.Fatalf("infra wrong method: %d %v %v", r.status, r.header, r.body)
	}
	r = do(t, m, "DELETE", "/v3/api/echo", "")
	if r.status != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("session wrong method: %d %v", r.status, r.header)
	}
	if calls.Load() != 0 {
		t.Fatal("handler ran on unknown route or method")
	}
}

func TestErrorMapping(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	r := do(t, m, "POST", "/api/v1/notfound.do", `{}`)
	if r.status != 404 || !strings.Contains(infraDetail(t, r), `user "bob": not found`) {
		t.Fatalf("not found: %d %v", r.status, r.body)
	}
	r = do(t, m, "POST", "/api/v1/panic.do", `{}`)
	if r.status != 500 || infraDetail(t, r) != "internal error" {
		t.Fatalf("panic: %d %v", r.status, r.body)
	}
	r = do(t, m, "POST", "/api/v1/later.do", `{}`)
	if r.status != 501 || !strings.Contains(infraDetail(t, r), "planned: issue 9") {
		t.Fatalf("planned: %d %v", r.status, r.body)
	}
	if AsError(errors.New("secret cause")).Msg != "internal error" {
		t.Fatal("an unknown error leaks its cause to the client")
	}
}

func TestAccess(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	body := `{"name":"a"}`
	if r := do(t, m, "POST", "/v3/api/private", body); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	if r := do(t, m, "POST", "/v3/api/private", body, "Authorization", "Bearer bad"); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	if r := do(t, m, "POST", "/v3/api/private", body, "Authorization", "Bearer user"); r.status != 200 {
		t.Fatalf("user token: %d %v", r.status, r.body)
	}
	if r := do(t, m, "POST", "/v3/system/admin", body, "Authorization", "Bearer user"); r.status != 403 {
		t.Fatalf("user on admin route: %d", r.status)
	}
	if r := do(t, m, "POST", "/v3/system/admin", body, "Authorization", "Bearer admin"); r.status != 200 {
		t.Fatalf("admin: %d", r.status)
	}
	if r := do(t, m, "POST", "/v3/api/echo", body, "Authorization", "Bearer bad"); r.status != 200 {
		t.Fatalf("bad token on a public route should run anonymously: %d", r.status)
	}
}

func TestMetricsAndRequestID(t *testing.T) {
	var calls atomic.Int64
	m, reg := testMux(t, &calls)
	r := do(t, m, "POST", "/api/v1/echo.do", `{"name":"a"}`, "X-Request-Id", "client-chosen-id-1")
	if r.header.Get("X-Request-Id") != "client-chosen-id-1" {
		t.Fatalf("request id not echoed: %v", r.header)
	}
	r = do(t, m, "POST", "/api/v1/echo.do", `{`, "X-Request-Id", "bad id with spaces")
	if id := r.header.Get("X-Request-Id"); len(id) != 16 {
		t.Fatalf("bad request id should be replaced: %q", id)
	}
	do(t, m, "BREW", "/api/v1/echo.do", "")
	want := `
# HELP deskhub_http_requests_total HTTP requests answered, by surface, route pattern, method and status.
# TYPE deskhub_http_requests_total counter
deskhub_http_requests_total{method="OTHER",route="/api/v1/echo.do",status="405",surface="infra"} 1
deskhub_http_requests_total{method="POST",route="/api/v1/echo.do",status="200",surface="infra"} 1
deskhub_http_requests_total{method="POST",route="/api/v1/echo.do",status="400",surface="infra"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "deskhub_http_requests_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "deskhub_http_request_duration_seconds"); n != 3 {
		t.Fatalf("latency histogram series: %d, want 3", n)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"data":{"attributes":{"name":"x","items":[{"id":1}]}}}`,
		`{"name":1}`, `[]`, `null`, `{"inner":{"key":null}}`, "{\"name\":\"\xff\"}"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, unwrap bool) {
		var r echoReq
		err := DecodeJSON(body, &r, unwrap)
		if err == nil {
			if r.Name == "" && !json.Valid(body) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != 400 {
			t.Fatalf("decode error is not a 400 *Error: %v", err)
		}
	})
}

// TestFaultKinds: every kind of domain error maps to a status of its own class, keeps its client
// message, member and Retry-After, and an internal one never shows its message.
func TestFaultKinds(t *testing.T) {
	for k := fault.Internal; k <= fault.Changed; k++ {
		e := AsError(fmt.Errorf("wrapped: %w", &fault.Error{Kind: k, Msg: "say this", Field: "m", RetryAfter: 3}))
		switch {
		case e.Status == 0:
			t.Errorf("kind %d has no status", k)
		case k == fault.Internal:
			if e.Status != 500 || e.Msg != "internal error" {
				t.Errorf("internal: %d %q", e.Status, e.Msg)
			}
		case e.Msg != "say this" || e.Field != "m" || e.RetryAfter != 3:
			t.Errorf("kind %d: %+v", k, e)
		}
	}
	if e := AsError(fault.Invalidf("geometry", "member %q is bad", "geometry")); e.Status != 400 || e.Field != "geometry" {
		t.Errorf("Invalidf: %+v", e)
	}
}

// TestAppenders: a result whose type has an Appender is written by it inside the session envelope,
// with the same headers as encoding/json's answer; an appender that declines leaves it to encoding/json.
func TestAppenders(t *testing.T) {
	type item struct {
		N int    `json:"n"`
		S string `json:"s"`
	}
	declined := false
	app := func(dst []byte, v any) ([]byte, bool) {
		items := v.([]item)
		if len(items) > 0 && items[0].S == "decline" {
			declined = true
			return dst, false
		}
		b, _ := json.Marshal(items)
		return append(dst, b...), true
	}
	route := func(items []item) Route {
		return Route{Surface: Session, Methods: []string{"POST"}, Path: "/v3/api/items" + fmt.Sprint(len(items)), Access: Public,
			Op: Op(func(*Call, *Empty) ([]item, error) { return items, nil })}
	}
	a := []item{{1, "<a&b>"}, {2, "x"}}
	d := []item{{3, "decline"}}
	with := NewMux(Options{Appenders: map[reflect.Type]Appender{reflect.TypeFor[[]item](): app}}, []Route{route(a), route(d)})
	without := NewMux(Options{}, []Route{route(a), route(d)})
	for _, path := range []string{"/v3/api/items2", "/v3/api/items1"} {
		var answers [2]*httptest.ResponseRecorder
		for i, m := range []*Mux{with, without} {
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(`{}`)))
			answers[i] = rec
		}
		got, want := answers[0], answers[1]
		if got.Code != 200 || got.Body.String() != want.Body.String() {
			t.Errorf("%s: with the appender %d %q, without %d %q", path, got.Code, got.Body, want.Code, want.Body)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "X-Content-Type-Options"} {
			if got.Header().Get(h) != want.Header().Get(h) {
				t.Errorf("%s: %s %q with the appender, %q without", path, h, got.Header().Get(h), want.Header().Get(h))
			}
		}
	}
	if !declined {
		t.Error("the declining appender was not asked")
	}
}
