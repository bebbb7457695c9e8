package field

import (
	"errors"
	"fmt"
	"testing"
)

func TestError(t *testing.T) {
	err := Errorf("geometry", "must be WIDTHxHEIGHT (e.g. %s), not %q", "1280x800", "big")
	if got, want := err.Error(), `member "geometry" must be WIDTHxHEIGHT (e.g. 1280x800), not "big"`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var fe *Error
	if !errors.As(fmt.Errorf("context: %w", err), &fe) || fe.Field != "geometry" {
		t.Fatalf("errors.As through a wrapper: %v %+v", err, fe)
	}
	if got, want := Errorf("list[2].name", "must not be empty").Error(), `member "list[2].name" must not be empty`; got != want {
		t.Fatalf("nested: %q, want %q", got, want)
	}
}

func TestWrap(t *testing.T) {
	if Wrap("x", nil) != nil {
		t.Fatal("Wrap of nil is not nil")
	}
	err := Wrap("payload.product_id", errors.New("must be base64"))
	fe, ok := err.(*Error)
	if !ok || fe.Field != "payload.product_id" || fe.Msg != "must be base64" {
		t.Fatalf("Wrap = %#v", err)
	}
	if got, want := err.Error(), `member "payload.product_id" must be base64`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
