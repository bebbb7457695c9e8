//go:build linux

package initd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deskhub/deskhub/internal/xdesk"
)

// service is one supervised program.
type service struct {
	name string
	// critical: past its restart budget, init stops the desktop (ExitGaveUp). Others are restarted
	// forever, at most every 30 s.
	critical bool
	budget   xdesk.Restarts
	once     bool    // the user's command: run once, then DESKHUB_ON_EXIT
	needs    []*gate // open before each start
	spec     func() spec
	// ready, when set, waits until the started program serves; an error other than its exit gets it
	// killed, and counts as an exit.
	ready    func(ctx context.Context, p *proc) error
	up, down func()
}

// startServices starts the supervisors: Xvnc and PulseAudio at once, the window manager and the agent
// once X answers, the command once the window manager is in charge.
func (i *Init) startServices() {
	user := func(name, path string, argv []string) func() spec {
		return func() spec {
			return spec{name: name, path: path, argv: argv, env: i.env, dir: i.acc.Home, cred: i.acc.Credential()}
		}
	}
	forever := xdesk.Restarts{Max: math.MaxInt32, Cap: 30 * time.Second}
	var svcs []*service

	xvnc := xdesk.Xvnc{Display: i.c.Display, Width: i.c.Width, Height: i.c.Height, Depth: i.c.Depth,
		RFBSocket: i.rfbPath(), Auth: i.xauth}
	svcs = append(svcs, &service{name: "xvnc", critical: true, budget: i.c.Restarts,
		spec: func() spec {
			sp := user("xvnc", i.paths.xvnc, xvnc.Args(i.paths.xvnc))()
			sp.env = xvnc.Env(sp.env)
			return sp
		},
		ready: func(ctx context.Context, p *proc) error {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := xdesk.WaitX(ctx, i.c.Display, i.cookie, p.pid, p.done); err != nil {
				return err
			}
			return until(ctx, p.done, func(ctx context.Context) error { return probeRFB(ctx, i.rfbPath()) })
		},
		up:   func() { i.xUp.set(true); i.setUp("xvnc", true) },
		down: func() { i.xUp.set(false); i.setUp("xvnc", false) },
	})

	if len(i.c.WM) > 0 {
		svcs = append(svcs, &service{name: "wm", critical: true, budget: i.c.Restarts, needs: []*gate{i.xUp},
			spec: user("wm", i.paths.wm, i.c.WM),
			ready: func(ctx context.Context, p *proc) error {
				ok, err := xdesk.WaitWM(ctx, i.c.Display, i.cookie, p.done)
				if err == nil && !ok {
					i.log.Warn("the window manager did not answer in time; going on", "proc", "wm", "pid", p.pid)
				}
				return err
			},
			up: func() { i.wmSettled.set(true) },
		})
	} else {
		i.wmSettled.set(true)
	}

	if i.paths.pulse != "" {
		argv := append([]string{i.paths.pulse}, xdesk.PulseArgs(i.pulseSocket())...)
		svcs = append(svcs, &service{name: "pulseaudio", budget: forever, spec: user("pulseaudio", i.paths.pulse, argv)})
	}

	agent := append(append([]string{}, i.c.Agent...), "--display", xdesk.DisplayName(i.c.Display),
		"--home", i.acc.Home, "--listen", "unix:"+i.agentPath())
	agentEnv := append(append([]string{}, i.env...), "DESKHUB_LOG_LEVEL="+i.c.LogLevel.String())
	svcs = append(svcs, &service{name: "agent", budget: forever, needs: []*gate{i.xUp},
		spec: func() spec {
			return spec{name: "agent", path: i.paths.agent, argv: agent, env: agentEnv, dir: i.acc.Home, cred: i.acc.Credential()}
		},
		ready: func(ctx context.Context, p *proc) error {
			ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			return until(ctx, p.done, func(ctx context.Context) error { return probeAgent(ctx, i.agentPath()) })
		},
		up:   func() { i.setUp("agent", true) },
		down: func() { i.setUp("agent", false) },
	})

	if i.c.Command != "" {
		svcs = append(svcs, &service{name: "command", once: true, needs: []*gate{i.xUp, i.wmSettled},
			spec: user("command", "/bin/sh", []string{"/bin/sh", "-c", i.c.Command})})
	}
	for _, s := range svcs {
		i.wg.Add(1)
		go i.supervise(s)
	}
}

