// Package fault holds deskhub's domain errors: what went wrong in words a client may read, of a kind
// that internal/httpapi alone maps to a status and an envelope (as Incus's shared/api StatusErrorf, but
// without HTTP in the domain). Domain packages (session, infra, accounts, providers) return these or
// the store's sentinels; they import neither net/http nor internal/httpapi.
package fault

import (
	"fmt"
	"strings"
)

// Kind is what a client can do about an error.
type Kind int

// The kinds, each answered with one status (see httpapi.AsError).
const (
	Internal       Kind = iota // 500: not the client's doing; the message stays in the log
	Invalid                    // 400: the request is wrong (Field names the member)
	Unauthorized               // 401: no valid credentials
	Forbidden                  // 403: known, and not allowed
	NotFound                   // 404: unknown, or not the caller's (they look the same)
	Conflict                   // 409: the resource's state does not allow it now
	Gone                       // 410
	TooLarge                   // 413
	Unprocessable              // 422
	TooMany                    // 429 (RetryAfter seconds)
	NotImplemented             // 501
	BadGateway                 // 502: a desktop, agent or LXD server failed
	Unavailable                // 503 (RetryAfter seconds)
	Timeout                    // 504
	RequestTimeout             // 408
	Changed                    // 412: the resource changed since it was read (an ETag no longer matches)
)

// Error is a domain error: Msg is what the client reads, Err the cause only the log sees.
type Error struct {
	Kind  Kind
	Msg   string
	Field string // the request member at fault, for Invalid
	Err   error
	// RetryAfter, when positive, tells the client when to try again (seconds).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New is an error of kind with a formatted client message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap is an error of kind whose client message is msg and whose logged cause is err.
func Wrap(kind Kind, err error, msg string) *Error {
	return &Error{Kind: kind, Msg: msg, Err: err}
}

// Invalidf is a 400 about one request member.
func Invalidf(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// NotFoundf is a 404; unknown and forbidden look the same to the caller.
func NotFoundf(format string, args ...any) *Error { return New(NotFound, format, args...) }

// Conflictf is a 409.
func Conflictf(format string, args ...any) *Error { return New(Conflict, format, args...) }

// Memberf is a 400 about request member m, worded the one way deskhub names a member (as api/field's
// errors are): `member "m"`, then the formatted text after a space (`member "id" must not be empty`), or
// directly when the text starts with a colon (`member "command": no such program`).
func Memberf(m, format string, args ...any) *Error {
	text := fmt.Sprintf(format, args...)
	if !strings.HasPrefix(text, ":") {
		text = " " + text
	}
	return &Error{Kind: Invalid, Field: m, Msg: fmt.Sprintf("member %q", m) + text}
}
