// Package local runs desktops on this host: one TigerVNC Xvnc server per session (RFB on a unix socket only,
// X access guarded by a per-session MIT cookie), a window manager (openbox) in desktop mode, and the session's
// command, all as the session's Unix user, in their own Unix sessions so they outlive the deskhub process.
//
// Layout of a session directory <StateDir>/<id>/ (0700, owned by the session user):
//
//	xauthority   the MIT-MAGIC-COOKIE-1 of the display (0600)
//	rfb.sock     Xvnc's RFB socket (0600; deskhub connects as root)
//	session.log  output of Xvnc, the window manager, the command and Exec'd programs (kept after Stop)
//
// Because the directory belongs to the session user, deskhub opens files in it without following symlinks.
package local

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jezek/xgb"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xauth"
)

var _ provider.Provider = (*Provider)(nil)

// Options configure the local provider; zero values take the defaults.
type Options struct {
	// AgentCommand runs the desktop agent in every desktop (e.g. [/usr/local/bin/deskhub agent]); the
	// provider adds --display, --home and --listen. Empty: no agent. The binary must be executable by
	// the desktops' users.
	AgentCommand []string
	// StateDir holds one directory per session (e.g. <data>/sessions). It and its parents must be
	// searchable (o+x) by the session users; it is created 0711 when missing.
	StateDir string
	Log      *slog.Logger
	// XvncPath is the TigerVNC X server (default: "Xvnc" from PATH).
	XvncPath string
	// WindowManager is the window manager command of desktop mode, split on spaces (default "openbox").
	WindowManager string
	// DisplayBase is the first display number tried (default 100).
	DisplayBase int
	// Lang is LANG in desktops (default C.UTF-8).
	Lang string
	// StartTimeout bounds the wait for the X server to accept connections (default 15s).
	StartTimeout time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when stopping (default 3s).
	StopGrace time.Duration
	// RootlessGrace ends a rootless session that never shows a window (default 10s).
	RootlessGrace time.Duration
	// PollInterval is how often watchers look at processes and windows (default 250ms).
	PollInterval time.Duration
}

// Provider is the local desktop provider.
type Provider struct {
	o        Options
	log      *slog.Logger
	hostname string

	mu       sync.Mutex
	desktops map[string]*desktop
	displays map[int]string // display number → session id (reserved or in use)
	starting map[string]bool

	ended     chan provider.Ended
	closing   chan struct{}
	closeOnce sync.Once
	closed    bool
	wg        sync.WaitGroup

	host HostLoad // this host's figures (load.go)
}

// runtimeInfo is Desktop.Runtime: what Adopt needs after a restart.
type runtimeInfo struct {
	V        int      `json:"v"`
	Display  int      `json:"display"`
	Dir      string   `json:"dir"`
	User     account  `json:"user"`
	Rootless bool     `json:"rootless"`
	Server   procRef  `json:"server"`
	WM       *procRef `json:"wm,omitempty"`
	App      procRef  `json:"app"`
	Width    int      `json:"width"`
	Height   int      `json:"height"`
	Depth    int      `json:"depth"`
}

type state int

const (
	stateRunning state = iota
	stateEnding
	stateGone
)

// desktop is one session the provider watches.
type desktop struct {
	id     string
	rt     runtimeInfo
	d      provider.Desktop
	cookie []byte
	marker string // environment entry every process of the session carries

	serverDone <-chan struct{} // closed when Xvnc exits (nil when adopted: poll /proc)
	appDone    <-chan struct{} // closed when the command exits (nil when adopted)
	appStatus  *string         // set before appDone closes

	mu        sync.Mutex
	st        state
	execs     []procRef
	tornDown  chan struct{}
	stopWatch chan struct{}
	stopOnce  sync.Once
}

func (d *desktop) logPath() string   { return filepath.Join(d.rt.Dir, "session.log") }
func (d *desktop) rfbPath() string   { return filepath.Join(d.rt.Dir, "rfb.sock") }
func (d *desktop) xauthPath() string { return filepath.Join(d.rt.Dir, "xauthority") }

