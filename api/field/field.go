// Package field reports validation errors about one member of a request. It is wire-level: the
// request types of api/... return these errors from Validate, and the HTTP decoder turns them into 400
// answers that name the member (a JSON:API source.pointer on the infrastructure surface).
//
// A member is named by its JSON path as the decoder names it: "count", "payload.product_id",
// "list[2].name", "filter[0]".
package field

import "fmt"

// Error is a validation error about one request member.
type Error struct {
	// Field is the JSON path of the member at fault, e.g. "geometry" or "list[2].name".
	Field string
	// Msg says what is wrong with it, worded to follow the member's name ("must not be empty").
	Msg string
}

// Error returns `member "<Field>" <Msg>`, e.g. `member "geometry" must be WIDTHxHEIGHT`.
func (e *Error) Error() string { return fmt.Sprintf("member %q %s", e.Field, e.Msg) }

// Errorf returns an *Error about field whose message is format formatted with args.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error about field whose message is err's text, or nil if err is nil.
func Wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Field: field, Msg: err.Error()}
}
