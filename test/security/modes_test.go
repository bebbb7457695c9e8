package security

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirModes: the probe that found an existing data directory keeping a loose mode (0755). A data
// directory used once, then loosened by hand (0755, database and key 0644), must come back from
// `deskhub serve` as 0711 — traversable by the desktops' users, not listable — with the database, its
// WAL files and the keys 0600, and nothing in it readable or writable by others.
func TestDataDirModes(t *testing.T) {
	data := newDataDir(t)
	s := startServer(t, data)
	s.stop()
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"deskhub.db", "secret.key", "server-id"} {
		if err := os.Chmod(filepath.Join(data, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = startServer(t, data)
	defer s.stop()
	// A call that touches the database (a wrong login is fine), so that the WAL files exist.
	if status, m := s.call("/v3/api/user/login", "", map[string]any{"username": "nobody", "password": "wrong-password"}); status != 401 {
		t.Fatalf("login: %d %v", status, m)
	}
	checkModes(t, data)
}

// checkModes walks the data directory: the directory itself 0711, the secret files 0600, and no entry
// readable or writable by others (directories the desktops traverse may be executable by others).
func checkModes(t *testing.T, data string) {
	t.Helper()
	want := map[string]fs.FileMode{".": 0o711, "deskhub.db": 0o600, "secret.key": 0o600, "server-id": 0o600,
		"deskhub.db-wal": 0o600, "deskhub.db-shm": 0o600, "sessions": 0o711, "homes": 0o711}
	seen := map[string]bool{}
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		seen[rel] = true
		if w, ok := want[rel]; ok && mode != w {
			t.Errorf("%s: mode %o, want %o", rel, mode, w)
		}
		if mode&0o006 != 0 {
			t.Errorf("%s: mode %o is readable or writable by others", rel, mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{".", "deskhub.db", "secret.key"} {
		if !seen[must] {
			t.Errorf("%s is missing from the data directory", must)
		}
	}
}
