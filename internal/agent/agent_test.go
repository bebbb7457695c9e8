package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/spawner"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = "127.0.0.1:5000"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: %q", path, rec.Body)
	}
	return rec.Code, m
}

func TestAgentBasics(t *testing.T) {
	a, err := New(Options{Display: ":99", Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // its PulseAudio, if a test started one
	h := a.Handler()
	code, v := get(t, h, "/version")
	if code != 200 || v["code"] != 200.0 || v["data"].(map[string]any)["version"] == "" {
		t.Fatalf("version: %d %v", code, v)
	}
	code, ab := get(t, h, "/about", "Accept-Language", "fr-CA,fr;q=0.9", "X-Forwarded-For", "203.0.113.9, 10.0.0.1")
	d := ab["data"].(map[string]any)
	if code != 200 || d["language"] != "fr" || d["country"] != "CA" || d["clientipaddr"] != "203.0.113.9" ||
		d["arch"] != runtime.GOARCH || d["plateform"] != "linux" || d["release"] == "" {
		t.Fatalf("about: %v", d)
	}
	raw, _ := json.Marshal(d)
	for _, secret := range []string{"POD_", "KUBERNETES", "token", "TOKEN"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("about leaks %s: %s", secret, raw)
		}
	}
	if code, s := get(t, h, "/getSettings"); code != 200 || s["data"] == nil {
		t.Fatalf("settings: %d %v", code, s)
	}
	// Without a display the X endpoints say so; planned endpoints answer 501; unknown ones 404.
	if code, m := get(t, h, "/getwindowslist"); code != 503 || !strings.Contains(m["data"].(string), "display does not answer") {
		t.Fatalf("no display: %d %v", code, m)
	}
	for _, bad := range []string{`{"destinationIp":"example.com","port":"5004"}`, `{"destinationIp":"127.0.0.1","port":"70000"}`, `{"destinationIp":"127.0.0.1","port":"x"}`} {
		if code, m := do(t, h, "PUT", "/configurePulse", bad); code != 400 {
			t.Fatalf("configurePulse %s: %d %v", bad, code, m)
		}
	}
	if code, _ := get(t, h, "/nope"); code != 404 {
		t.Fatalf("unknown: %d", code)
	}
	req := httptest.NewRequest("GET", "/openapi.json", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Paths["/getwindowslist"] == nil {
		t.Fatalf("agent openapi: %v %s %d", err, doc.OpenAPI, len(doc.Paths))
	}
	seed := 0
	for p := range doc.Paths {
		// abcdesktop's forms of some endpoints (docs/compat-agent.md), and deskhub's files of the home
		if !strings.HasPrefix(p, "/abcdesktop/") && p != spawner.FilesPath {
			seed++
		}
	}
	if seed != 22 || doc.Paths[spawner.FilesPath] == nil {
		t.Fatalf("agent openapi: %d seed paths, want the seed's 22", seed)
	}
	if len(spawner.Endpoints()) != 22 {
		t.Fatal("the agent table must have the seed's 22 endpoints")
	}
}

// TestEveryEndpointHasAHandler: the agent binds a handler to each endpoint of the Spawner table, once,
// and serves every one of them (none planned).
func TestEveryEndpointHasAHandler(t *testing.T) {
	a, err := New(Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	bound := map[spawner.Spec]int{}
	for _, h := range a.handlers() {
		bound[h.spec]++
	}
	for _, e := range spawner.Endpoints() {
		switch n := bound[e.Describe()]; n {
		case 0:
			t.Errorf("%s: no handler in the agent", e.Describe().Seed())
		case 1:
		default:
			t.Errorf("%s: %d handlers", e.Describe().Seed(), n)
		}
		delete(bound, e.Describe())
	}
	for spec := range bound {
		t.Errorf("%s: a handler for an endpoint that is not in the table", spec.Seed())
	}
	served := 0
	for _, r := range a.mux.Routes() {
		if r.Seed == "" {
			continue
		}
		served++
		if !r.Op.Implemented() {
			t.Errorf("%s is routed but planned (501)", r.Seed)
		}
	}
	if served != len(spawner.Endpoints()) {
		t.Errorf("%d seed routes served, want %d", served, len(spawner.Endpoints()))
	}
}

func do(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:5000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: %q", path, rec.Body)
	}
	return rec.Code, m
}

// TestFileEndpoints: store, MIME, search, desktop files and launch, confined to the home.
func TestFileEndpoints(t *testing.T) {
	home := t.TempDir()
	a, err := New(Options{Display: ":99", Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // its PulseAudio, if a test started one
	h := a.Handler()
	if code, m := do(t, h, "POST", "/setDesktop", `{"key":"dock","value":{"apps":["xterm"]}}`); code != 200 {
		t.Fatalf("setDesktop: %d %v", code, m)
	}
	code, m := get(t, h, "/getDesktop?key=dock")
	if code != 200 || m["data"].(map[string]any)["apps"].([]any)[0] != "xterm" {
		t.Fatalf("getDesktop: %d %v", code, m)
	}
	for _, bad := range []string{"../x", "a/b", "/etc/passwd", "..", strings.Repeat("k", 300)} {
		body, _ := json.Marshal(map[string]any{"key": bad, "value": 1})
		if code, _ := do(t, h, "POST", "/setDesktop", string(body)); code != 400 {
			t.Errorf("setDesktop key %q: %d, want 400", bad, code)
		}
	}
	if code, _ := get(t, h, "/getDesktop?key=missing"); code != 404 {
		t.Fatalf("missing key: %d", code)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(home, "docs", ".hidden"), 0o755))
	must(os.WriteFile(filepath.Join(home, "docs", "Résumé.txt"), []byte("hello"), 0o644))
	must(os.WriteFile(filepath.Join(home, "docs", ".hidden", "resume-secret.txt"), []byte("x"), 0o644))
	must(os.WriteFile(filepath.Join(home, "pic.txt"), []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o644))
	code, m = get(t, h, "/filesearch?keywords=RESUME")
	if list, _ := m["data"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["file"] != "docs/Résumé.txt" {
		t.Fatalf("filesearch: %d %v", code, m)
	}
	if code, m := get(t, h, "/getmimeforfile?filename=pic.txt"); code != 200 || m["data"].(map[string]any)["mime"] != "image/png" {
		t.Fatalf("getmimeforfile: %d %v", code, m)
	}
	if code, _ := get(t, h, "/getmimeforfile?filename=../../etc/passwd"); code != 400 {
		t.Fatalf("traversal in getmimeforfile: %d", code)
	}
	code, m = do(t, h, "POST", "/generateDesktopFiles", `{"list":[{"name":"Viewer","executablefilename":"../../evil","launch":"xterm -e less","mimetype":"text/plain"}]}`)
	if code != 200 || !strings.Contains(m["data"].(string), filepath.Join(home, ".local/share/applications")) {
		t.Fatalf("generateDesktopFiles: %d %v", code, m)
	}
	if code, m := get(t, h, "/getappforfile?filename=docs/Résumé.txt"); code != 200 || len(m["data"].([]any)) == 0 {
		t.Fatalf("getappforfile: %d %v", code, m)
	}
	// launch: only applications of the desktop; a shell line is not a program.
	if code, _ := do(t, h, "POST", "/launch", `{"command":"rm -rf /"}`); code != 400 {
		t.Fatalf("launch of a non-application: %d", code)
	}
	if code, _ := do(t, h, "POST", "/launch", `{"command":"xterm","args":"-e"}`); code != 400 {
		t.Fatalf("launch with args not an array: %d", code)
	}
}

// TestIdle: Idle runs once start-up has settled, then once after each burst of requests, not while idle.
func TestIdle(t *testing.T) {
	idle := make(chan struct{}, 10)
	a, err := New(Options{Display: ":99", Home: t.TempDir(), StartSettle: 50 * time.Millisecond,
		IdleAfter: 150 * time.Millisecond, Idle: func() { idle <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // its PulseAudio, if a test started one
	sock := filepath.Join(t.TempDir(), "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-idle:
		case <-time.After(5 * time.Second):
			t.Fatalf("no Idle %s", what)
		}
	}
	wait("after start")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	start := time.Now()
	for range 3 {
		resp, err := c.Get("http://agent/version")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	wait("after the requests")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("Idle %v after the burst, before IdleAfter", d)
	}
	select {
	case <-idle:
		t.Fatal("Idle again without a request")
	case <-time.After(400 * time.Millisecond):
	}
}
