package xdesk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Xvnc describes one TigerVNC X server: RFB on a unix socket only (no TCP port, no X over TCP), no VNC
// authentication (whoever reaches the socket is the broker: the socket is 0600), X access guarded by the
// cookie in Auth.
type Xvnc struct {
	Display       int
	Width, Height int
	Depth         int
	RFBSocket     string // -rfbunixpath
	Auth          string // -auth: the Xauthority file holding the display's cookie
	FrameRate     int    // -FrameRate, default DefaultFrameRate
	Name          string // -desktop (default "deskhub")
	// GLX keeps Xvnc's GLX extension. Off by default: with it, Xvnc loads Mesa's software renderer
	// (libLLVM, ~45 MiB of library and ~10 MiB of its private relocations per X server) and starts
	// 100–150 ms later; X clients do without GLX (xterm, openbox, GTK and Qt programs draw through
	// Xrender), and programs that need OpenGL cannot get it.
	GLX bool
	// NoCompareFB turns off TigerVNC's pixel comparison (-CompareFB 0). With it (TigerVNC's default,
	// for viewers that ask for compression level 2 or more, noVNC and deskhub's screenshots included)
	// Xvnc keeps a second copy of the framebuffer (4 MiB at 1280x800) from the first such viewer on,
	// for as long as it runs, and sends only the parts of a redrawn region whose pixels changed.
	// Without it a desktop that has been looked at is ~4 MiB smaller and every redrawn region is sent
	// (more bytes to the browser from toolkits that repaint whole windows).
	NoCompareFB bool
	// XKBDir is the server's -xkbdir (default: the system's XKB data). The local provider points it at
	// its keymap cache: a copy of the system's directory (symbolic links) whose rules name the default
	// keymap already flattened into one file per component, which the xkbcomp the server runs at its
	// start compiles in ~5 ms less CPU.
	XKBDir string
}

// DefaultFrameRate is the -FrameRate of desktops that ask for none. It bounds how soon a change reaches
// the clients, not only how often: after an idle moment Xvnc sends the first update half a frame
// later (1000/rate/2 ms), so 60 (TigerVNC's own default) answers a keystroke ~8 ms sooner than 30
// (bench/web: 18 vs 25 ms p50 keystroke → changed pixel). It costs nothing while the screen is still.
const DefaultFrameRate = 60

// Args answers the command line (argv[0] included) for the Xvnc binary at path.
func (x Xvnc) Args(path string) []string {
	rate, name := x.FrameRate, x.Name
	if rate <= 0 {
		rate = DefaultFrameRate
	}
	if name == "" {
		name = "deskhub"
	}
	argv := []string{path, ":" + strconv.Itoa(x.Display),
		"-geometry", fmt.Sprintf("%dx%d", x.Width, x.Height),
		"-depth", strconv.Itoa(x.Depth),
		"-rfbunixpath", x.RFBSocket, "-rfbunixmode", "0600", "-rfbport", "-1",
		"-SecurityTypes", "None", "-nolisten", "tcp"}
	if x.Auth != "" {
		argv = append(argv, "-auth", x.Auth)
	}
	if !x.GLX {
		argv = append(argv, "-extension", "GLX")
	}
	if x.XKBDir != "" {
		argv = append(argv, "-xkbdir", x.XKBDir)
	}
	if x.NoCompareFB {
		argv = append(argv, "-CompareFB", "0")
	}
	return append(argv, "-FrameRate", strconv.Itoa(rate), "-AlwaysShared", "-noreset", "-desktop", name)
}

// MallocTunables is the glibc malloc setting Xvnc runs with (GLIBC_TUNABLES): blocks of 64 KiB and
// more get their own mappings, handed back when freed. A viewer's connection allocates ~1 MiB of
// encoder state (zlib streams of 64 KiB blocks); on glibc's default those stay in the heap once the
// viewer leaves, and an idle desktop that has been looked at keeps ~0.7 MiB more (bench/density). It
// fixes glibc's threshold, which otherwise rises to the largest block freed: x11perf's PutImage 500x500
// and 100x100 and the viewer's update loop ran as fast with it.
const MallocTunables = "glibc.malloc.mmap_threshold=65536"

// Env answers env (KEY=VALUE) with MallocTunables added to its GLIBC_TUNABLES: the environment to run
// Xvnc with. A GLIBC_TUNABLES that sets the threshold already is left as it is.
func (x Xvnc) Env(env []string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES="); ok {
			found = true
			if !strings.Contains(v, "glibc.malloc.mmap_threshold=") {
				if v != "" {
					v += ":"
				}
				kv = "GLIBC_TUNABLES=" + v + MallocTunables
			}
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GLIBC_TUNABLES="+MallocTunables)
	}
	return out
}

// CheckGeometry checks a desktop size and depth the way Xvnc accepts them here: 64..8192 pixels each
// way, depth 16, 24 or 32.
func CheckGeometry(w, h, depth int) error {
	if w < 64 || h < 64 || w > 8192 || h > 8192 {
		return fmt.Errorf("geometry %dx%d out of range (64..8192)", w, h)
	}
	if depth != 16 && depth != 24 && depth != 32 {
		return fmt.Errorf("depth %d: want 16, 24 or 32", depth)
	}
	return nil
}