// New creates the provider. It does not need Xvnc to be installed until Start.
func New(o Options) (*Provider, error) {
	if o.StateDir == "" {
		return nil, errors.New("local: Options.StateDir is required")
	}
	if !filepath.IsAbs(o.StateDir) {
		abs, err := filepath.Abs(o.StateDir)
		if err != nil {
			return nil, fmt.Errorf("local: state dir: %w", err)
		}
		o.StateDir = abs
	}
	o.StateDir = filepath.Clean(o.StateDir)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.WindowManager == "" {
		o.WindowManager = "openbox"
	}
	if o.DisplayBase <= 0 {
		o.DisplayBase = 100
	}
	if o.Lang == "" {
		o.Lang = "C.UTF-8"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 15 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 3 * time.Second
	}
	if o.RootlessGrace <= 0 {
		o.RootlessGrace = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if _, err := os.Stat(o.StateDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(o.StateDir, 0o711); err != nil {
			return nil, fmt.Errorf("local: state dir: %w", err)
		}
		_ = os.Chmod(o.StateDir, 0o711)
	}
	if os.Geteuid() == 0 {
		// Session users must reach <StateDir>/<id>/ (Xvnc creates its socket there as them).
		for p := o.StateDir; ; p = filepath.Dir(p) {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("local: state dir: %w", err)
			}
			if fi.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("local: state dir %s: %s (mode %v) must be searchable by session users (chmod o+x)",
					o.StateDir, p, fi.Mode().Perm())
			}
			if p == "/" {
				break
			}
		}
	}
	host, _ := os.Hostname()
	return &Provider{
		o:        o,
		log:      o.Log.With("component", "provider.local"),
		hostname: host,
		desktops: map[string]*desktop{},
		displays: map[int]string{},
		starting: map[string]bool{},
		ended:    make(chan provider.Ended, 64),
		closing:  make(chan struct{}),
	}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return "local" }

// Ended implements provider.Provider; the channel is closed by Close.
func (p *Provider) Ended() <-chan provider.Ended { return p.ended }

// Close stops the watchers; desktops keep running for a later Adopt.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.closing)
		p.wg.Wait()
		close(p.ended)
	})
	return nil
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func checkID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("local: bad session id %q (want [A-Za-z0-9_.-], at most 128, not starting with '.' or '-')", id)
	}
	return nil
}

