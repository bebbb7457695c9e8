package fastx

import (
	"errors"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/field"
)

func TestFilterFieldError(t *testing.T) {
	err := (&ListRequest{Filter: []string{"login==ada", "state"}}).Validate()
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Field != "filter[1]" {
		t.Fatalf("err = %v, want a *field.Error about filter[1]", err)
	}
	if want := `member "filter[1]" filter "state" must look like name==value1,value2`; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

// FuzzListFilter feeds session/list (and system/session/count) filters "name==value1,value2".
func FuzzListFilter(f *testing.F) {
	for _, s := range []string{
		"login==ada", "login==ada,bob", "windowMode==desktop", "state==running,starting", "name==",
		"name==,", "a==b==c", "a===b", "==x", "==", "=", "name", "", ",", "login=ada", "login==ada,,bob",
		"../etc/passwd", "a/b", "\x00", "\x00==\x00", "é==ü", strings.Repeat("a", 4096),
		strings.Repeat("a", 2048) + "==" + strings.Repeat("b,", 1024),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, values, err := ParseFilter(s)
		verr := (&ListRequest{Filter: []string{"login==ada", s}}).Validate()
		cerr := (&SystemCountRequest{Filter: []string{s}}).Validate()
		if (err == nil) != (verr == nil) || (err == nil) != (cerr == nil) {
			t.Fatalf("%q: ParseFilter %v, ListRequest %v, SystemCountRequest %v disagree", s, err, verr, cerr)
		}
		if err != nil {
			if name != "" || values != nil {
				t.Fatalf("%q: error %v with name %q values %q", s, err, name, values)
			}
			var fe *field.Error
			if !errors.As(verr, &fe) || fe.Field != "filter[1]" || !strings.HasPrefix(verr.Error(), `member "filter[1]" `) {
				t.Fatalf("%q: ListRequest error %#v does not name filter[1]", s, verr)
			}
			return
		}
		if name == "" {
			t.Fatalf("%q: accepted with an empty name", s)
		}
		if len(values) == 0 {
			t.Fatalf("%q: accepted without values", s)
		}
		if strings.Contains(name, "==") {
			t.Fatalf("%q: name %q contains ==", s, name)
		}
		for _, v := range values {
			if strings.Contains(v, ",") {
				t.Fatalf("%q: value %q contains a comma", s, v)
			}
		}
		if back := name + "==" + strings.Join(values, ","); back != s {
			t.Fatalf("%q: parsed into %q %q, which reads back as %q", s, name, values, back)
		}
	})
}
