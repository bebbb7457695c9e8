package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecureDataDir: an existing data directory with loose modes (made by hand, or by an older deskhub)
// gets 0711, its secret files 0600 and its outbox 0700; symbolic links are not followed.
func TestSecureDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	outside := filepath.Join(t.TempDir(), "outside")
	for _, d := range []string{dir, filepath.Join(dir, "outbox"), filepath.Join(dir, "sessions")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"deskhub.db", "deskhub.db-wal", "secret.key", "server-id", "ssh_known_hosts", "outbox/1.eml"}
	for _, f := range append(files, "../outside") {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "deskhub.db-shm")); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "outbox"), filepath.Join(dir, "sessions")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := secureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{".": 0o711, "outbox": 0o700, "sessions": 0o711, "../outside": 0o644}
	for _, f := range files {
		want[f] = 0o600
	}
	for f, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %o, want %o", f, fi.Mode().Perm(), mode)
		}
	}
}
