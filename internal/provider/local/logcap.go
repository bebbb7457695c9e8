package local

import (
	"io"
	"os"
)

// Session log bounds: when session.log grows past maxLog it is cut down to its last keepLog bytes, so a
// chatty program cannot fill the disk. The session's processes keep writing to it (O_APPEND writes go
// to the new end); a few lines written while it is cut may be lost.
const (
	maxLog  = 16 << 20
	keepLog = 1 << 20
)

// capLog cuts the log at path down to its tail when it is over max bytes; it reports whether it did.
func capLog(path string, max, keep int64) bool {
	f, err := openNoFollow(path, os.O_RDWR)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= max {
		return false
	}
	tail := make([]byte, keep)
	n, err := f.ReadAt(tail, fi.Size()-keep)
	if err != nil && err != io.EOF {
		return false
	}
	note := []byte("deskhub: session log cut to its last bytes (it passed its size limit)\n")
	if err := f.Truncate(0); err != nil {
		return false
	}
	_, _ = f.WriteAt(append(note, tail[:n]...), 0)
	return true
}
