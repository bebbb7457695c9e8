//go:build linux

package initd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deskhub/deskhub/internal/buildinfo"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// Exit codes of Run.
const (
	// ExitOK: stopped on request (SIGPWR, SIGTERM, SIGINT) or because the command exited.
	ExitOK = 0
	// ExitFailure: bad configuration or a failed set-up; nothing was started.
	ExitFailure = 1
	// ExitGaveUp: Xvnc or the window manager exited more often than its restart budget allows.
	ExitGaveUp = 3
)

// Init is one run of the desktop's init.
type Init struct {
	c     Config
	log   *slog.Logger
	r     *reaper
	since time.Time

	acc    *xdesk.Account
	cookie []byte
	xauth  string // the Xauthority file
	rtDir  string // the user's XDG_RUNTIME_DIR
	env    []string
	paths  struct{ xvnc, wm, pulse, agent string }

	stopping chan struct{} // closed when the stop sequence begins
	asked    chan struct{} // closed by the first stop request
	hurry    chan struct{} // closed by a second stop signal
	askOnce  sync.Once
	hurryOne sync.Once
	stopWhy  string
	stopCode int
	reboot   bool

	xUp       *gate // Xvnc answers
	wmSettled *gate // the window manager is in charge (or there is none, or it was given its time)
	wg        sync.WaitGroup

	mu      sync.Mutex
	current map[string]*proc // the running program of each service
	up      map[string]bool  // xvnc, agent: answering
	isReady bool             // <run>/ready exists
}

func (i *Init) rfbPath() string   { return filepath.Join(i.c.RunDir, "rfb.sock") }
func (i *Init) agentPath() string { return filepath.Join(i.c.RunDir, "agent.sock") }
func (i *Init) readyPath() string { return filepath.Join(i.c.RunDir, "ready") }

// outputPath is the FIFO whose lines init logs as the output of proc "exec": programs started in the
// desktop from outside (session/exec through LXD's exec API) write there, so that their output is in
// init's log as the desktop's own programs' is (docs/INIT.md).
func (i *Init) outputPath() string { return filepath.Join(i.c.RunDir, "output") }

// Run runs the desktop until it is asked to stop (a signal, ctx, the command exiting) or gives up, and
// answers the exit code, with the reason when it is not ExitOK. It logs JSON lines to stdout and to
// c.LogFile. It handles SIGPWR, SIGTERM and SIGINT itself: a ctx cancelled by the same signals would
// race them (a second signal hurries the stop, SIGINT asks for a reboot).
func Run(ctx context.Context, c Config, stdout io.Writer) (int, error) {
	i := &Init{c: c, since: time.Now().UTC(),
		stopping: make(chan struct{}), asked: make(chan struct{}), hurry: make(chan struct{}),
		xUp: newGate(), wmSettled: newGate(), current: map[string]*proc{}, up: map[string]bool{}}
	var file *rotating
	var fileErr error
	if c.LogFile != "" {
		file, fileErr = openRotating(c.LogFile, c.LogMax)
	}
	out := tee{stdout}
	if file != nil {
		out = append(out, file)
		defer file.Close()
	}
	i.log = slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: c.LogLevel})).With("component", "init")
	i.r = newReaper(i.log)
	b := buildinfo.Get()
	i.log.Info("deskhub init starting", "version", b.Version, "pid", os.Getpid(), "user", c.User,
		"display", xdesk.DisplayName(c.Display), "geometry", fmt.Sprintf("%dx%d", c.Width, c.Height), "depth", c.Depth,
		"wm", strings.Join(c.WM, " "), "command", c.Command, "on_exit", string(c.OnExit), "audio", string(c.Audio),
		"run_dir", c.RunDir, "stop_grace", c.StopGrace.String())
	if fileErr != nil {
		i.log.Warn("no log file; logging to stdout only", "file", c.LogFile, "error", fileErr)
	}
	for _, w := range c.Warnings {
		i.log.Warn(w)
	}
	if err := c.Validate(); err != nil {
		i.log.Error("bad configuration", "error", err)
		return ExitFailure, err
	}

	// Signals first: from here on every child's exit is collected, and no stop request is lost.
	if os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			i.log.Warn("cannot become the child subreaper: orphans go elsewhere", "error", err)
		}
	}
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGHUP)
	defer signal.Stop(sigs)
	defer signal.Stop(chld)
	reaperDone := make(chan struct{})
	defer close(reaperDone)
	go i.reapLoop(chld, reaperDone)
	go i.signals(ctx, sigs, reaperDone)

	if err := i.setup(); err != nil {
		i.log.Error("set-up failed", "error", err)
		return ExitFailure, fmt.Errorf("set-up failed: %w", err)
	}
	select {
	case <-i.asked: // asked to stop during the set-up: start nothing
	default:
		i.startServices()
	}
	<-i.asked
	code := i.stop()
	if i.reboot && os.Getpid() == 1 {
		// In a container (a PID namespace) the kernel turns this into init's end by SIGHUP, which
		// LXD/LXC takes as a reboot request.
		i.log.Info("rebooting")
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
			i.log.Warn("reboot refused; exiting instead (the container stops)", "error", err)
		}
	}
	if code != ExitOK {
		return code, errors.New(i.stopWhy)
	}
	return code, nil
}