// Start implements provider.Provider.
func (p *Provider) Start(ctx context.Context, s provider.Spec) (_ *provider.Desktop, err error) {
	if err := checkID(s.ID); err != nil {
		return nil, err
	}
	if len(s.Command) == 0 {
		return nil, fmt.Errorf("%w: no command", provider.ErrBadCommand)
	}
	if s.Width == 0 {
		s.Width = 1024
	}
	if s.Height == 0 {
		s.Height = 768
	}
	if s.Width < 64 || s.Height < 64 || s.Width > 8192 || s.Height > 8192 {
		return nil, fmt.Errorf("local: geometry %dx%d out of range (64..8192)", s.Width, s.Height)
	}
	if s.Depth == 0 {
		s.Depth = 24
	}
	if s.Depth != 16 && s.Depth != 24 && s.Depth != 32 {
		return nil, fmt.Errorf("local: depth %d: want 16, 24 or 32", s.Depth)
	}
	if s.FrameRate <= 0 {
		s.FrameRate = 30
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("local: provider closed")
	}
	if d, ok := p.desktops[s.ID]; (ok && d.state() == stateRunning) || p.starting[s.ID] {
		p.mu.Unlock()
		return nil, fmt.Errorf("local: desktop %s already runs", s.ID)
	}
	p.starting[s.ID] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.starting, s.ID)
		p.mu.Unlock()
	}()

	acc, err := lookupAccount(s.RunAs)
	if err != nil {
		return nil, err
	}
	// Resolve everything before starting anything: a bad command leaves nothing behind.
	cmdPath, err := acc.lookPath(s.Command[0])
	if err != nil {
		return nil, err
	}
	xvnc := p.o.XvncPath
	if xvnc == "" {
		if xvnc, err = exec.LookPath("Xvnc"); err != nil {
			return nil, errors.New("local: Xvnc not found (install tigervnc-standalone-server or set XvncPath)")
		}
	}
	var wmArgv []string
	var wmPath string
	if !s.Rootless {
		wmArgv = strings.Fields(p.o.WindowManager)
		if wmPath, err = acc.lookPath(wmArgv[0]); err != nil {
			return nil, fmt.Errorf("local: window manager %q not found", wmArgv[0])
		}
	}
	if err := acc.ensureHome(); err != nil {
		return nil, err
	}
	if err := ensureX11Dir(); err != nil {
		return nil, err
	}

	dir := filepath.Join(p.o.StateDir, s.ID)
	if err := makeSessionDir(dir, acc); err != nil {
		return nil, err
	}
	cookie := make([]byte, 16)
	if _, err := rand.Read(cookie); err != nil {
		return nil, err
	}
	dt := &desktop{
		id:        s.ID,
		cookie:    cookie,
		marker:    "DESKHUB_SESSION=" + s.ID,
		tornDown:  make(chan struct{}),
		stopWatch: make(chan struct{}),
		rt: runtimeInfo{V: 1, Dir: dir, User: *acc, Rootless: s.Rootless,
			Width: s.Width, Height: s.Height, Depth: s.Depth},
	}
	if err := writeUserFile(dt.xauthPath(), xauth.Entry(cookie), acc); err != nil {
		return nil, fmt.Errorf("local: xauthority: %w", err)
	}
	logf, err := openNoFollow(dt.logPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	if err != nil {
		return nil, fmt.Errorf("local: session log: %w", err)
	}
	defer logf.Close()
	if os.Geteuid() == 0 {
		_ = logf.Chown(int(acc.UID), int(acc.GID))
	}
	_ = logf.Chmod(0o600)
	fmt.Fprintf(logf, "deskhub: %s starting desktop %s for %q as %s: %q (rootless=%v)\n",
		time.Now().Format(time.RFC3339), s.ID, s.Login, acc.Name, s.Command, s.Rootless)

	// From here on, a failure tears down what was started.
	defer func() {
		if err != nil {
			p.kill(dt)
			p.cleanupFiles(dt)
			p.releaseDisplay(dt.rt.Display, s.ID)
			fmt.Fprintf(logf, "deskhub: start failed: %v\n", err)
		}
	}()

	const attempts = 8
	for try := 0; ; try++ {
		n, err := p.reserveDisplay(s.ID)
		if err != nil {
			return nil, err
		}
		dt.rt.Display = n
		env := acc.env(n, dt.xauthPath(), p.o.Lang, dt.marker, p.stateMarker())
		argv := []string{xvnc, ":" + strconv.Itoa(n),
			"-geometry", fmt.Sprintf("%dx%d", s.Width, s.Height),
			"-depth", strconv.Itoa(s.Depth),
			"-rfbunixpath", dt.rfbPath(), "-rfbunixmode", "0600", "-rfbport", "-1",
			"-SecurityTypes", "None", "-nolisten", "tcp", "-auth", dt.xauthPath(),
			"-FrameRate", strconv.Itoa(s.FrameRate), "-AlwaysShared", "-noreset",
			"-desktop", "deskhub"}
		off := fileSize(dt.logPath())
		ref, done, _, serr := spawn(xvnc, argv, env, acc, logf)
		if serr != nil {
			return nil, fmt.Errorf("local: start Xvnc: %w", serr)
		}
		dt.rt.Server, dt.serverDone = ref, done
		werr := p.waitX(ctx, dt)
		if werr == nil {
			break
		}
		p.kill(dt)
		p.releaseDisplay(n, s.ID)
		dt.rt.Server = procRef{}
		tail := logSince(dt.logPath(), off)
		if errors.Is(werr, errDisplayBusy) || strings.Contains(tail, "already active") ||
			strings.Contains(tail, "Cannot establish any listening sockets") {
			if try+1 < attempts {
				p.log.Info("display taken meanwhile, trying the next one", "display", n, "session", s.ID)
				continue
			}
		}
		return nil, fmt.Errorf("local: Xvnc on :%d did not come up: %v; log: %s", n, werr, lastLines(tail, 15))
	}
	env := acc.env(dt.rt.Display, dt.xauthPath(), p.o.Lang, dt.marker, p.stateMarker())
	if !s.Rootless {
		off := fileSize(dt.logPath())
		ref, wmDone, _, werr := spawn(wmPath, wmArgv, env, acc, logf)
		if werr != nil {
			return nil, fmt.Errorf("local: start window manager: %w", werr)
		}
		dt.rt.WM = &ref
		// A client that maps its window while the window manager is still starting can end up unmanaged
		// and unmapped (seen with openbox): start the command once the window manager is in charge.
		if werr := p.waitWM(ctx, dt, wmDone); werr != nil {
			return nil, fmt.Errorf("local: window manager %s: %v; log: %s", wmArgv[0], werr,
				lastLines(logSince(dt.logPath(), off), 10))
		}
	}
	ref, done, status, cerr := spawn(cmdPath, s.Command, env, acc, logf)
	if cerr != nil {
		return nil, fmt.Errorf("%w: %s: %v", provider.ErrBadCommand, s.Command[0], cerr)
	}
	dt.rt.App, dt.appDone, dt.appStatus = ref, done, status

	rt, _ := json.Marshal(dt.rt)
	dt.d = provider.Desktop{
		ID:        s.ID,
		Display:   ":" + strconv.Itoa(dt.rt.Display),
		Hostname:  p.hostname,
		User:      acc.Name,
		ServerPID: dt.rt.Server.PID,
		AppPID:    dt.rt.App.PID,
		RFB:       provider.Endpoint{Network: "unix", Address: dt.rfbPath()},
		StartedAt: time.Now().UTC(),
		Runtime:   rt,
	}
	if err = p.register(dt); err != nil {
		return nil, err
	}
	p.log.Info("desktop started", "session", s.ID, "login", s.Login, "user", acc.Name,
		"display", dt.d.Display, "server_pid", dt.rt.Server.PID, "app_pid", dt.rt.App.PID, "rootless", s.Rootless)
	d := dt.d
	return &d, nil
}