// supervise starts s, waits for it to serve and to exit, and starts it again within its budget, until
// the stop begins.
func (i *Init) supervise(s *service) {
	defer i.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-i.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		for _, g := range s.needs {
			if !g.wait(i.stopping) {
				return
			}
		}
		if i.isStopping() {
			return
		}
		why := ""
		p, err := i.r.start(s.spec())
		if err != nil {
			i.log.Error("cannot start", "proc", s.name, "error", err)
			why = "did not start: " + err.Error()
		} else {
			i.setCurrent(s.name, p)
			ok := true
			if s.ready != nil {
				if err := s.ready(ctx, p); err != nil {
					ok = false
					if !p.exited() && !i.isStopping() {
						i.log.Warn("not serving; killing it", "proc", s.name, "pid", p.pid, "error", err)
						_ = unix.Kill(-p.pid, unix.SIGKILL)
					}
				}
			}
			if ok && s.up != nil {
				s.up()
			}
			select {
			case <-p.done:
			case <-i.stopping:
				return // the stop sequence ends it
			}
			if ok && s.down != nil {
				s.down()
			}
			i.setCurrent(s.name, nil)
			why = p.status()
		}
		if i.isStopping() {
			return
		}
		if s.once {
			i.commandEnded(why)
			return
		}
		delay, err := s.budget.Next(time.Now())
		if err != nil {
			if s.critical {
				// The reason carries what the program said last (Xvnc's fatal error…), so that the
				// desktop's end explains itself (docs/INIT.md).
				reason := err.Error()
				if p != nil {
					if out := p.lastOutput(250 * time.Millisecond); out != "" {
						reason += "; last: " + out
					}
				}
				i.log.Error("giving up", "proc", s.name, "reason", reason)
				i.requestStop(fmt.Sprintf("%s: %s", s.name, reason), ExitGaveUp, false)
				return
			}
			delay = 30 * time.Second
		}
		i.log.Warn("restarting", "proc", s.name, "after", delay.String(), "reason", why)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-i.stopping:
			t.Stop()
			return
		}
	}
}

// commandEnded applies DESKHUB_ON_EXIT.
func (i *Init) commandEnded(status string) {
	if i.c.OnExit == Keep {
		i.log.Info("the command ended; the desktop stays (DESKHUB_ON_EXIT=keep)", "status", status)
		return
	}
	i.requestStop("the command ended ("+status+")", ExitOK, false)
}

// setCurrent records the running program of a service (nil: none) and refreshes <run>/ready.
func (i *Init) setCurrent(name string, p *proc) {
	i.mu.Lock()
	if p == nil {
		delete(i.current, name)
	} else {
		i.current[name] = p
	}
	i.mu.Unlock()
	i.refreshReady()
}

func (i *Init) running(name string) *proc {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current[name]
}

// setUp records whether Xvnc or the agent serves, and refreshes <run>/ready.
func (i *Init) setUp(name string, up bool) {
	i.mu.Lock()
	i.up[name] = up
	i.mu.Unlock()
	i.refreshReady()
}

// refreshReady writes <run>/ready while Xvnc and the agent serve (again when a pid changed), and removes
// it otherwise.
func (i *Init) refreshReady() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.isStopping() {
		return
	}
	if !i.up["xvnc"] || !i.up["agent"] {
		if i.isReady {
			i.isReady = false
			if err := removeFile(i.readyPath()); err != nil {
				i.log.Warn("cannot remove the ready file", "error", err)
			}
			i.log.Info("not ready", "xvnc", i.up["xvnc"], "agent", i.up["agent"])
		}
		return
	}
	r := Ready{Display: xdesk.DisplayName(i.c.Display), RFB: i.rfbPath(), Agent: i.agentPath(),
		XAuthority: i.xauth, User: i.acc.Name, UID: i.acc.UID, Home: i.acc.Home, RuntimeDir: i.rtDir,
		PIDs: map[string]int{"init": unix.Getpid()}, Since: i.since}
	for n, p := range i.current {
		r.PIDs[n] = p.pid
	}
	if err := writeReady(i.readyPath(), r); err != nil {
		i.log.Error("cannot write the ready file", "error", err)
		return
	}
	if !i.isReady {
		i.isReady = true
		i.log.Info("ready", "rfb", r.RFB, "agent", r.Agent, "pids", r.PIDs)
	}
}

func removeFile(path string) error {
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}
