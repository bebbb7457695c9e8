//go:build linux

package initd

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/deskhub/deskhub/internal/xauth"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// loopbackUp brings the loopback interface up with 127.0.0.1/8 (a container without a network device
// may have it down): SIOCSIFFLAGS and, when it has no IPv4 address, SIOCSIFADDR and SIOCSIFNETMASK.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: flags: %w", err)
	}
	if flags := ifr.Uint16(); flags&unix.IFF_UP == 0 {
		ifr.SetUint16(flags | unix.IFF_UP | unix.IFF_RUNNING)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("loopback: up: %w", err)
		}
	}
	addr, _ := unix.NewIfreq("lo")
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFADDR, addr); err == nil {
		return nil // the kernel gives lo 127.0.0.1/8 when it comes up
	}
	for _, a := range []struct {
		req uint
		ip  []byte
	}{{unix.SIOCSIFADDR, []byte{127, 0, 0, 1}}, {unix.SIOCSIFNETMASK, []byte{255, 0, 0, 0}}} {
		r, _ := unix.NewIfreq("lo")
		if err := r.SetInet4Addr(a.ip); err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		if err := unix.IoctlIfreq(fd, a.req, r); err != nil {
			return fmt.Errorf("loopback: address: %w", err)
		}
	}
	return nil
}

// isMountPoint tells whether dir is a mount point (from /proc/self/mountinfo; without it, by device).
func isMountPoint(dir string) bool {
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) > 4 && unescapeMount(fs[4]) == dir {
				return true
			}
		}
		if sc.Err() == nil {
			return false
		}
	}
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space…).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountTmpfs mounts a tmpfs on dir (created if missing) unless something is mounted there already; it
// reports whether it mounted one.
func mountTmpfs(dir, opts string) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	if isMountPoint(dir) {
		return false, nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return false, fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return true, nil
}

// ensureDir makes dir a directory (not a symbolic link) with this owner and mode.
func ensureDir(dir string, uid, gid int, mode os.FileMode) error {
	if err := os.Mkdir(dir, mode.Perm()); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
		if err := os.Lchown(dir, uid, gid); err != nil {
			return err
		}
	}
	if fi.Mode()&(os.ModePerm|os.ModeSticky|os.ModeSetgid|os.ModeSetuid) != mode {
		return os.Chmod(dir, mode)
	}
	return nil
}

// tmpDirs makes /tmp root's sticky world-writable directory and /tmp/.X11-unix the same.
func tmpDirs() error {
	if err := ensureDir("/tmp", 0, 0, os.ModeSticky|0o777); err != nil {
		return fmt.Errorf("/tmp: %w", err)
	}
	if err := xdesk.EnsureX11Dir(); err != nil {
		return err
	}
	return nil
}

// clearStaleDisplay removes the lock and socket of display n left by an X server that no longer runs
// (a container's /tmp outlives its processes). As PID 1 nothing can run yet, whatever the lock says: the
// pid in it is from an earlier boot. Otherwise a lock of a running process means the display is taken.
func clearStaleDisplay(n int) error {
	pid, ok := xdesk.LockPID(n)
	if ok && os.Getpid() != 1 && xdesk.Running(pid) {
		return fmt.Errorf("display :%d is in use (X lock of pid %d)", n, pid)
	}
	for _, p := range []string{xdesk.LockPath(n), xdesk.SocketPath(n)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("stale %s: %w", p, err)
		}
	}
	return nil
}

// writeCookie writes a fresh X cookie into the Xauthority file at path (0600, owned by the account; the
// file is created anew, never through a symbolic link) and answers the cookie.
func writeCookie(path string, acc *xdesk.Account) ([]byte, error) {
	cookie := make([]byte, 16)
	if _, err := rand.Read(cookie); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if os.Geteuid() == 0 {
		if err := f.Chown(int(acc.UID), int(acc.GID)); err != nil {
			return nil, err
		}
	}
	if _, err := f.Write(xauth.Entry(cookie)); err != nil {
		return nil, err
	}
	return cookie, nil
}
