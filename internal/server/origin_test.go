package server

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestOriginAllowed: a websocket opened with the browser's credentials must come from this host's
// pages or a configured CORS origin.
func TestOriginAllowed(t *testing.T) {
	patterns := corsOriginPatterns([]string{"https://app.example.org", "https://*.corp.example"})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true}, // not a browser
		{"http://deskhub.test:8080", true},
		{"HTTP://DESKHUB.TEST:8080", true},
		{"https://app.example.org", true},
		{"https://a.corp.example", true},
		{"http://deskhub.test", false}, // another port is another origin
		{"https://evil.example", false},
		{"https://deskhub.test.evil.example", false},
		{"null", false},
		{"://", false},
	} {
		r := httptest.NewRequest("GET", "http://deskhub.test:8080/ws/audio/x", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := originAllowed(r, patterns); got != tc.ok {
			t.Errorf("Origin %q: allowed %v, want %v", tc.origin, got, tc.ok)
		}
	}
}

// FuzzOriginAllowed: any Origin header is judged without panicking, and one allowed without patterns
// names the request's own host.
func FuzzOriginAllowed(f *testing.F) {
	for _, s := range []string{"", "http://deskhub.test:8080", "https://evil.example", "null", "://", "http://[::1", "http://a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest("GET", "http://deskhub.test:8080/ws/audio/x", nil)
		r.Header.Set("Origin", origin)
		if !originAllowed(r, nil) || origin == "" {
			return
		}
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, "deskhub.test:8080") {
			t.Fatalf("Origin %q allowed without patterns", origin)
		}
	})
}
