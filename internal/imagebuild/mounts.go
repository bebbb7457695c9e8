package imagebuild

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// mountInfoPath is the mount table of this process's mount namespace.
const mountInfoPath = "/proc/self/mountinfo"

// parseMountInfo returns the mount points listed in a /proc/<pid>/mountinfo table (field 5, with the
// kernel's octal escapes of space, tab, newline and backslash decoded).
func parseMountInfo(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeMount(f[4]))
	}
	return out, sc.Err()
}

// unescapeMount decodes the \ooo escapes the kernel writes in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			o := s[i+1 : i+4]
			b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// under reports whether path is dir or below it (both clean and absolute).
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}

// MountsUnder returns the mount points of this mount namespace at or below dir (symbolic links in dir
// resolved), deepest first.
func MountsUnder(dir string) ([]string, error) {
	real, err := realPath(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(mountInfoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := parseMountInfo(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", mountInfoPath, err)
	}
	var out []string
	for _, m := range all {
		if under(filepath.Clean(m), real) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// realPath is dir made absolute with its symbolic links resolved (as mountinfo names it). A path that
// does not exist is only made absolute.
func realPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	return abs, nil
}

// unmountUnder detaches (lazily: MNT_DETACH) every mount at or below dir, deepest first, and checks
// that none is left.
func unmountUnder(dir string) error {
	for round := 0; round < 5; round++ {
		mounts, err := MountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("still mounted after unmounting: %s", strings.Join(mounts, ", "))
	}
	return nil
}

// removeTree removes dir and everything in it, after detaching whatever is mounted below it. It never
// removes a tree that still has a mount below it (a bind mount of the host's /dev or /proc, say):
// then it returns an error and leaves the tree alone.
func removeTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("not removing %s: %w", dir, err)
	}
	return os.RemoveAll(dir)
}
