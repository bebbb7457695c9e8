package lxd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/provider"
)

var _ provider.Freezer = (*Provider)(nil)

// Freezing (docs/LXD-DESKTOPS.md, "Idle desktops are frozen"): LXD's freeze action freezes the
// instance's cgroup — its processes get no CPU and keep their memory — and unfreeze lets them run on,
// windows and all. The session service freezes desktops nobody looks at (--freeze-idle); every call that
// needs the desktop (DialRFB, DialAgent, Screenshot, Exec, Stop) thaws it first.

// Freeze implements provider.Freezer.
func (p *Provider) Freeze(ctx context.Context, id string) error {
	d, err := p.running(id)
	if err != nil {
		return err
	}
	d.freezeMu.Lock()
	defer d.freezeMu.Unlock()
	if frozen, _ := d.freezeState(); frozen {
		return nil
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := p.changeState(ctx, cl, d.rt.Instance, api.InstanceStatePut{Action: "freeze", Timeout: -1}); err != nil {
		p.failed(d.rt.Server, err)
		return fmt.Errorf("lxd: freezing %s: %w", d.rt.Instance, err)
	}
	d.setFrozen(true, p.o.Now())
	p.log.Info("desktop frozen", "session", id, "instance", d.rt.Instance, "took", time.Since(t0).Round(time.Millisecond).String())
	return nil
}

// Thaw implements provider.Freezer.
func (p *Provider) Thaw(ctx context.Context, id string) error {
	d, err := p.running(id)
	if err != nil {
		return err
	}
	return p.thaw(ctx, d)
}

// thaw unfreezes d's instance when d is frozen (nothing to do otherwise: no call to LXD). It waits for
// a freeze under way, so that a connection made meanwhile never meets a desktop frozen after it looked.
func (p *Provider) thaw(ctx context.Context, d *desktop) error {
	d.freezeMu.Lock()
	defer d.freezeMu.Unlock()
	if frozen, _ := d.freezeState(); !frozen {
		return nil
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return err
	}
	t0 := time.Now()
	err = p.changeState(ctx, cl, d.rt.Instance, api.InstanceStatePut{Action: "unfreeze", Timeout: -1})
	if err != nil && !notFrozen(err) {
		p.failed(d.rt.Server, err)
		return fmt.Errorf("lxd: thawing %s: %w", d.rt.Instance, err)
	}
	d.setFrozen(false, p.o.Now())
	p.log.Info("desktop thawed", "session", d.id, "instance", d.rt.Instance, "took", time.Since(t0).Round(time.Millisecond).String())
	return nil
}

// notFrozen tells LXD's answer to unfreezing an instance that is not frozen (it was thawed outside
// deskhub): nothing is left to do. LXD says so in the state operation's error (a plain error, as
// lxdconn.Wait reports it) or, from some versions, in a 400 answer.
func notFrozen(err error) bool {
	var se api.StatusError
	if errors.As(err, &se) && se.Status() != 400 {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not frozen") || strings.Contains(msg, "already running") || strings.Contains(msg, "isn't frozen")
}

// FreezeState implements provider.Freezer.
func (p *Provider) FreezeState(id string) (bool, time.Time) {
	d, err := p.get(id)
	if err != nil {
		return false, time.Time{}
	}
	return d.freezeState()
}

func (d *desktop) freezeState() (bool, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frozen, d.frozenChanged
}

func (d *desktop) setFrozen(frozen bool, at time.Time) {
	d.mu.Lock()
	d.frozen, d.frozenChanged = frozen, at
	d.changed()
	d.mu.Unlock()
}

// changed counts a change of d's freeze state (FreezeChanges); the caller holds d.mu.
func (d *desktop) changed() {
	if d.changes != nil {
		d.changes.Add(1)
	}
}

// FreezeChanges implements provider.Freezer.
func (p *Provider) FreezeChanges() uint64 { return p.freezeChanges.Load() }

// sawStatus takes what the watcher read of d's instance at listed: one frozen outside deskhub (lxc
// pause) is frozen for deskhub too (the next call that needs it thaws it), one thawed outside is not. A
// reading older than deskhub's last freeze or thaw of it says nothing new.
func (d *desktop) sawStatus(code api.StatusCode, listed time.Time) {
	if !d.freezeMu.TryLock() {
		return // a freeze or thaw runs
	}
	defer d.freezeMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !listed.After(d.frozenChanged) {
		return
	}
	at := listed
	switch {
	case code == api.Frozen && !d.frozen:
		d.frozen, d.frozenChanged = true, at
		d.changed()
	case code == api.Running && d.frozen:
		d.frozen, d.frozenChanged = false, at
		d.changed()
	}
}
