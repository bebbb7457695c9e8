package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

func openSQLite(t testing.TB, dir string) store.Store { return openSQLiteTB(t, dir) }

func openStoreForMain(dir string) (store.Store, error) {
	return sqlite.Open(context.Background(), dir+"/deskhub.db", nil)
}

func openSQLiteTB(t testing.TB, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dir+"/deskhub.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newTestServerWith(t *testing.T, cfg config.Config, st store.Store) *Server {
	t.Helper()
	if st == nil {
		st = openSQLite(t, cfg.DataDir)
	}
	s, err := New(Options{Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testConfig(t testing.TB) config.Config { return testConfigDir(t.TempDir()) }

func testConfigDir(dir string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:18080"
	cfg.Hostname = "deskhub-test"
	return cfg
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	return newTestServerWith(t, testConfig(t), nil)
}

func call(t *testing.T, h http.Handler, method, path, body string) (*http.Request, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return req, rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer is not JSON: %q", rec.Body)
	}
	return m
}

// TestPublicCallsMatchOpenAPI calls every implemented public endpoint that takes no parameters, with
// every method it takes, through the validating harness. Raw calls: it walks the route table by path and
// method, which the SDK (one method per endpoint) does not.
func TestPublicCallsMatchOpenAPI(t *testing.T) {
	h := newHarness(t)
	checked := 0
	for _, r := range h.s.Routes() {
		if !r.Op.Implemented() || r.Access != httpapi.Public || r.Op.Req != reflect.TypeFor[httpapi.Empty]() {
			continue
		}
		for _, method := range r.Methods {
			body := any("{}")
			if method == http.MethodGet {
				body = nil
			}
			h.call(method, r.Path, "", body).want(t, http.StatusOK)
			checked++
		}
	}
	if checked < 9 {
		t.Fatalf("only %d calls checked", checked)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	c := h.client("")
	ctx := context.Background()
	// The JSON:API envelope and its media type (raw: the wire shape is the point).
	rec := h.call("POST", "/api/v1/health.alive", "", nil).want(t, 200)
	if rec.Header.Get("Content-Type") != "application/vnd.api+json" || rec.str("data", "type") != "health" {
		t.Fatalf("alive: %v %s", rec.Header, rec.Raw)
	}
	if a, err := c.Alive(ctx); err != nil || a.Status != "ok" {
		t.Fatalf("alive: %+v, %v", a, err)
	}
	if r, err := c.Ready(ctx); err != nil || r.Store != "sqlite" {
		t.Fatalf("ready: %+v, %v", r, err)
	}
	// With the store gone, ready says so (alive does not care).
	h.s.store.Close()
	_, err := c.Ready(ctx)
	wantErr(t, err, http.StatusServiceUnavailable, "store does not answer")
	if _, err := c.Alive(ctx); err != nil {
		t.Fatalf("alive with a closed store: %v", err)
	}
}

func TestConfigGetReflectsConfiguration(t *testing.T) {
	h := newHarness(t, func(cfg *config.Config, _ *Options) {
		cfg.Features.DisableUserRegistration = true
		cfg.Features.DisableSSHKeyAdd = true
		cfg.Features.WebAuthnEnabled = false
	})
	got, err := h.client("").InfraConfig(context.Background())
	must(t, err)
	want := vmm.ConfigAttributes{DisableUserRegistration: true, DisableUserRecovery: false,
		DisableServerAdd: false, DisableSSHKeyAdd: true, WebauthEnabled: false, SimplestreamEnabled: true, Stream: got.Stream}
	if got != want {
		t.Errorf("config.get %+v, want %+v", got, want)
	}
	if len(got.Stream) != 36 {
		t.Errorf("stream %v is not a fresh id", got.Stream)
	}
}

func TestFastXDiscovery(t *testing.T) {
	cfg := testConfig(t)
	cfg.SSH.HidePasswordField = true
	cfg.Display.Geometry = "1600x900"
	s := newTestServerWith(t, cfg, nil)
	// Raw calls: both paths with both methods (the SDK calls one).
	for _, method := range []string{"GET", "POST"} {
		for _, path := range []string{"/v3/api", "/v3/api/config"} {
			_, rec := call(t, s.Handler(), method, path, "")
			res := decode(t, rec)["result"].(map[string]any)
			if rec.Code != 200 || res["version"] != 3.0 || res["serverId"] != s.ServerID() || res["port"] != 18080.0 ||
				res["hostname"] != "deskhub-test" || res["ssh"].(map[string]any)["hidePasswordField"] != true {
				t.Fatalf("%s %s: %d %v", method, path, rec.Code, res)
			}
			if servers := res["servers"].([]any); len(servers) != 1 || servers[0] != s.ServerID() {
				t.Fatalf("servers %v", servers)
			}
		}
	}
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Display.Geometry = "1600x900" })
	if x, err := h.client("").XrdpConfig(context.Background()); err != nil || x.Geometry != "1600x900" || x.ColorDepth != 24 || x.FrameRate != 60 {
		t.Fatalf("xrdp config %+v, %v", x, err)
	}
	// The server id survives a restart on the same data dir.
	s2 := newTestServerWith(t, cfg, nil)
	if s2.ServerID() != s.ServerID() {
		t.Fatalf("server id changed across restarts: %s → %s", s.ServerID(), s2.ServerID())
	}
}

func TestMetricsEndpoint(t *testing.T) {
	s := newTestServer(t)
	call(t, s.Handler(), "POST", "/api/v1/health.alive", "{}")
	call(t, s.Handler(), "POST", "/api/v1/nothing.here", "{}")
	_, rec := call(t, s.Handler(), "GET", "/metrics", "")
	body := rec.Body.String()
	for _, want := range []string{
		`deskhub_http_requests_total{method="POST",route="/api/v1/health.alive",status="200",surface="infra"} 1`,
		`deskhub_http_requests_total{method="POST",route="unmatched",status="404",surface="infra"} 1`,
		`deskhub_http_request_duration_seconds_bucket{method="POST",route="/api/v1/health.alive",status="200",surface="infra",le="0.005"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestGracefulShutdown: cancelling Serve's context lets a request in flight finish, then Serve returns
// nil.
func TestGracefulShutdown(t *testing.T) {
	s := newTestServer(t)
	started := make(chan struct{})
	s.mux.HandleFunc("/test/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(500 * time.Millisecond)
		_, _ = w.Write([]byte("done"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/test/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request: %q", body)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestRoutesHaveSurfacePrefixes(t *testing.T) {
	s := newTestServer(t)
	prefix := map[httpapi.Surface]string{httpapi.Infra: "/api/v1/", httpapi.Session: "/v3/", httpapi.Agent: "/spawner/{session_id}/"}
	for _, r := range s.Routes() {
		// abcdesktop's routes: /spawner/<endpoint> (the desktop named by the token) and /broadcast.
		if r.Surface == httpapi.Agent && (r.Path == "/broadcast" || strings.Count(r.Path, "/") == 2 && strings.HasPrefix(r.Path, "/spawner/")) {
			continue
		}
		// The desktop's sound: a websocket beside the display's /ws/display/{id}.
		if r.Surface == httpapi.Agent && r.Path == audioPath {
			continue
		}
		if !strings.HasPrefix(r.Path, prefix[r.Surface]) {
			t.Errorf("%s route %s is outside %s", r.Surface, r.Path, prefix[r.Surface])
		}
		if r.Surface == httpapi.Session && (len(r.Methods) != 2 || r.Methods[0] != "GET" || r.Methods[1] != "POST") {
			t.Errorf("session route %s takes %v, want GET and POST", r.Path, r.Methods)
		}
	}
}
