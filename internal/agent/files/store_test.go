package files

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreRoundTrip(t *testing.T) {
	home := t.TempDir()
	s := Store{Dir: filepath.Join(home, ".store")}
	v := json.RawMessage(`{"a":[1,2,"é"]}`)
	if err := s.Set("desk-1.layout_v2", v); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("desk-1.layout_v2")
	if err != nil || string(got) != string(v) {
		t.Fatalf("Get = %s, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(s.Dir, "desk-1.layout_v2.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi, err)
	}
	// overwrite
	if err := s.Set("desk-1.layout_v2", json.RawMessage(`"x"`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get("desk-1.layout_v2"); string(got) != `"x"` {
		t.Fatalf("after overwrite: %s", got)
	}
	if _, err := s.Get("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// no temp files left behind
	ents, _ := os.ReadDir(s.Dir)
	if len(ents) != 1 {
		t.Fatalf("store dir has %d entries", len(ents))
	}
}

func TestStoreRejects(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	s := Store{Dir: filepath.Join(home, ".store")}
	bad := []string{"../x", "a/b", "/etc/passwd", "\x00", "a\x00b", strings.Repeat("a", 300), ".", "..", "", "a..b", `a\b`, "é", "a b"}
	for _, k := range bad {
		err := s.Set(k, json.RawMessage(`1`))
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Errorf("Set(%q) = %v, want *KeyError", k, err)
		}
		if _, err := s.Get(k); !errors.As(err, &ke) {
			t.Errorf("Get(%q) = %v, want *KeyError", k, err)
		}
	}
	for _, v := range []string{``, `{`, `nope`, `{"a":1}}`} {
		var ke *KeyError
		if err := s.Set("k", json.RawMessage(v)); !errors.As(err, &ke) {
			t.Errorf("Set value %q = %v, want *KeyError", v, err)
		}
	}
	big := make([]byte, MaxValueSize+1)
	for i := range big {
		big[i] = ' '
	}
	big[0] = '1'
	if err := s.Set("big", big); err == nil {
		t.Error("oversized value accepted")
	}
	assertOnlyUnder(t, base, home)
}

// assertOnlyUnder fails if anything exists in base other than the inside dir.
func assertOnlyUnder(t *testing.T, base, inside string) {
	t.Helper()
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if p == base || p == inside || strings.HasPrefix(p, inside+"/") {
			return nil
		}
		t.Errorf("unexpected file outside: %s", p)
		return nil
	})
}

func FuzzStoreKey(f *testing.F) {
	for _, k := range []string{"a", "../x", "a/b", "/etc/passwd", "\x00", ".", "..", "x.json", "..a", "a/../../b"} {
		f.Add(k)
	}
	base := f.TempDir()
	home := filepath.Join(base, "home")
	s := Store{Dir: filepath.Join(home, ".store")}
	f.Fuzz(func(t *testing.T, key string) {
		err := s.Set(key, json.RawMessage(`true`))
		if err != nil {
			return
		}
		if ValidKey(key) != nil {
			t.Fatalf("accepted invalid key %q", key)
		}
		p := filepath.Join(s.Dir, key+".json")
		if filepath.Dir(p) != s.Dir {
			t.Fatalf("key %q escapes: %s", key, p)
		}
		if got, err := s.Get(key); err != nil || string(got) != "true" {
			t.Fatalf("Get(%q) = %s, %v", key, got, err)
		}
		os.Remove(p)
		ents, _ := os.ReadDir(base)
		if len(ents) != 1 || ents[0].Name() != "home" {
			t.Fatalf("something written outside home for %q", key)
		}
	})
}

func TestHomeStore(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	must(t, os.MkdirAll(home, 0o755))
	s, err := HomeStore(home)
	must(t, err)
	must(t, s.Set("k", json.RawMessage(`1`)))
	if _, err := os.Stat(filepath.Join(home, ".store", "k.json")); err != nil {
		t.Fatal(err)
	}
	home2 := filepath.Join(base, "home2")
	must(t, os.MkdirAll(home2, 0o755))
	must(t, os.Symlink(filepath.Join(base, "elsewhere"), filepath.Join(home2, ".store")))
	if s, err := HomeStore(home2); err == nil {
		t.Errorf("escaping .store symlink accepted: %+v", s)
	}
}
