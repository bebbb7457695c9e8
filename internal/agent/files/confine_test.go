package files

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func confineHome(t testing.TB) (base, home string) {
	base = t.TempDir()
	base, _ = filepath.EvalSymlinks(base)
	home = filepath.Join(base, "home")
	must(t, os.MkdirAll(filepath.Join(home, "docs", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(home, "docs", "a.txt"), []byte("a"), 0o644))
	must(t, os.MkdirAll(filepath.Join(base, "outside"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "outside", "secret"), []byte("s"), 0o644))
	must(t, os.Symlink(filepath.Join(base, "outside"), filepath.Join(home, "out")))
	must(t, os.Symlink("../outside/secret", filepath.Join(home, "secretlink")))
	must(t, os.Symlink(filepath.Join(base, "outside", "nothere"), filepath.Join(home, "dangling")))
	must(t, os.Symlink("docs/a.txt", filepath.Join(home, "inlink")))
	must(t, os.Symlink(filepath.Join(home, "docs"), filepath.Join(home, "docslink")))
	must(t, os.Symlink("loop2", filepath.Join(home, "loop1")))
	must(t, os.Symlink("loop1", filepath.Join(home, "loop2")))
	return base, home
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfine(t *testing.T) {
	_, home := confineHome(t)
	good := map[string]string{
		"":                "",
		".":               "",
		"docs/a.txt":      "docs/a.txt",
		"docs//sub/./":    "docs/sub",
		"docs/new/file":   "docs/new/file",
		"newfile":         "newfile",
		"inlink":          "docs/a.txt",
		"docslink/a.txt":  "docs/a.txt",
		"docslink/x/y/z":  "docs/x/y/z",
		"weird name ü.md": "weird name ü.md",
	}
	for rel, want := range good {
		got, err := Confine(home, rel)
		if err != nil {
			t.Errorf("Confine(%q): %v", rel, err)
			continue
		}
		if w := filepath.Join(home, want); got != w {
			t.Errorf("Confine(%q) = %q, want %q", rel, got, w)
		}
	}
	bad := []string{"../x", "..", "docs/../../x", "docs/..", "/etc/passwd", "a\x00b", "out", "out/secret",
		"out/new", "secretlink", "dangling", "loop1", "loop1/x", "docs/a.txt/x"}
	for _, rel := range bad {
		got, err := Confine(home, rel)
		if err == nil {
			t.Errorf("Confine(%q) = %q, want error", rel, got)
		}
	}
	var pe *PathError
	if _, err := Confine(home, "../x"); !errors.As(err, &pe) {
		t.Errorf("want *PathError, got %T", err)
	}
	if _, err := Confine("relative", "x"); err == nil {
		t.Error("relative home accepted")
	}
}

func FuzzConfine(f *testing.F) {
	for _, s := range []string{"a", "../x", "out/secret", "docs/../..", "/etc", "docslink/../out", "secretlink", "\x00", "loop1"} {
		f.Add(s)
	}
	_, home := confineHome(f)
	f.Fuzz(func(t *testing.T, rel string) {
		got, err := Confine(home, rel)
		if err != nil {
			return
		}
		if got != home && !strings.HasPrefix(got, home+"/") {
			t.Fatalf("Confine(%q) = %q escapes %q", rel, got, home)
		}
		// Whatever exists of the result must resolve inside home too.
		if r, err := resolveExisting(got); err != nil || (r != home && !strings.HasPrefix(r, home+"/")) {
			t.Fatalf("Confine(%q) = %q resolves to %q (%v)", rel, got, r, err)
		}
	})
}
