package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestScreenshotSizeRefusedUpFront: a screenshot larger than the providers make (8192 a side) is a 400
// naming the member, answered before the session is even looked up (the id here is unknown: a 404
// would mean the size got past validation).
func TestScreenshotSizeRefusedUpFront(t *testing.T) {
	h := newHarness(t)
	tok := h.user("ada", false)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		member string
	}{
		{"width and height too large", map[string]any{"id": "nope", "width": 16384, "height": 16384}, 400, "width"},
		{"height too large", map[string]any{"id": "nope", "width": 800, "height": 8193}, 400, "height"},
		{"geometry too large", map[string]any{"id": "nope", "geometry": "16384x16384"}, 400, "geometry"},
		{"negative width", map[string]any{"id": "nope", "width": -1}, 400, "width"},
		{"largest accepted", map[string]any{"id": "nope", "width": 8192, "height": 8192}, 404, ""},
		{"largest geometry accepted", map[string]any{"id": "nope", "geometry": "8192x8192"}, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.with(t).call("POST", "/v3/api/session/screenshot", tok, tc.body).want(t, tc.status)
			if tc.member != "" && !strings.Contains(r.detail(), tc.member) {
				t.Fatalf("message %q does not name %q", r.detail(), tc.member)
			}
		})
	}
}

// TestLoginFloodBothDoors: concurrent wrong logins from one address, half on the session surface's
// door and half on the infrastructure surface's, half for an existing account and half for unknown
// ones: they share one throttle and one hash queue, so the throttle stops the flood at the same point
// on both doors — after its free failures, the rest are refused unhashed with Retry-After: 429s (the
// throttle) or, on a slow machine where the line would take too long, 503s (the hash queue).
func TestLoginFloodBothDoors(t *testing.T) {
	h := newHarness(t) // throttle: 3 free failures
	h.user("pete", false)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			login := "pete"
			if i%4 >= 2 {
				login = fmt.Sprintf("ghost%d", i)
			}
			path, body := "/v3/api/user/login", map[string]any{"username": login, "password": "wrong password"}
			if i%2 == 1 {
				path, body = "/api/v1/user.login", map[string]any{"user_login": login, "user_password": "wrong password"}
			}
			raw, _ := json.Marshal(body)
			req := httptest.NewRequest("POST", path, bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/json")
			req.RemoteAddr = "198.51.100.7:4000"
			rec := httptest.NewRecorder()
			h.s.Handler().ServeHTTP(rec, req)
			if rec.Code != 401 && rec.Header().Get("Retry-After") == "" {
				t.Errorf("a %d without Retry-After", rec.Code)
			}
			mu.Lock()
			statuses[rec.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[401] != 4 || statuses[429]+statuses[503] != 36 {
		t.Fatalf("answers %v, want 4 × 401 (3 free failures and the one that starts the backoff), 36 × 429 or 503", statuses)
	}
}
