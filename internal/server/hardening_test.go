package server

import (
	"strings"
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
