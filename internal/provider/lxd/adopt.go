package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// connectWait bounds how long Adopt waits for the first connection to a server after a restart.
const connectWait = 15 * time.Second

// awaitClient is the server's client once its link has made its first attempt (within connectWait).
func (p *Provider) awaitClient(ctx context.Context, server int64) (incus.InstanceServer, error) {
	deadline := time.Now().Add(connectWait)
	for {
		cl, err := p.client(server)
		if err == nil {
			return cl, nil
		}
		st, _, watched := p.o.Conns.Status(server)
		if (watched && st != lxdconn.StateConnecting) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Adopt implements provider.Provider: after a deskhub restart, the instance of a session is taken back
// when it still runs that session and its init reports the desktop ready. An instance on a server that
// does not answer is taken back unverified; the watcher checks it once the server answers.
func (p *Provider) Adopt(ctx context.Context, in provider.Desktop) (*provider.Desktop, error) {
	var rt runtimeInfo
	if json.Unmarshal(in.Runtime, &rt) != nil || rt.V != 1 || rt.Provider != "lxd" || rt.Instance == "" || rt.Server <= 0 {
		return nil, fmt.Errorf("lxd: adopt %s: unusable runtime data: %w", in.ID, provider.ErrGone)
	}
	if d, err := p.running(in.ID); err == nil {
		out := d.d
		return &out, nil
	}
	d := &desktop{id: in.ID, rt: rt, d: in}
	d.d.ServerID = provider.StoredServerID(rt.Server)
	if _, err := p.o.Store.GetServer(ctx, rt.Server); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("lxd: adopt %s: server %d was removed: %w", in.ID, rt.Server, provider.ErrGone)
	}
	cl, err := p.awaitClient(ctx, rt.Server)
	if err != nil {
		p.log.Warn("adopting a desktop whose server does not answer; it is checked once the server answers",
			"session", in.ID, "instance", rt.Instance, "error", err)
		d.unverified = true
		p.register(d)
		out := d.d
		return &out, nil
	}
	if err := p.verify(ctx, cl, d); err != nil {
		return nil, fmt.Errorf("lxd: adopt %s: %w", in.ID, err)
	}
	p.register(d)
	p.log.Info("desktop adopted", "session", in.ID, "instance", rt.Instance, "server", d.d.ServerID)
	out := d.d
	return &out, nil
}

// verify checks that d's instance runs d's session with its desktop ready, and refreshes what d knows
// of it; else it removes the instance and answers provider.ErrGone.
func (p *Provider) verify(ctx context.Context, cl incus.InstanceServer, d *desktop) error {
	name := d.rt.Instance
	gone := func(why string) error {
		p.log.Info("desktop gone", "session", d.id, "instance", name, "why", why)
		if d.rt.Dir != "" {
			_ = os.RemoveAll(d.rt.Dir)
		}
		return fmt.Errorf("%s: %w", why, provider.ErrGone)
	}
	inst, _, err := cl.GetInstance(name)
	if lxdconn.IsNotFound(err) {
		return gone("its instance " + name + " no longer exists")
	}
	if err != nil {
		return err
	}
	if inst.Config[KeySession] != d.id || inst.Config[KeyBroker] != p.o.BrokerID {
		return gone("its instance " + name + " runs another session")
	}
	if inst.StatusCode == api.Frozen {
		// Frozen while idle before the restart: thawed to be checked (the session service freezes it
		// again when nobody uses it).
		if err := p.changeState(ctx, cl, name, api.InstanceStatePut{Action: "unfreeze", Timeout: -1}); err != nil && !notFrozen(err) {
			return err
		}
		d.setFrozen(false, p.o.Now())
		inst.StatusCode = api.Running
	}
	if inst.StatusCode != api.Running {
		why := p.stopReason(cl, name)
		_ = p.halt(ctx, cl, name, d.rt.Per == PerSession, false)
		return gone("its instance " + name + " stopped: " + why)
	}
	var ready *readyInfo
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ready, err = p.waitReady(rctx, cl, name)
	cancel()
	if err != nil {
		_ = p.halt(ctx, cl, name, d.rt.Per == PerSession, p.persistent())
		return gone("its desktop is not ready: " + err.Error())
	}
	d.rt.Ready = *ready
	if err := p.probe(ctx, d); err != nil {
		_ = p.halt(ctx, cl, name, d.rt.Per == PerSession, p.persistent())
		return gone("its RFB server does not answer: " + err.Error())
	}
	started := d.d.StartedAt
	d.d = *p.describe(d, provider.StoredServerID(d.rt.Server), started)
	d.mu.Lock()
	d.unverified = false
	d.mu.Unlock()
	return nil
}

// Sweep implements provider.Sweeper: the running instances of this deskhub whose session it neither
// runs nor starts (a crash between making an instance and recording its session, or a session marked
// ended while its server did not answer) are deleted (per session) or stopped (per user). Servers that
// do not answer are left for the next sweep.
func (p *Provider) Sweep(ctx context.Context) ([]string, error) {
	rows, err := p.o.Store.ListServers(ctx, 0)
	if err != nil {
		return nil, err
	}
	var ids []string
	var errs []error
	for _, row := range rows {
		if row.Provider != lxdconn.Provider {
			continue
		}
		cl, err := p.awaitClient(ctx, row.ID)
		if err != nil {
			p.log.Warn("not sweeping a server that does not answer", "server", provider.StoredServerID(row.ID), "error", err)
			continue
		}
		list, err := cl.GetInstances(api.InstanceTypeAny)
		if err != nil {
			errs = append(errs, fmt.Errorf("server %d: %w", row.ID, err))
			continue
		}
		for _, inst := range list {
			sid := inst.Config[KeySession]
			if inst.Config[KeyBroker] != p.o.BrokerID || sid == "" || p.owns(sid) {
				continue
			}
			per := inst.Config[KeyPer]
			if per == PerUser && inst.StatusCode == api.Stopped {
				continue // kept between sessions
			}
			p.log.Warn("removing a desktop instance no session owns (left by a crash)", "session", sid,
				"instance", inst.Name, "server", provider.StoredServerID(row.ID), "status", inst.Status)
			if err := p.halt(ctx, cl, inst.Name, per != PerUser, false); err != nil {
				errs = append(errs, err)
				continue
			}
			if dir, err := p.sockDir(row.ID, inst.Name); err == nil {
				_ = os.RemoveAll(dir)
			}
			ids = append(ids, sid)
		}
	}
	return ids, errors.Join(errs...)
}