// register adds a running desktop and starts its watcher.
func (p *Provider) register(dt *desktop) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("local: provider closed")
	}
	p.desktops[dt.id] = dt
	p.displays[dt.rt.Display] = dt.id
	p.wg.Add(1)
	go p.watch(dt)
	if len(p.o.AgentCommand) > 0 {
		p.wg.Add(1)
		go p.superviseAgent(dt)
	}
	return nil
}

var errDisplayBusy = errors.New("display taken by another X server")

// waitX waits until the session's Xvnc accepts X connections with the session cookie.
func (p *Provider) waitX(ctx context.Context, dt *desktop) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.StartTimeout)
	defer cancel()
	n := dt.rt.Display
	var last error = errNoDisplay
	for {
		select {
		case <-dt.serverDone:
			return errors.New("Xvnc exited")
		default:
		}
		if pid, ok := lockPID(n); ok && pid != dt.rt.Server.PID && (procRef{PID: pid}).alive() {
			return errDisplayBusy
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		x, err := dialX(cctx, n, dt.cookie)
		ccancel()
		if err == nil {
			x.Close()
			// Make sure it is our server that answered.
			if pid, ok := lockPID(n); ok && pid == dt.rt.Server.PID {
				return nil
			}
			last = errors.New("display answers but its lock is not Xvnc's")
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-dt.serverDone:
			return errors.New("Xvnc exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitWM waits (at most 5 s) until a window manager runs on the display and handles requests: it has
// announced itself (see wmRunning), and a ConfigureWindow of an unmapped probe window, which the window
// manager receives as a ConfigureRequest, comes back as a ConfigureNotify. Without the second step, a
// program started right away (xterm) can wait 5 s for a window manager still busy starting (Xt wmTimeout).
// A window manager that never announces itself is given the 5 s.
func (p *Provider) waitWM(ctx context.Context, dt *desktop, done <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	x, err := dialX(ctx, dt.rt.Display, dt.cookie)
	if err != nil {
		return err
	}
	defer x.Close()
	timedOut := func() error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.log.Warn("window manager did not answer in time; going on", "session", dt.id)
			return nil
		}
		return ctx.Err()
	}
	t0 := time.Now()
	for !wmRunning(x, time.Since(t0) > 2*time.Second) {
		select {
		case <-done:
			return errors.New("exited at start")
		case <-ctx.Done():
			return timedOut()
		case <-time.After(25 * time.Millisecond):
		}
	}
	ok, err := probeWM(ctx, x)
	if err != nil {
		return err
	}
	if !ok {
		return timedOut()
	}
	return nil
}

// spawn starts a process of the session: its own Unix session (survives deskhub, killable as a group),
// the account's credentials, cwd HOME, stdout/stderr straight into the session log. A goroutine reaps it;
// done closes after *status is set.
func spawn(path string, argv, env []string, acc *account, logf *os.File) (procRef, <-chan struct{}, *string, error) {
	cmd := &exec.Cmd{
		Path:   path,
		Args:   argv,
		Env:    env,
		Dir:    acc.Home,
		Stdout: logf,
		Stderr: logf,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: acc.credential(),
		},
	}
	if err := cmd.Start(); err != nil {
		return procRef{}, nil, nil, err
	}
	ref, err := refOf(cmd.Process.Pid)
	if err != nil {
		ref = procRef{PID: cmd.Process.Pid}
	}
	done := make(chan struct{})
	status := new(string)
	go func() {
		_ = cmd.Wait()
		ps := cmd.ProcessState
		switch ws, ok := ps.Sys().(syscall.WaitStatus); {
		case ok && ws.Signaled():
			*status = "signal " + ws.Signal().String()
		default:
			*status = "status " + strconv.Itoa(ps.ExitCode())
		}
		close(done)
	}()
	return ref, done, status, nil
}

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

// watch follows a desktop until it ends, is stopped, or the provider closes.
func (p *Provider) watch(dt *desktop) {
	defer p.wg.Done()
	tick := time.NewTicker(p.o.PollInterval)
	ticks := 0
	defer tick.Stop()

	var xc *xgb.Conn
	defer func() {
		if xc != nil {
			xc.Close()
		}
	}()
	since := time.Now()
	seen := false
	var zeroSince time.Time
	for {
		select {
		case <-p.closing:
			return
		case <-dt.stopWatch:
			return
		case <-dt.serverDone:
			p.end(dt, "display server exited")
			return
		case <-dt.appDone:
			if !dt.rt.Rootless {
				p.end(dt, "command exited ("+*dt.appStatus+")")
				return
			}
			dt.appDone = nil // rootless: windows decide
		case <-tick.C:
			if ticks++; ticks%40 == 0 { // every ~10 s at the default poll interval
				capLog(dt.logPath(), maxLog, keepLog)
			}
		}
		if dt.serverDone == nil && !dt.rt.Server.alive() {
			p.end(dt, "display server exited")
			return
		}
		if !dt.rt.Rootless {
			if dt.appStatus == nil && !dt.rt.App.alive() { // adopted: no exit status
				p.end(dt, "command exited")
				return
			}
			continue
		}
		// Rootless: count top-level windows.
		if xc == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			x, err := dialX(ctx, dt.rt.Display, dt.cookie)
			cancel()
			if err != nil {
				continue
			}
			xc = x
		}
		n, err := topLevelWindows(xc)
		if err != nil {
			xc.Close()
			xc = nil
			continue
		}
		switch {
		case n > 0:
			seen = true
			zeroSince = time.Time{}
		case seen:
			// Debounce: a program may replace a window (splash → main window).
			if zeroSince.IsZero() {
				zeroSince = time.Now()
			} else if time.Since(zeroSince) >= 3*p.o.PollInterval {
				p.end(dt, "last window closed")
				return
			}
		case time.Since(since) > p.o.RootlessGrace:
			p.end(dt, fmt.Sprintf("no window appeared within %s", p.o.RootlessGrace))
			return
		}
	}
}

