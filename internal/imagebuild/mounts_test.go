package imagebuild

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountInfo(t *testing.T) {
	in := `22 27 0:21 / /proc rw,relatime - proc proc rw
36 35 98:0 /mnt1 /var/cache/a\040b/rootfs/proc rw,noatime master:1 - proc proc rw
37 35 98:0 / /x\134y\011z rw - tmpfs tmpfs rw
bad line
`
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/proc", "/var/cache/a b/rootfs/proc", "/x\\y\tz"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if unescapeMount(`a\04`) != `a\04` || unescapeMount(`\999`) != `\999` {
		t.Error("partial or non-octal escapes must stay as they are")
	}
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		p, dir string
		want   bool
	}{
		{"/a/b", "/a/b", true}, {"/a/b/c", "/a/b", true}, {"/a/bc", "/a/b", false}, {"/a", "/a/b", false},
		{"/a/b/c", "/a/b/", true},
	} {
		if got := under(c.p, c.dir); got != c.want {
			t.Errorf("under(%q, %q) = %v", c.p, c.dir, got)
		}
	}
}
