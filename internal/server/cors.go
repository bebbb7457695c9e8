package server

import (
	"net/http"
	"slices"
	"strings"
)

// CORS lets browser code served from another origin call the APIs (ui-vmm's panel, abcdesktop's
// pages hosted elsewhere): off unless origins are configured (--cors-origins). A configured origin is
// echoed with Access-Control-Allow-Credentials; "*" answers any origin with "*" and never with
// credentials (browsers refuse the pair, and it would hand every site the user's session). Requests
// from other origins get no CORS header, and their preflights a 403.

// corsAllowHeaders are the request headers the APIs read.
const corsAllowHeaders = "Authorization, Content-Type, Accept, Accept-Language, ABCAuthorization, X-Share-Key, X-FASTX-TOKEN, X-Request-Id"

// corsPaths are the prefixes of what CORS applies to: the three surfaces and the OpenAPI document.
var corsPaths = []string{"/api/", "/v3/", "/spawner/", "/broadcast", "/openapi.json"}

type cors struct {
	next    http.Handler
	origins []string // exact origins
	any     bool     // "*"
}

// withCORS wraps h with CORS for origins (none: h itself).
func withCORS(h http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return h
	}
	c := &cors{next: h}
	for _, o := range origins {
		if o == "*" {
			c.any = true
		} else {
			c.origins = append(c.origins, strings.ToLower(o))
		}
	}
	return c
}

func (c *cors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.ContainsFunc(corsPaths, func(p string) bool { return strings.HasPrefix(r.URL.Path, p) }) {
		c.next.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	named := slices.Contains(c.origins, strings.ToLower(origin))
	allowed := named || c.any
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !allowed {
		if preflight {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		c.next.ServeHTTP(w, r)
		return
	}
	if named {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS")
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	c.next.ServeHTTP(w, r)
}

// corsOriginPatterns are the configured CORS origins as websocket origin patterns (their hosts).
func corsOriginPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if o == "*" {
			out = append(out, "*")
			continue
		}
		if _, host, ok := strings.Cut(o, "://"); ok {
			out = append(out, strings.ToLower(host))
		}
	}
	return out
}
