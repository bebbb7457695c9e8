package local

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// Session log rotation: when session.log grows past maxLog it is rotated — copied to session.log.1
// (session.log.1 becoming .2, and so on; keepLogs old files are kept) and emptied in place — so a chatty
// program cannot fill the disk and the earlier lines are kept, not cut. The session's processes keep
// writing to it (they hold it open with O_APPEND: writes go to the new end); a few lines written while it
// is copied may be lost (logrotate's copytruncate).
const (
	maxLog   = 16 << 20
	keepLogs = 2
)

// rotatedLog is the path of the n-th older file of the log at path.
func rotatedLog(path string, n int) string { return fmt.Sprintf("%s.%d", path, n) }

// rotateLog rotates the log at path when it is over max bytes, keeping keep older files; it reports
// whether it did. The directory is the session user's: no link is followed, a new file is made with
// O_EXCL and given the log's owner.
func rotateLog(path string, max int64, keep int) bool {
	f, err := openNoFollow(path, os.O_RDWR)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= max || keep < 1 {
		return false
	}
	_ = os.Remove(rotatedLog(path, keep))
	for n := keep - 1; n >= 1; n-- {
		_ = os.Rename(rotatedLog(path, n), rotatedLog(path, n+1))
	}
	old := rotatedLog(path, 1)
	_ = os.Remove(old)
	out, err := os.OpenFile(old, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		_ = out.Chown(int(st.Uid), int(st.Gid))
	}
	_, err = io.Copy(out, io.NewSectionReader(f, 0, fi.Size()))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false // the log stays as it was: rotated at the next look
	}
	if err := f.Truncate(0); err != nil {
		return false
	}
	_, _ = f.WriteAt([]byte("deskhub: session log rotated: the earlier lines are in session.log.1\n"), 0)
	return true
}

// logTail is the last max bytes of the log at path, from its older file (path.1) too when the current
// one is shorter (it was just rotated).
func logTail(path string, max int64) ([]byte, error) {
	cur, err := tailOf(path, max)
	if err != nil {
		return nil, err
	}
	if rest := max - int64(len(cur)); rest > 0 {
		if prev, err := tailOf(rotatedLog(path, 1), rest); err == nil {
			cur = append(prev, cur...)
		}
	}
	return cur, nil
}

// tailOf is the last max bytes of a regular file (no link followed).
func tailOf(path string, n int64) ([]byte, error) {
	f, err := openNoFollow(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	return io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
}
