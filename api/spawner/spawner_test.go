package spawner

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/field"
)

func TestValidateFieldErrors(t *testing.T) {
	zero := 0
	for _, tc := range []struct {
		v     interface{ Validate() error }
		field string
		text  string
	}{
		{&SetDesktop{Key: "a/b"}, "key", `member "key" must be a plain name, without / or \ or .. and not .`},
		{&GetDesktop{Key: ""}, "key", `member "key" must not be empty`},
		{&SetBackgroundImage{ImgName: strings.Repeat("a", 256)}, "imgName", `member "imgName" must be at most 255 bytes`},
		{&FileSearch{Keywords: "x", MaxFile: &zero}, "maxfile", `member "maxfile" must be at least 1`},
		{&SetBackgroundColor{Color: "red"}, "color", `member "color" must be #RRGGBB or #RRGGBBAA, not "red"`},
	} {
		err := tc.v.Validate()
		var fe *field.Error
		if !errors.As(err, &fe) || fe.Field != tc.field || err.Error() != tc.text {
			t.Errorf("%T: err = %v, want a *field.Error about %q reading %q", tc.v, err, tc.field, tc.text)
		}
	}
	for _, ok := range []interface{ Validate() error }{
		&SetDesktop{Key: "layout"}, &GetDesktop{Key: "dock.v2"}, &SetBackgroundImage{ImgName: "Blue Sky.jpg"},
		&FileSearch{Keywords: "x"}, &SetBackgroundColor{Color: "#00aaFF80"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%T: %v", ok, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	for s, ok := range map[string]bool{
		"layout": true, "Blue Sky.jpg": true, ".hidden": true, "a.b.c": true, strings.Repeat("a", 255): true,
		"": false, ".": false, "..": false, "...": false, "a..b": false, "../etc/passwd": false, "a/b": false,
		`a\b`: false, "/": false, "\x00": false, "a\x00b": false, strings.Repeat("a", 256): false,
	} {
		if err := checkName("key", s); (err == nil) != ok {
			t.Errorf("checkName(%.40q) = %v, want ok=%v", s, err, ok)
		}
	}
}

// FuzzDesktopKey feeds the setDesktop/getDesktop key and the setBackgroundImage imgName, which the agent
// joins to a directory.
func FuzzDesktopKey(f *testing.F) {
	for _, s := range []string{
		"layout", "dock.v2", "Blue Sky.jpg", ".hidden", "", ".", "..", "...", "a..b", "../etc/passwd",
		"..\\..\\windows", "a/b", "/etc/passwd", "a\\b", "\x00", "key\x00.png", "é", "\xff\xfe",
		strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("a", 4096),
	} {
		f.Add(s)
	}
	const dir = "/home/user/.config/desktop"
	f.Fuzz(func(t *testing.T, s string) {
		err := checkName("key", s)
		for _, v := range []interface{ Validate() error }{&SetDesktop{Key: s}, &GetDesktop{Key: s}, &SetBackgroundImage{ImgName: s}} {
			if verr := v.Validate(); (verr == nil) != (err == nil) {
				t.Fatalf("%q: %T.Validate() = %v, checkName = %v", s, v, verr, err)
			}
		}
		if err != nil {
			var fe *field.Error
			if !errors.As(err, &fe) || fe.Field != "key" || !strings.HasPrefix(err.Error(), `member "key" `) {
				t.Fatalf("%q: error %#v is not a *field.Error about key", s, err)
			}
			return
		}
		switch {
		case s == "":
			t.Fatal("accepted the empty name")
		case len(s) > maxNameLen:
			t.Fatalf("accepted %d bytes", len(s))
		case strings.Contains(s, "/"), strings.Contains(s, `\`):
			t.Fatalf("%q: accepted a path separator", s)
		case strings.Contains(s, ".."):
			t.Fatalf("%q: accepted ..", s)
		case strings.ContainsRune(s, 0):
			t.Fatalf("%q: accepted NUL", s)
		}
		if p := filepath.Join(dir, s); filepath.Dir(p) != dir || filepath.Base(p) != s {
			t.Fatalf("%q: joined to %s gives %s, outside the directory or renamed", s, dir, p)
		}
	})
}