// reapLoop reaps on every SIGCHLD, and every second in case one was merged or missed.
func (i *Init) reapLoop(chld <-chan os.Signal, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		i.r.reap()
		select {
		case <-chld:
		case <-tick.C:
		case <-done:
			return
		}
	}
}

// signals turns signals into stop requests: SIGPWR (lxc stop), SIGTERM and SIGINT (lxc restart: a reboot
// is asked) start the stop; a second one hurries it. SIGHUP is ignored.
func (i *Init) signals(ctx context.Context, sigs <-chan os.Signal, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			i.requestStop("asked to stop", ExitOK, false)
			ctx = context.Background()
		case s := <-sigs:
			switch {
			case s == unix.SIGHUP:
				i.log.Info("signal ignored", "signal", s.String())
			case i.requestStop("signal "+sigName(s), ExitOK, s == unix.SIGINT):
			default:
				i.log.Warn("second stop signal: killing what is left now", "signal", sigName(s))
				i.hurryOne.Do(func() { close(i.hurry) })
			}
		}
	}
}

func sigName(s os.Signal) string {
	if n := unix.SignalName(s.(syscall.Signal)); n != "" {
		return n
	}
	return s.String()
}

// requestStop asks for the stop; the first request wins (it reports whether this one did).
func (i *Init) requestStop(reason string, code int, reboot bool) bool {
	first := false
	i.askOnce.Do(func() {
		first = true
		i.stopWhy, i.stopCode, i.reboot = reason, code, reboot
		i.log.Info("stop requested", "reason", reason)
		close(i.asked)
	})
	return first
}

func (i *Init) isStopping() bool {
	select {
	case <-i.stopping:
		return true
	default:
		return false
	}
}