// end tears a desktop down that stopped by itself and reports it.
func (p *Provider) end(dt *desktop, reason string) {
	if !p.teardown(dt) {
		return // Stop got there first
	}
	p.log.Info("desktop ended", "session", dt.id, "reason", reason)
	if f, err := openNoFollow(dt.logPath(), os.O_WRONLY|os.O_APPEND); err == nil {
		fmt.Fprintf(f, "deskhub: %s desktop ended: %s\n", time.Now().Format(time.RFC3339), reason)
		f.Close()
	}
	select {
	case p.ended <- provider.Ended{ID: dt.id, Reason: reason, At: time.Now().UTC()}:
	case <-p.closing:
	}
}

func (d *desktop) state() state {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// teardown kills the session and cleans up; it runs once. It reports whether this call did the work (the
// others wait until it is done).
func (p *Provider) teardown(dt *desktop) bool {
	dt.mu.Lock()
	if dt.st != stateRunning {
		dt.mu.Unlock()
		<-dt.tornDown
		return false
	}
	dt.st = stateEnding
	dt.mu.Unlock()
	dt.stopOnce.Do(func() { close(dt.stopWatch) })

	p.kill(dt)
	p.cleanupFiles(dt)
	p.releaseDisplay(dt.rt.Display, dt.id)

	dt.mu.Lock()
	dt.st = stateGone
	dt.mu.Unlock()
	close(dt.tornDown)
	return true
}

// kill ends every process of the session: SIGTERM, then SIGKILL after StopGrace.
func (p *Provider) kill(dt *desktop) {
	leaders := []procRef{dt.rt.App, dt.rt.Server}
	if dt.rt.WM != nil {
		leaders = append(leaders, *dt.rt.WM)
	}
	dt.mu.Lock()
	leaders = append(leaders, dt.execs...)
	dt.mu.Unlock()
	sids := map[int]bool{}
	for _, r := range leaders {
		if r.PID > 0 {
			sids[r.PID] = true
		}
	}
	collect := func() []procRef {
		var out []procRef
		for _, r := range leaders {
			if r.alive() {
				out = append(out, r)
			}
		}
		return append(out, sessionProcs(dt.rt.User.UID, sids, dt.marker)...)
	}
	targets := collect()
	if len(targets) == 0 {
		return
	}
	// Clients first, the X server with them: clients losing the display exit anyway.
	for _, r := range targets {
		r.signal(syscall.SIGTERM)
	}
	if waitGone(targets, p.o.StopGrace) {
		// Programs may have forked while going down.
		if rest := collect(); len(rest) == 0 {
			return
		}
	}
	for i := 0; i < 3; i++ {
		rest := collect()
		if len(rest) == 0 {
			return
		}
		p.log.Warn("killing processes that ignored SIGTERM", "session", dt.id, "count", len(rest))
		for _, r := range rest {
			r.signal(syscall.SIGKILL)
		}
		waitGone(rest, 2*time.Second)
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

func (p *Provider) get(id string) (*desktop, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.desktops[id]
	if !ok {
		return nil, fmt.Errorf("local: %s: %w", id, provider.ErrNotFound)
	}
	return d, nil
}

func (p *Provider) running(id string) (*desktop, error) {
	d, err := p.get(id)
	if err != nil {
		return nil, err
	}
	if d.state() != stateRunning {
		return nil, fmt.Errorf("local: %s: %w", id, provider.ErrGone)
	}
	return d, nil
}

// Stop implements provider.Provider. Unknown and already stopped desktops are no error.
func (p *Provider) Stop(ctx context.Context, id string) error {
	p.mu.Lock()
	dt, ok := p.desktops[id]
	p.mu.Unlock()
	if !ok {
		return nil
	}
	if p.teardown(dt) {
		p.log.Info("desktop stopped", "session", id)
		if f, err := openNoFollow(dt.logPath(), os.O_WRONLY|os.O_APPEND); err == nil {
			fmt.Fprintf(f, "deskhub: %s desktop stopped\n", time.Now().Format(time.RFC3339))
			f.Close()
		}
	}
	return nil
}

// Running implements provider.Provider.
func (p *Provider) Running(ctx context.Context, id string) (bool, error) {
	d, err := p.get(id)
	if err != nil {
		return false, err
	}
	return d.state() == stateRunning && d.rt.Server.alive(), nil
}

// Adopt implements provider.Provider.
func (p *Provider) Adopt(ctx context.Context, in provider.Desktop) (*provider.Desktop, error) {
	if err := checkID(in.ID); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("local: provider closed")
	}
	if d, ok := p.desktops[in.ID]; ok && d.state() == stateRunning {
		p.mu.Unlock()
		out := d.d
		return &out, nil
	}
	p.mu.Unlock()

	var rt runtimeInfo
	if err := json.Unmarshal(in.Runtime, &rt); err != nil || rt.V != 1 || rt.Display <= 0 || !filepath.IsAbs(rt.Dir) {
		return nil, fmt.Errorf("local: adopt %s: unusable runtime data", in.ID)
	}
	dt := &desktop{
		id:        in.ID,
		rt:        rt,
		d:         in,
		marker:    "DESKHUB_SESSION=" + in.ID,
		tornDown:  make(chan struct{}),
		stopWatch: make(chan struct{}),
	}
	gone := func(why string) (*provider.Desktop, error) {
		p.log.Info("desktop gone at adopt", "session", in.ID, "why", why)
		p.kill(dt) // survivors
		p.cleanupFiles(dt)
		return nil, fmt.Errorf("local: adopt %s: %s: %w", in.ID, why, provider.ErrGone)
	}
	owned := func(r procRef) bool {
		u, err := procUID(r.PID)
		return r.alive() && err == nil && u == rt.User.UID
	}
	if !owned(rt.Server) {
		return gone("display server not running")
	}
	if !rt.Rootless && !owned(rt.App) {
		return gone("command not running")
	}
	cookie, err := xauth.ReadCookie(dt.xauthPath())
	if err != nil {
		return gone("xauthority unreadable")
	}
	dt.cookie = cookie
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	x, err := dialX(cctx, rt.Display, cookie)
	cancel()
	if err != nil {
		return gone("display does not answer")
	}
	x.Close()
	p.mu.Lock()
	if other, ok := p.displays[rt.Display]; ok && other != in.ID {
		p.mu.Unlock()
		return nil, fmt.Errorf("local: adopt %s: display :%d belongs to %s", in.ID, rt.Display, other)
	}
	p.mu.Unlock()
	if err := p.register(dt); err != nil {
		return nil, err
	}
	p.log.Info("desktop adopted", "session", in.ID, "display", rt.Display, "server_pid", rt.Server.PID)
	out := in
	out.User = rt.User.Name
	dt.d.User = rt.User.Name
	return &out, nil
}

// DialRFB implements provider.Provider.
func (p *Provider) DialRFB(ctx context.Context, id string) (net.Conn, error) {
	d, err := p.running(id)
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	return dialer.DialContext(ctx, "unix", d.rfbPath())
}

// Exec implements provider.Provider.
func (p *Provider) Exec(ctx context.Context, id string, argv []string) (int, error) {
	d, err := p.running(id)
	if err != nil {
		return 0, err
	}
	if len(argv) == 0 {
		return 0, fmt.Errorf("%w: no command", provider.ErrBadCommand)
	}
	acc := d.rt.User
	path, err := acc.lookPath(argv[0])
	if err != nil {
		return 0, err
	}
	logf, err := openNoFollow(d.logPath(), os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return 0, fmt.Errorf("local: session log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "deskhub: %s exec %q\n", time.Now().Format(time.RFC3339), argv)
	ref, _, _, err := spawn(path, argv, acc.env(d.rt.Display, d.xauthPath(), p.o.Lang, d.marker, p.stateMarker()), &acc, logf)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", provider.ErrBadCommand, argv[0], err)
	}
	d.mu.Lock()
	live := d.execs[:0]
	for _, r := range d.execs {
		if r.alive() {
			live = append(live, r)
		}
	}
	d.execs = append(live, ref)
	d.mu.Unlock()
	return ref.PID, nil
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
	f, err := openNoFollow(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("local: %s: %w", id, provider.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := fi.Size() - int64(max)
	if off < 0 {
		off = 0
	}
	return io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
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
