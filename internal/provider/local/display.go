package local

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

var errDisplayBusy = errors.New("display taken by another X server")

// ensureX11Dir makes sure /tmp/.X11-unix is root's sticky world-writable directory (an X server started as
// a user would otherwise create it as that user).
func ensureX11Dir() error {
	const d = "/tmp/.X11-unix"
	fi, err := os.Lstat(d)
	if errors.Is(err, os.ErrNotExist) {
		if os.Geteuid() != 0 {
			return nil
		}
		if err := os.Mkdir(d, 0o1777); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("local: %s: %w", d, err)
		}
		return os.Chmod(d, os.ModeDir|os.ModeSticky|0o777)
	}
	if err != nil {
		return fmt.Errorf("local: %s: %w", d, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("local: %s is not a directory", d)
	}
	if os.Geteuid() == 0 {
		st, _ := fi.Sys().(*syscall.Stat_t)
		if (st != nil && st.Uid != 0) || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
			if err := os.Lchown(d, 0, 0); err != nil {
				return fmt.Errorf("local: %s: %w", d, err)
			}
			if err := os.Chmod(d, os.ModeDir|os.ModeSticky|0o777); err != nil {
				return fmt.Errorf("local: %s: %w", d, err)
			}
		}
	}
	return nil
}

// reserveDisplay picks the first free display number ≥ DisplayBase: not reserved by this provider, no
// /tmp/.X11-unix/X<n> socket, no /tmp/.X<n>-lock and no abstract socket of that name. The X server's own
// lock (an atomic link()) settles races with other programs: Start retries with the next number when Xvnc
// finds the display taken.
func (p *Provider) reserveDisplay(id string) (int, error) {
	abstract := map[string]bool{}
	if b, err := os.ReadFile("/proc/net/unix"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 8 && strings.HasPrefix(f[7], "@/tmp/.X11-unix/X") {
				abstract[f[7][1:]] = true
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := p.o.DisplayBase; n < p.o.DisplayBase+1000; n++ {
		if _, ok := p.displays[n]; ok {
			continue
		}
		sock := "/tmp/.X11-unix/X" + strconv.Itoa(n)
		if _, err := os.Lstat(sock); err == nil || abstract[sock] {
			continue
		}
		if _, err := os.Lstat(lockPath(n)); err == nil {
			continue
		}
		p.displays[n] = id
		return n, nil
	}
	return 0, fmt.Errorf("local: no free X display in :%d..:%d", p.o.DisplayBase, p.o.DisplayBase+999)
}

func (p *Provider) releaseDisplay(n int, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.displays[n] == id {
		delete(p.displays, n)
	}
}

func lockPath(n int) string { return "/tmp/.X" + strconv.Itoa(n) + "-lock" }

// lockPID reads the pid in an X lock file.
func lockPID(n int) (int, bool) {
	b, err := os.ReadFile(lockPath(n))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// cleanupFiles removes the RFB socket, the cookie and, when they are ours or stale, the X socket and lock.
// session.log stays.
func (p *Provider) cleanupFiles(dt *desktop) {
	_ = os.Remove(dt.rfbPath())
	_ = os.Remove(dt.xauthPath())
	n := dt.rt.Display
	if n <= 0 || dt.rt.Server.PID <= 0 {
		return
	}
	// Only our own server's files: a lock with another pid may belong to an X server in another pid
	// namespace sharing /tmp, which looks dead from here.
	pid, ok := lockPID(n)
	ours := ok && pid == dt.rt.Server.PID
	if ours {
		_ = os.Remove(lockPath(n))
	}
	if ours || !ok {
		sock := "/tmp/.X11-unix/X" + strconv.Itoa(n)
		if fi, err := os.Lstat(sock); err == nil {
			if st, _ := fi.Sys().(*syscall.Stat_t); st != nil && st.Uid == dt.rt.User.UID {
				_ = os.Remove(sock)
			}
		}
	}
}
