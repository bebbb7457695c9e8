package session

import (
	"context"
	"errors"
	"github.com/deskhub/deskhub/internal/account"
	"testing"

	"github.com/deskhub/deskhub/internal/fault"
)

// TestMemberErrors: refusals about a request member are fault.Invalid errors naming it, worded
// `member "x" …` as they were when session answered httpapi errors.
func TestMemberErrors(t *testing.T) {
	s := &Service{o: Options{DefaultGeometry: "1024x768"}}
	ctx := context.Background()
	_, _, _, geomErr := s.geometry("wide")
	_, idErr := s.EditBookmark(ctx, account.Caller{}, Bookmark{ID: "-no", Command: "xterm"})
	_, cmdErr := s.EditBookmark(ctx, account.Caller{}, Bookmark{ID: "ok", Command: "xterm 'open"})
	_, filterErr := Page(nil, ListOptions{Filter: []string{"a==b", "nope"}})
	for _, tc := range []struct {
		err         error
		field, want string
	}{
		{geomErr, "geometry", `member "geometry" must be WIDTHxHEIGHT (e.g. 1280x800) or "rootless", not "wide"`},
		{idErr, "id", `member "id" must be 1 to 64 letters, digits, '_', '.' or '-'`},
		{cmdErr, "command", `member "command" has an unclosed ' quote`},
		{filterErr, "filter[1]", `member "filter[1]": filter "nope" must look like name==value1,value2`},
	} {
		var f *fault.Error
		if !errors.As(tc.err, &f) || f.Kind != fault.Invalid || f.Field != tc.field || f.Msg != tc.want {
			t.Errorf("got %#v; want Invalid about %q: %s", tc.err, tc.field, tc.want)
		}
	}
}
