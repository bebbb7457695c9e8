package agent

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/internal/httpapi"
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
	if code, m := get(t, h, "/getappforfile?filename=x"); code != 501 || m["code"] != 501.0 {
		t.Fatalf("planned: %d %v", code, m)
	}
	if code, _ := get(t, h, "/nope"); code != 404 {
		t.Fatalf("unknown: %d", code)
	}
	if len(Routes("", httpapi.Public, nil)) != 22 {
		t.Fatal("the agent table must have the seed's 22 endpoints")
	}
}
