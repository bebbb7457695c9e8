package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jezek/xgb"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xdesk"
)

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
			Credential: acc.Credential(),
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

// watch follows a desktop until it ends, is stopped, or the provider closes.
func (p *Provider) watch(dt *desktop) {
	defer p.wg.Done()
	// A desktop whose processes this provider started tells their exits on channels: its watcher only
	// has the session log to bound, every ~10 s, and sleeps in between (100 desktops otherwise wake
	// deskhub 400 times a second). Adopted and rootless desktops are looked at every PollInterval.
	interval, logEvery := p.o.PollInterval, 40 // the log: every ~10 s at the default poll interval
	if !dt.rt.Rootless && dt.serverDone != nil && dt.appStatus != nil && dt.wmDone != nil {
		interval, logEvery = 40*p.o.PollInterval, 1
	}
	tick := time.NewTicker(interval)
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
		case <-dt.wmDone:
			if !p.restartWM(dt, *dt.wmStatus) {
				return
			}
			continue
		case <-tick.C:
			if ticks++; ticks%logEvery == 0 {
				rotateLog(dt.logPath(), maxLog, keepLogs)
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
			if dt.wmDone == nil && p.adoptedWMGone(dt) && !p.restartWM(dt, "") {
				return
			}
			continue
		}
		// Rootless: count top-level windows.
		if xc == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			x, err := xdesk.DialX(ctx, dt.rt.Display, dt.cookie)
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

// restartWM starts the window manager of a desktop again after it exited (status: how, when known),
// after the delay of its restart budget (xdesk.Restarts); a window manager that keeps exiting ends the
// desktop. It answers false when the desktop ended or the watch must stop.
func (p *Provider) restartWM(dt *desktop, status string) bool {
	delay, err := dt.wmRestarts.Next(time.Now())
	if err != nil {
		p.end(dt, "window manager: "+err.Error())
		return false
	}
	p.log.Warn("window manager exited; restarting it", "session", dt.id, "status", status, "after", delay.String())
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.closing:
		return false
	case <-dt.stopWatch:
		return false
	case <-dt.serverDone:
		p.end(dt, "display server exited")
		return false
	}
	acc := dt.rt.User
	logf, err := openNoFollow(dt.logPath(), os.O_WRONLY|os.O_APPEND)
	if err != nil {
		p.end(dt, "session log: "+err.Error())
		return false
	}
	defer logf.Close()
	fmt.Fprintf(logf, "deskhub: %s window manager exited (%s); restarting it\n", time.Now().Format(time.RFC3339), status)
	argv := strings.Fields(p.o.WindowManager)
	path, err := lookPath(&acc, argv[0])
	var ref procRef
	if err == nil {
		ref, dt.wmDone, dt.wmStatus, err = spawn(path, argv,
			p.sessionEnv(&acc, dt.rt.Display, dt), &acc, logf)
	}
	if err != nil {
		p.end(dt, "window manager: "+err.Error())
		return false
	}
	dt.mu.Lock()
	dt.rt.WM = &ref
	dt.mu.Unlock()
	p.log.Info("window manager restarted", "session", dt.id, "pid", ref.PID)
	return true
}

// adoptedWMGone tells, for a desktop adopted from an earlier deskhub (no exit notice of its window
// manager), whether its window manager is gone: the recorded process does not run and no client owns
// the display's WM_S0 selection. An earlier deskhub may have restarted the window manager after the
// runtime data was stored: a window manager that owns the screen is then left alone, unsupervised.
func (p *Provider) adoptedWMGone(dt *desktop) bool {
	dt.mu.Lock()
	wm := dt.rt.WM
	dt.mu.Unlock()
	if wm == nil || wm.alive() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	x, err := xdesk.DialX(ctx, dt.rt.Display, dt.cookie)
	if err != nil {
		return false
	}
	defer x.Close()
	if xdesk.WMOwned(x) {
		p.log.Info("adopted desktop: its window manager was replaced; not watching it", "session", dt.id)
		dt.mu.Lock()
		dt.rt.WM = nil
		dt.mu.Unlock()
		return false
	}
	return true
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
	dt.mu.Lock()
	if dt.rt.WM != nil {
		leaders = append(leaders, *dt.rt.WM)
	}
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
	path, err := lookPath(&acc, argv[0])
	if err != nil {
		return 0, err
	}
	logf, err := openNoFollow(d.logPath(), os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return 0, fmt.Errorf("local: session log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "deskhub: %s exec %q\n", time.Now().Format(time.RFC3339), argv)
	ref, _, _, err := spawn(path, argv, p.sessionEnv(&acc, d.rt.Display, d), &acc, logf)
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
