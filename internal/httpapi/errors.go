package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Error is an error with the status and the short message the client gets; Err is the cause, which only
// the log sees.
type Error struct {
	Status int
	// Msg is what the client reads.
	Msg string
	// Field names the request member at fault, when there is one.
	Field string
	// Err is the cause, logged, never sent.
	Err error
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given status and a formatted client message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 about one request member.
func BadRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// NotFound is a 404. Unknown and forbidden look the same to the caller.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, format, args...)
}

// Internal wraps a cause as a 500; the client reads only "internal error".
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Msg: "internal error", Err: err}
}

// AsError maps any error to the *Error a client gets. This is the one place where error kinds become
// statuses.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var f *fault.Error
	if errors.As(err, &f) {
		if f.Kind == fault.Internal {
			return Internal(err)
		}
		return &Error{Status: kindStatus[f.Kind], Msg: f.Msg, Field: f.Field, Err: f.Err, RetryAfter: f.RetryAfter}
	}
	var tooBig *http.MaxBytesError
	var slow *BodyTimeoutError
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge,
			Msg: fmt.Sprintf("request body is larger than the limit of %d bytes", tooBig.Limit), Err: err}
	case errors.As(err, &slow):
		return &Error{Status: http.StatusRequestTimeout, Msg: slow.Error(), Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Msg: err.Error(), Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Msg: err.Error(), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Msg: "the operation timed out", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusServiceUnavailable, Msg: "the request was cancelled", Err: err}
	}
	return Internal(err)
}

// kindStatus is the status of each kind of domain error.
var kindStatus = map[fault.Kind]int{
	fault.Internal:       http.StatusInternalServerError,
	fault.Invalid:        http.StatusBadRequest,
	fault.Unauthorized:   http.StatusUnauthorized,
	fault.Forbidden:      http.StatusForbidden,
	fault.NotFound:       http.StatusNotFound,
	fault.Conflict:       http.StatusConflict,
	fault.Gone:           http.StatusGone,
	fault.TooLarge:       http.StatusRequestEntityTooLarge,
	fault.Unprocessable:  http.StatusUnprocessableEntity,
	fault.TooMany:        http.StatusTooManyRequests,
	fault.NotImplemented: http.StatusNotImplemented,
	fault.BadGateway:     http.StatusBadGateway,
	fault.Unavailable:    http.StatusServiceUnavailable,
	fault.Timeout:        http.StatusGatewayTimeout,
	fault.RequestTimeout: http.StatusRequestTimeout,
	fault.Changed:        http.StatusPreconditionFailed,
}

// errorName is the session surface's error name for a status, e.g. "NotFound".
func errorName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "BadRequest"
	case http.StatusUnauthorized:
		return "Unauthorized"
	case http.StatusForbidden:
		return "Forbidden"
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusMethodNotAllowed:
		return "MethodNotAllowed"
	case http.StatusRequestTimeout:
		return "RequestTimeout"
	case http.StatusConflict:
		return "Conflict"
	case http.StatusRequestEntityTooLarge:
		return "PayloadTooLarge"
	case http.StatusUnsupportedMediaType:
		return "UnsupportedMediaType"
	case http.StatusUnprocessableEntity:
		return "Unprocessable"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusNotImplemented:
		return "NotImplemented"
	case http.StatusBadGateway:
		return "BadGateway"
	case http.StatusServiceUnavailable:
		return "Unavailable"
	case http.StatusGatewayTimeout:
		return "Timeout"
	}
	if status >= 500 {
		return "InternalError"
	}
	return "Error"
}
