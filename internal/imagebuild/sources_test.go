package imagebuild

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSourcesList(t *testing.T) {
	in := `# a comment
deb http://deb.debian.org/debian bookworm main contrib
deb-src http://deb.debian.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://mirror.example/debian/ bookworm-updates main # trailing
  deb   http://security.debian.org/debian-security   bookworm-security main

deb cdrom:[Debian GNU/Linux 12]/ bookworm main
garbage line
deb http://only-uri
`
	got, err := ParseSourcesList(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{Types: []string{"deb"}, URIs: []string{"http://deb.debian.org/debian"}, Suites: []string{"bookworm"}, Components: []string{"main", "contrib"}},
		{Types: []string{"deb-src"}, URIs: []string{"http://deb.debian.org/debian"}, Suites: []string{"bookworm"}, Components: []string{"main"}},
		{Types: []string{"deb"}, URIs: []string{"https://mirror.example/debian/"}, Suites: []string{"bookworm-updates"}, Components: []string{"main"}},
		{Types: []string{"deb"}, URIs: []string{"http://security.debian.org/debian-security"}, Suites: []string{"bookworm-security"}, Components: []string{"main"}},
		{Types: []string{"deb"}, URIs: []string{"cdrom:[Debian"}, Suites: []string{"GNU/Linux"}, Components: []string{"12]/", "bookworm", "main"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseDeb822Sources(t *testing.T) {
	// The shape of Debian 12's /etc/apt/sources.list.d/debian.sources, plus a disabled paragraph, a
	// continuation line and odd field-name case.
	in := `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm

types: deb deb-src
uris: http://a.example/debian
  http://b.example/debian
suites: trixie
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
`
	got, err := ParseDeb822Sources(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Source{
		{Types: []string{"deb"}, URIs: []string{"http://deb.debian.org/debian"}, Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		{Types: []string{"deb"}, URIs: []string{"http://deb.debian.org/debian-security"}, Suites: []string{"bookworm-security"}, Components: []string{"main"}},
		{Types: []string{"deb", "deb-src"}, URIs: []string{"http://a.example/debian", "http://b.example/debian"}, Suites: []string{"trixie"}, Components: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestMirrorFor(t *testing.T) {
	src := func(typ, uri string, suites ...string) Source {
		return Source{Types: []string{typ}, URIs: []string{uri}, Suites: suites}
	}
	cases := []struct {
		name    string
		sources []Source
		suite   string
		want    string
	}{
		{"exact suite wins over order", []Source{
			src("deb", "http://security.debian.org/debian-security", "bookworm-security"),
			src("deb", "http://updates.example/debian", "bookworm-updates"),
			src("deb", "http://m.example/debian/", "bookworm"),
		}, "bookworm", "http://m.example/debian"},
		{"suite-updates when no exact", []Source{
			src("deb", "http://security.debian.org/debian-security", "bookworm-security"),
			src("deb", "http://u.example/debian", "bookworm-updates"),
		}, "bookworm", "http://u.example/debian"},
		{"another suite: a /debian mirror", []Source{
			src("deb", "https://packages.example/apt", "cloud-sdk"),
			src("deb", "http://deb.debian.org/debian", "bookworm"),
		}, "trixie", "http://deb.debian.org/debian"},
		{"deb-src and cdrom are not used", []Source{
			src("deb-src", "http://src.example/debian", "bookworm"),
			src("deb", "cdrom:[x]/", "bookworm"),
		}, "bookworm", ""},
		{"none", nil, "bookworm", ""},
	}
	for _, c := range cases {
		if got := MirrorFor(c.sources, c.suite); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDetectMirror(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "etc", "apt", "sources.list.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := DetectMirror(root, "bookworm"); got != DefaultMirror {
		t.Fatalf("no sources: got %q, want %q", got, DefaultMirror)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Disabled files (not .list/.sources) are not read; sources.list comes first, then the directory
	// in name order.
	write(filepath.Join(d, "nodesource.sources.disabled-by-x"), "Types: deb\nURIs: http://bad.example/debian\nSuites: bookworm\n")
	write(filepath.Join(d, "b.sources"), "Types: deb\nURIs: http://deb822.example/debian\nSuites: bookworm\nComponents: main\n")
	write(filepath.Join(d, "a.list"), "deb http://other.example/apt stable main\n")
	if got := DetectMirror(root, "bookworm"); got != "http://deb822.example/debian" {
		t.Fatalf("got %q", got)
	}
	write(filepath.Join(root, "etc", "apt", "sources.list"), "deb http://list.example/debian bookworm main\n")
	if got := DetectMirror(root, "bookworm"); got != "http://list.example/debian" {
		t.Fatalf("got %q", got)
	}
}
