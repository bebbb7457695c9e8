package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/deskhub/deskhub/internal/provider"
)

// makeSessionDir creates <StateDir>/<id> 0700 owned by the session user.
func makeSessionDir(dir string, acc *account) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("local: session dir: %w", err)
		}
	case err != nil:
		return fmt.Errorf("local: session dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("local: session dir %s is not a directory", dir)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(dir, int(acc.UID), int(acc.GID)); err != nil {
			return fmt.Errorf("local: session dir: %w", err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("local: session dir: %w", err)
	}
	// Leftovers of an earlier run under the same id.
	_ = os.Remove(filepath.Join(dir, "rfb.sock"))
	return nil
}

// writeUserFile writes a 0600 file owned by the account (no symlink following).
func writeUserFile(path string, data []byte, acc *account) error {
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if os.Geteuid() == 0 {
		if err := f.Chown(int(acc.UID), int(acc.GID)); err != nil {
			return err
		}
	}
	_, err = f.Write(data)
	return err
}

// Log implements provider.Provider: the last max bytes of session.log (also of ended desktops).
func (p *Provider) Log(ctx context.Context, id string, max int) ([]byte, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if max <= 0 || max > 16<<20 {
		max = 64 << 10
	}
	path := filepath.Join(p.o.StateDir, id, "session.log")
	if d, err := p.get(id); err == nil {
		path = d.logPath()
	}
	b, err := logTail(path, int64(max))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local: %s: %w", id, provider.ErrNotFound)
	}
	return b, err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the log from off (at most 64 KiB).
func logSince(path string, off int64) string {
	f, err := openNoFollow(path, os.O_RDONLY)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, off, 64<<10))
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// openNoFollow opens a file inside a session directory (which the session user owns) without following
// symlinks and refuses anything but a regular file, so the user cannot point deskhub (root) elsewhere.
func openNoFollow(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		f.Close()
		return nil, fmt.Errorf("%s has more than one link", path)
	}
	return f, nil
}

// composeCacheDir is <StateDir>/.compose-cache/<uid>: libX11's compose cache of the account
// (XCOMPOSECACHE). Every X client that opens an input method — openbox, xterm — otherwise parses the
// locale's Compose table afresh (~6–12 ms of CPU each at a desktop's start, on the way to its first
// frame); with the cache it maps the compiled table the first client of the account wrote. libX11
// checks each cache file against the Compose file it came from, and uses the directory only when it
// belongs to the process's user and nobody else may write to it — hence one per account, 0700, and the
// parent 0711 and deskhub's (session ids cannot start with '.', so it is no session's directory). ""
// when it cannot be made (the desktop then starts without it, as before).
func (p *Provider) composeCacheDir(acc *account) string {
	parent := filepath.Join(p.o.StateDir, ".compose-cache")
	dir := filepath.Join(parent, strconv.FormatUint(uint64(acc.UID), 10))
	if err := ownedDir(parent, 0o711, -1, -1); err != nil {
		p.log.Warn("compose cache", "error", err)
		return ""
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = int(acc.UID), int(acc.GID)
	}
	if err := ownedDir(dir, 0o700, uid, gid); err != nil {
		p.log.Warn("compose cache", "error", err)
		return ""
	}
	return dir
}

// ownedDir makes dir a directory (not a symlink) with mode perm, owned by uid:gid (-1: as created).
func ownedDir(dir string, perm os.FileMode, uid, gid int) error {
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if uid >= 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid || int(st.Gid) != gid {
			if err := os.Lchown(dir, uid, gid); err != nil {
				return err
			}
		}
	}
	if fi.Mode().Perm() != perm {
		return os.Chmod(dir, perm)
	}
	return nil
}

// sessionEnv is the environment of a desktop's processes on display n: the account's, the markers, and
// the account's compose cache when it exists (composeCacheDir makes it at Start).
func (p *Provider) sessionEnv(acc *account, n int, dt *desktop) []string {
	extra := []string{dt.marker, p.stateMarker()}
	dir := filepath.Join(p.o.StateDir, ".compose-cache", strconv.FormatUint(uint64(acc.UID), 10))
	if fi, err := os.Lstat(dir); err == nil && fi.IsDir() && !p.o.NoComposeCache {
		extra = append(extra, "XCOMPOSECACHE="+dir)
	}
	return acc.Env(n, dt.xauthPath(), p.o.Lang, extra...)
}