// setup readies the system, the user and the files, and resolves every program, before anything starts.
func (i *Init) setup() error {
	if os.Getpid() != 1 {
		// On a host (or in a test): the system is someone else's. Never mount or chmod anything there.
		i.log.Info("not PID 1: leaving loopback, /run, /dev/shm and /tmp as they are")
		if err := xdesk.EnsureX11Dir(); err != nil {
			return err
		}
	} else {
		if err := loopbackUp(); err != nil {
			i.log.Warn("loopback not brought up", "error", err)
		}
		for _, m := range []struct{ dir, opts string }{{"/run", "mode=0755"}, {"/dev/shm", "mode=1777"}} {
			if did, err := mountTmpfs(m.dir, m.opts); err != nil {
				if m.dir == "/run" {
					return err
				}
				i.log.Warn("no tmpfs on "+m.dir, "error", err)
			} else if did {
				i.log.Info("mounted a tmpfs", "dir", m.dir)
			}
		}
		if err := tmpDirs(); err != nil {
			return err
		}
	}
	acc, err := xdesk.LookupAccount(i.c.User, "")
	if err != nil {
		return fmt.Errorf("DESKHUB_USER: %w", err)
	}
	if os.Geteuid() != 0 && acc.UID != uint32(os.Geteuid()) {
		return fmt.Errorf("running as uid %d, init cannot start the desktop as %s (uid %d)", os.Geteuid(), acc.Name, acc.UID)
	}
	if acc.UID == 0 {
		return fmt.Errorf("DESKHUB_USER: %s is root: the desktop runs as an unprivileged user", acc.Name)
	}
	i.acc = acc
	if err := acc.EnsureHome(); err != nil {
		return err
	}

	// <run>: root's, the user's group may create its sockets there (sticky: not touch root's files).
	if err := os.MkdirAll(filepath.Dir(i.c.RunDir), 0o755); err != nil {
		return fmt.Errorf("DESKHUB_RUN_DIR: %w", err)
	}
	if err := ensureDir(i.c.RunDir, 0, int(acc.GID), os.ModeSticky|0o775); err != nil {
		return fmt.Errorf("DESKHUB_RUN_DIR: %w", err)
	}
	for _, p := range []string{i.rfbPath(), i.agentPath(), i.readyPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := i.openOutput(int(acc.GID)); err != nil {
		i.log.Warn("no output FIFO: what programs started from outside write is not logged", "error", err)
	}
	// The user's runtime directory, its X cookie.
	i.rtDir = filepath.Join("/run/user", strconv.FormatUint(uint64(acc.UID), 10))
	if err := os.MkdirAll("/run/user", 0o755); err != nil {
		return fmt.Errorf("runtime dir: %w", err)
	}
	if err := ensureDir(i.rtDir, int(acc.UID), int(acc.GID), 0o700); err != nil {
		return fmt.Errorf("runtime dir: %w", err)
	}
	if err := clearStaleDisplay(i.c.Display); err != nil {
		return fmt.Errorf("DESKHUB_DISPLAY: %w", err)
	}
	i.xauth = filepath.Join(i.rtDir, "Xauthority")
	if i.cookie, err = writeCookie(i.xauth, acc); err != nil {
		return fmt.Errorf("X cookie: %w", err)
	}

	// The programs, as the user finds them.
	if i.paths.xvnc, err = acc.LookPath("Xvnc"); err != nil {
		return fmt.Errorf("Xvnc: %w (install tigervnc-standalone-server)", err)
	}
	if len(i.c.WM) > 0 {
		if i.paths.wm, err = acc.LookPath(i.c.WM[0]); err != nil {
			return fmt.Errorf("DESKHUB_WM: %w", err)
		}
	}
	if i.c.Audio != AudioOff {
		i.paths.pulse, err = acc.LookPath("pulseaudio")
		if err != nil && i.c.Audio == AudioOn {
			return fmt.Errorf("DESKHUB_AUDIO=on: %w", err)
		}
		if err != nil {
			i.log.Info("no PulseAudio in this desktop: no sound")
		}
	}
	if i.c.Command != "" {
		if _, err := acc.LookPath("/bin/sh"); err != nil {
			return fmt.Errorf("DESKHUB_COMMAND: %w", err)
		}
	}
	agent := i.c.Agent
	if len(agent) == 0 {
		agent = []string{"/proc/self/exe", "agent"}
	}
	i.c.Agent = agent
	i.paths.agent = agent[0]

	lang := "C.UTF-8"
	for _, kv := range i.c.Env {
		if v, ok := strings.CutPrefix(kv, "LANG="); ok && v != "" {
			lang = v
		}
	}
	own := acc.Env(i.c.Display, i.xauth, lang, "XDG_RUNTIME_DIR="+i.rtDir)
	if i.paths.pulse != "" {
		own = append(own, "PULSE_SERVER=unix:"+i.pulseSocket())
	}
	i.env = mergeEnv(i.c.Env, own)
	return nil
}

// openOutput makes the output FIFO (root's, 0620, the user's group: the user writes to it, and cannot
// remove or replace it in the sticky run directory) and logs every line written to it. init holds it
// open for reading and writing, so it never reads an end of file and writers never block.
func (i *Init) openOutput(gid int) error {
	path := i.outputPath()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(path, 0, gid); err != nil {
			return err
		}
	}
	if err := os.Chmod(path, 0o620); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	go i.r.copyOutput(&proc{name: "exec", outDone: make(chan struct{})}, f)
	return nil
}

func (i *Init) pulseSocket() string { return filepath.Join(i.rtDir, "pulse", "native") }

// mergeEnv answers base with over's variables replacing base's of the same name (the kernel passes
// duplicates on, and which one a program sees depends on its C library).
func mergeEnv(base, over []string) []string {
	names := map[string]bool{}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		names[k] = true
	}
	var out []string
	for _, kv := range base {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" && !names[k] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}

// gate is a condition programs wait for (the X server answers…); it opens and closes.
type gate struct {
	mu   sync.Mutex
	ch   chan struct{}
	open bool
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case open && !g.open:
		close(g.ch)
	case !open && g.open:
		g.ch = make(chan struct{})
	}
	g.open = open
}

// wait waits until the gate is open (true) or stop closes (false).
func (g *gate) wait(stop <-chan struct{}) bool {
	for {
		g.mu.Lock()
		ch, open := g.ch, g.open
		g.mu.Unlock()
		if open {
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}
