package local

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

var _ provider.AgentDialer = (*Provider)(nil)

func (d *desktop) agentPath() string { return filepath.Join(d.rt.Dir, "agent.sock") }

// DialAgent connects to the desktop agent of a running desktop.
func (p *Provider) DialAgent(ctx context.Context, id string) (net.Conn, error) {
	d, err := p.running(id)
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	return dialer.DialContext(ctx, "unix", d.agentPath())
}

// superviseAgent keeps `deskhub agent` running in the desktop, as its user, listening on agent.sock in
// the session directory: started with the desktop (or found answering after an adopt), restarted when
// it dies, until the desktop ends or the provider closes.
func (p *Provider) superviseAgent(dt *desktop) {
	defer p.wg.Done()
	backoff := time.Second
	for {
		if c, err := net.DialTimeout("unix", dt.agentPath(), time.Second); err == nil {
			c.Close() // an agent answers already (adopted desktop): check again later
			if !p.agentWait(dt, nil, 2*time.Second) {
				return
			}
			continue
		}
		done, err := p.spawnAgent(dt)
		if err != nil {
			p.log.Warn("desktop agent did not start", "session", dt.id, "error", err)
		} else {
			start := time.Now()
			if !p.agentWait(dt, done, 0) {
				return
			}
			if time.Since(start) > time.Minute {
				backoff = time.Second
			}
			p.log.Warn("desktop agent exited; restarting it", "session", dt.id, "after", backoff.String())
		}
		if !p.agentWait(dt, nil, backoff) {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// agentWait waits for done (when not nil) or d (when positive); false when the desktop or the provider
// stops meanwhile.
func (p *Provider) agentWait(dt *desktop, done <-chan struct{}, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-done:
	case <-timer:
	case <-dt.stopWatch:
		return false
	case <-p.closing:
		return false
	}
	dt.mu.Lock()
	defer dt.mu.Unlock()
	return dt.st == stateRunning
}

func (p *Provider) spawnAgent(dt *desktop) (<-chan struct{}, error) {
	acc := dt.rt.User
	_ = os.Remove(dt.agentPath())
	logf, err := openNoFollow(dt.logPath(), os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	argv := append(append([]string{}, p.o.AgentCommand...), "--display", ":"+strconv.Itoa(dt.rt.Display),
		"--home", acc.Home, "--listen", "unix:"+dt.agentPath())
	_, done, _, err := spawn(p.o.AgentCommand[0], argv, p.sessionEnv(&acc, dt.rt.Display, dt), &acc, logf)
	return done, err
}
