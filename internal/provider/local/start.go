package local

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xauth"
	"github.com/deskhub/deskhub/internal/xdesk"
)

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
		s.FrameRate = xdesk.DefaultFrameRate
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
	cmdPath, err := lookPath(acc, s.Command[0])
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
		if wmPath, err = lookPath(acc, wmArgv[0]); err != nil {
			return nil, fmt.Errorf("local: window manager %q not found", wmArgv[0])
		}
	}
	if err := acc.EnsureHome(); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if err := xdesk.EnsureX11Dir(); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	if !p.o.NoComposeCache {
		p.composeCacheDir(acc)
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
		id:         s.ID,
		wmRestarts: p.o.WMRestarts,
		cookie:     cookie,
		marker:     "DESKHUB_SESSION=" + s.ID,
		tornDown:   make(chan struct{}),
		stopWatch:  make(chan struct{}),
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

	xkbDir, xkbKey := p.keymapDir(xvnc)
	t0 := time.Now()
	var listen, xUp, wmSeen, wmUp time.Duration // start phases, logged
	wmAgain := false                            // the window manager was started a second time
	// startWMAgain starts the window manager once more: the first found no display to connect to.
	startWMAgain := func(env []string) error {
		wmAgain = true
		return p.startWM(dt, wmPath, wmArgv, env, acc, logf)
	}
	const attempts = 8
	for try := 0; ; try++ {
		n, err := p.reserveDisplay(s.ID)
		if err != nil {
			return nil, err
		}
		dt.rt.Display = n
		env := p.sessionEnv(acc, n, dt)
		x := xdesk.Xvnc{Display: n, Width: s.Width, Height: s.Height, Depth: s.Depth,
			RFBSocket: dt.rfbPath(), Auth: dt.xauthPath(), FrameRate: s.FrameRate, GLX: p.o.GLX,
			NoCompareFB: p.o.NoCompareFB, XKBDir: xkbDir}
		off := fileSize(dt.logPath())
		ref, done, _, serr := spawn(xvnc, x.Args(xvnc), x.Env(env), acc, logf)
		if serr != nil {
			return nil, fmt.Errorf("local: start Xvnc: %w", serr)
		}
		dt.rt.Server, dt.serverDone = ref, done
		wmAgain = false
		if !s.Rootless {
			// Start the window manager with the X server: it loads its ~50 libraries while the server
			// loads its own, and its connection waits in the socket's queue until the server serves it.
			// One that comes to connect before the server listens (~10 ms after its start) gives up at
			// once and is started again, as soon as that is seen. What Start waits for is unchanged: the
			// server accepting the cookie (waitX), then the window manager in charge (waitWM).
			if err := p.startWM(dt, wmPath, wmArgv, env, acc, logf); err != nil {
				return nil, err
			}
			if p.listening(ctx, dt) == nil {
				listen = time.Since(t0)
				select {
				case <-dt.wmDone:
					if err := startWMAgain(env); err != nil {
						return nil, err
					}
				default:
				}
			}
		}
		werr := p.waitX(ctx, dt)
		if werr == nil {
			xUp = time.Since(t0)
			break
		}
		p.kill(dt)
		p.releaseDisplay(n, s.ID)
		dt.rt.Server = procRef{}
		dt.rt.WM, dt.wmDone, dt.wmStatus = nil, nil, nil
		tail := logSince(dt.logPath(), off)
		if errors.Is(werr, xdesk.ErrDisplayBusy) || strings.Contains(tail, "already active") ||
			strings.Contains(tail, "Cannot establish any listening sockets") {
			if try+1 < attempts {
				p.log.Info("display taken meanwhile, trying the next one", "display", n, "session", s.ID)
				continue
			}
		} else if xkbDir != "" && try+1 < attempts {
			// The keymap cache may be what failed: without it from now on.
			p.keymapFailed(xkbKey)
			p.log.Warn("Xvnc did not come up with the keymap cache; trying without it", "dir", xkbDir,
				"error", werr, "log", lastLines(tail, 5))
			xkbDir = ""
			continue
		}
		return nil, fmt.Errorf("local: Xvnc on :%d did not come up: %v; log: %s", n, werr, lastLines(tail, 15))
	}
	env := p.sessionEnv(acc, dt.rt.Display, dt)
	if !s.Rootless {
		off := fileSize(dt.logPath())
		// A client that maps its window while the window manager is still starting can end up unmanaged
		// and unmapped (seen with openbox): start the command once the window manager is in charge.
		werr := p.waitWM(ctx, dt, dt.wmDone, func() { wmSeen = time.Since(t0) })
		if errors.Is(werr, xdesk.ErrWMExited) && !wmAgain {
			// Its exit seen only now: it may still be the one that found no display.
			if err := startWMAgain(env); err != nil {
				return nil, err
			}
			werr = p.waitWM(ctx, dt, dt.wmDone, func() { wmSeen = time.Since(t0) })
		}
		if werr != nil {
			return nil, fmt.Errorf("local: window manager %s: %v; log: %s", wmArgv[0], werr,
				lastLines(logSince(dt.logPath(), off), 10))
		}
		wmUp = time.Since(t0)
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
	if xkbDir == "" && xkbKey != "" {
		p.learnKeymap(xkbKey, dt.rt.Display, dt.xauthPath(), acc.Credential())
	}
	p.log.Info("desktop started", "session", s.ID, "login", s.Login, "user", acc.Name,
		"display", dt.d.Display, "server_pid", dt.rt.Server.PID, "app_pid", dt.rt.App.PID, "rootless", s.Rootless,
		"keymap_cache", xkbDir != "", "wm_again", wmAgain,
		"listen_ms", ms(listen), "x_ready_ms", ms(xUp), "wm_announced_ms", ms(wmSeen), "wm_ready_ms", ms(wmUp),
		"start_ms", ms(time.Since(t0)))
	d := dt.d
	return &d, nil
}

// waitX waits until the session's Xvnc accepts X connections with the session cookie.
func (p *Provider) waitX(ctx context.Context, dt *desktop) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.StartTimeout)
	defer cancel()
	return xdesk.WaitX(ctx, dt.rt.Display, dt.cookie, dt.rt.Server.PID, dt.serverDone)
}

// listening waits (within the start timeout) until the session's Xvnc listens (xdesk.WaitListening).
func (p *Provider) listening(ctx context.Context, dt *desktop) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.StartTimeout)
	defer cancel()
	return xdesk.WaitListening(ctx, dt.rt.Display, dt.rt.Server.PID, dt.serverDone)
}

// startWM starts the session's window manager.
func (p *Provider) startWM(dt *desktop, path string, argv, env []string, acc *account, logf *os.File) error {
	ref, done, status, err := spawn(path, argv, env, acc, logf)
	if err != nil {
		return fmt.Errorf("local: start window manager: %w", err)
	}
	dt.rt.WM = &ref
	dt.wmDone, dt.wmStatus = done, status
	return nil
}

// waitWM waits until the window manager is in charge (xdesk.WaitWM); one that does not answer within
// 5 s is let be.
func (p *Provider) waitWM(ctx context.Context, dt *desktop, done <-chan struct{}, announced func()) error {
	ok, err := xdesk.WaitWMTimed(ctx, dt.rt.Display, dt.cookie, done, announced)
	if err == nil && !ok {
		p.log.Warn("window manager did not answer in time; going on", "session", dt.id)
	}
	return err
}

// ms is d in milliseconds with 0.1 ms precision (for logs).
func ms(d time.Duration) float64 { return float64(d.Round(100*time.Microsecond)) / 1e6 }