// ParseGeometry parses WIDTHxHEIGHT ("1024x768") and checks it with CheckGeometry (depth 24).
func ParseGeometry(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(s, "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%q: want WIDTHxHEIGHT, e.g. 1024x768", s)
	}
	if err := CheckGeometry(w, h, 24); err != nil {
		return 0, 0, err
	}
	return w, h, nil
}

// ParseDisplay parses ":N" (N 0..9999).
func ParseDisplay(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, ":"))
	if !strings.HasPrefix(s, ":") || err != nil || n < 0 || n > 9999 {
		return 0, fmt.Errorf("%q: want :N, e.g. :0", s)
	}
	return n, nil
}

// X11Dir is where X servers make their sockets.
const X11Dir = "/tmp/.X11-unix"

// EnsureX11Dir makes sure /tmp/.X11-unix is root's sticky world-writable directory (an X server started as
// a user would otherwise create it as that user). Not running as root, it leaves things as they are.
func EnsureX11Dir() error {
	const d = X11Dir
	fi, err := os.Lstat(d)
	if errors.Is(err, os.ErrNotExist) {
		if os.Geteuid() != 0 {
			return nil
		}
		if err := os.Mkdir(d, 0o1777); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", d, err)
		}
		return os.Chmod(d, os.ModeDir|os.ModeSticky|0o777)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", d)
	}
	if os.Geteuid() == 0 {
		st, _ := fi.Sys().(*syscall.Stat_t)
		if (st != nil && st.Uid != 0) || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
			if err := os.Lchown(d, 0, 0); err != nil {
				return fmt.Errorf("%s: %w", d, err)
			}
			if err := os.Chmod(d, os.ModeDir|os.ModeSticky|0o777); err != nil {
				return fmt.Errorf("%s: %w", d, err)
			}
		}
	}
	return nil
}

// LockPath is the X server lock of display n.
func LockPath(n int) string { return "/tmp/.X" + strconv.Itoa(n) + "-lock" }

// SocketPath is the X socket of display n.
func SocketPath(n int) string { return X11Dir + "/X" + strconv.Itoa(n) }

// LockPID reads the pid in the X lock of display n.
func LockPID(n int) (int, bool) {
	b, err := os.ReadFile(LockPath(n))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// Running tells whether process pid exists and is not a zombie.
func Running(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// Errors of WaitX.
var (
	ErrDisplayBusy  = errors.New("display taken by another X server")
	ErrServerExited = errors.New("Xvnc exited")
	errNoDisplay    = errors.New("display does not answer")
)

// WaitX waits until the X server with pid serves display n: it accepts a connection with cookie, and
// the display's lock holds pid. It answers ErrServerExited when exited closes first, ErrDisplayBusy when
// the lock belongs to another live process, and the last connection error when ctx ends.
//
// Until the server has made its socket, a try fails at once (no such file, or refused) and costs a few
// microseconds, so tries start 5 ms apart and grow to 50 ms: an X server that comes up in ~40 ms is
// seen within a few ms of it. Once the socket exists, the connection setup itself waits for the server
// to serve its clients. (Xvnc's -displayfd would announce readiness, but an X server given it takes no
// lock file, which display reservation and WaitX's own check rely on.)
func WaitX(ctx context.Context, n int, cookie []byte, pid int, exited <-chan struct{}) error {
	var last error = errNoDisplay
	pause := 5 * time.Millisecond
	for {
		select {
		case <-exited:
			return ErrServerExited
		default:
		}
		if lp, ok := LockPID(n); ok && lp != pid && Running(lp) {
			return ErrDisplayBusy
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		x, err := DialX(cctx, n, cookie)
		ccancel()
		if err == nil {
			x.Close()
			// Make sure it is our server that answered.
			if lp, ok := LockPID(n); ok && lp == pid {
				return nil
			}
			last = errors.New("display answers but its lock is not the server's")
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-exited:
			return ErrServerExited
		case <-time.After(pause):
		}
		pause = min(pause*3/2, 50*time.Millisecond)
	}
}

// WaitListening waits until the X server with pid listens on display n: the display's lock holds pid and
// its socket takes a connection. The server makes its socket early, some 20–40 ms before it serves
// clients (which then wait in the socket's queue): a client started now, such as the window manager,
// loads and sets itself up meanwhile instead of after WaitX. It is not readiness — WaitX is. Errors as
// WaitX's.
func WaitListening(ctx context.Context, n int, pid int, exited <-chan struct{}) error {
	// Tries are a file read and a connect: 1 ms apart, growing to 4 ms (at 20 ms, a start saw the
	// socket up to 20 ms late, and the window manager started as late).
	for pause := time.Millisecond; ; pause = min(pause*3/2, 4*time.Millisecond) {
		if lp, ok := LockPID(n); ok && lp == pid {
			if c, err := net.DialTimeout("unix", SocketPath(n), time.Second); err == nil {
				c.Close()
				return nil
			}
		} else if ok && Running(lp) {
			return ErrDisplayBusy
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return ErrServerExited
		case <-time.After(pause):
		}
	}
}
