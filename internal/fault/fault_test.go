package fault

import (
	"errors"
	"testing"
)

func TestMemberf(t *testing.T) {
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{Memberf("id", "must be 1 to 64 letters"), `member "id" must be 1 to 64 letters`},
		{Memberf("command", "%v", errors.New("is empty")), `member "command" is empty`},
		{Memberf("command", ": %v", errors.New("no such program")), `member "command": no such program`},
		{Memberf("filter[2]", ": %v", "bad"), `member "filter[2]": bad`},
	} {
		if tc.e.Msg != tc.want || tc.e.Error() != tc.want {
			t.Errorf("Msg %q, Error %q; want %q", tc.e.Msg, tc.e.Error(), tc.want)
		}
		if tc.e.Kind != Invalid || tc.e.Field == "" {
			t.Errorf("%q: kind %v, field %q; want Invalid about a member", tc.want, tc.e.Kind, tc.e.Field)
		}
	}
}
