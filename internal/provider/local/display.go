package local

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/deskhub/deskhub/internal/xdesk"
)

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
		sock := xdesk.SocketPath(n)
		if _, err := os.Lstat(sock); err == nil || abstract[sock] {
			continue
		}
		if _, err := os.Lstat(xdesk.LockPath(n)); err == nil {
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
	pid, ok := xdesk.LockPID(n)
	ours := ok && pid == dt.rt.Server.PID
	if ours {
		_ = os.Remove(xdesk.LockPath(n))
	}
	if ours || !ok {
		sock := xdesk.SocketPath(n)
		if fi, err := os.Lstat(sock); err == nil {
			if st, _ := fi.Sys().(*syscall.Stat_t); st != nil && st.Uid == dt.rt.User.UID {
				_ = os.Remove(sock)
			}
		}
	}
}
