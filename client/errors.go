package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/deskhub/deskhub/api/jsonapi"
)

// Surface names the API surface an answer came from.
type Surface string

// The three surfaces, and the display websocket.
const (
	SurfaceSession Surface = "session" // /v3/…: {"error":{"name","message"}}
	SurfaceInfra   Surface = "infra"   // /api/v1/…: {"errors":[{"status","detail"}]}
	SurfaceAgent   Surface = "agent"   // /spawner/{id}/…: {"code","data"}
	SurfaceDisplay Surface = "display" // /ws/display/{id}
)

// Error is a failure the server answered, from any surface.
type Error struct {
	Surface Surface
	// Status is the HTTP status.
	Status int
	// Name is the session surface's error name ("NotFound", "Unauthorized", …); on the infrastructure
	// surface the error's title; empty on the agent surface.
	Name string
	// Message says what is wrong, as the server put it.
	Message string
	// Pointer is the JSON Pointer of the request member at fault (infrastructure surface), if any.
	Pointer string
	// RequestID is the X-Request-Id the server gave the request (quote it when reporting a problem).
	RequestID string
	// RetryAfter is the Retry-After header in seconds (throttled logins), 0 when absent.
	RetryAfter int
}

// Error is the server's message, or the status when it sent none.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("%s surface: HTTP %d %s", e.Surface, e.Status, http.StatusText(e.Status))
}

// StatusCode answers the HTTP status of an *Error in err's chain, or 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound tells whether err is a 404 answer (deskhub answers 404 for what is not yours, too).
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// newError starts an *Error from a response; the envelope's members are filled by the caller. A body
// that is not the expected envelope (a proxy's HTML page) becomes the message, trimmed.
func newError(s Surface, resp *http.Response, body []byte) *Error {
	e := &Error{Surface: s, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = ra
	}
	if resp.StatusCode/100 == 2 {
		e.Message = "the server's answer is not a " + string(s) + "-surface envelope"
		return e
	}
	if !json.Valid(body) {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg != "" {
			e.Message = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg)
		}
	}
	return e
}

// infraError decodes a JSON:API error document: the first error's detail and pointer.
func infraError(resp *http.Response, body []byte) error {
	e := newError(SurfaceInfra, resp, body)
	var doc jsonapi.Errors
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		first := doc.Errors[0]
		e.Name, e.Message = first.Title, first.Detail
		if first.Source != nil {
			e.Pointer = first.Source.Pointer
		}
		if n, err := strconv.Atoi(first.Status); err == nil && n != 0 {
			e.Status = n
		}
	}
	return e
}
