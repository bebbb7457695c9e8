package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/internal/config"
)

// preflight sends a CORS preflight for method on path from origin.
func preflight(h *harness, path, origin, method, headers string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("OPTIONS", path, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	req.Header.Set("Access-Control-Request-Headers", headers)
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, req)
	return rec
}

// TestCORS: with configured origins, the panel served from one of them calls the APIs: the preflight
// names the methods and headers it sends (Authorization, Content-Type; ABCAuthorization for
// abcdesktop), the answer echoes the origin with credentials; another origin gets no CORS header and
// a 403 preflight. "*" answers "*", never with credentials.
func TestCORS(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) {
		c.CORSOrigins = []string{"https://panel.example.org", "http://localhost:8081"}
	})
	rec := preflight(h, "/api/v1/user.login", "https://panel.example.org", "POST", "authorization,content-type")
	hd := rec.Header()
	if rec.Code != 204 || hd.Get("Access-Control-Allow-Origin") != "https://panel.example.org" || hd.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "ABCAuthorization") {
		t.Fatalf("preflight: %d %v", rec.Code, hd)
	}
	// The call itself, as the panel sends it from its origin.
	tok := h.user("cora", false)
	r := h.call("POST", "/api/v1/user.get", tok, `{}`, "Origin", "https://panel.example.org", "Content-Type", "application/vnd.api+json")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://panel.example.org" ||
		!strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("cross-origin call: %d %v", r.Status, r.Header)
	}
	// Other origins: nothing, and a refused preflight; same-origin calls are as before.
	if rec := preflight(h, "/api/v1/user.login", "https://evil.example", "POST", "authorization"); rec.Code != 403 ||
		rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin: %d %v", rec.Code, rec.Header())
	}
	r = h.call("POST", "/api/v1/user.get", tok, `{}`, "Origin", "https://evil.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("another origin got CORS headers: %v", r.Header)
	}
	// Not the APIs: no CORS.
	if rec := preflight(h, "/passkey", "https://panel.example.org", "GET", ""); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS on a page: %v", rec.Header())
	}
}

// TestCORSAnyOrigin: "*" is "*" without credentials.
func TestCORSAnyOrigin(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.CORSOrigins = []string{"*"} })
	rec := preflight(h, "/v3/api/user/profile", "https://anywhere.example", "GET", "x-fastx-token")
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight with *: %d %v", rec.Code, rec.Header())
	}
	r := h.call("GET", "/v3/api", "", nil, "Origin", "https://anywhere.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("answer with *: %v", r.Header)
	}
}

// TestCORSOriginsValidated: origins must be scheme://host[:port].
func TestCORSOriginsValidated(t *testing.T) {
	for _, bad := range []string{"panel.example.org", "https://panel.example.org/", "https://panel.example.org/app", "ftp://x", "https://"} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.CORSOrigins = []string{bad}
		if err := cfg.Validate(); err == nil {
			t.Errorf("origin %q was taken", bad)
		}
	}
	var _ http.Handler = withCORS(http.NotFoundHandler(), nil)
}

// TestCORSOff: without --cors-origins no answer carries CORS headers, even to a cross-origin
// preflight.
func TestCORSOff(t *testing.T) {
	h := newHarness(t)
	rec := preflight(h, "/api/v1/user.login", "https://panel.example.org", "POST", "authorization")
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Fatalf("CORS header %s without configured origins", k)
		}
	}
}
