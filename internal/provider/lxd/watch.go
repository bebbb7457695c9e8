package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// lifecycle takes LXD's lifecycle events: an instance of a desktop that stopped or was deleted is
// looked at by the watcher at once.
func (p *Provider) lifecycle(row store.Server, ev api.Event) {
	var lc api.EventLifecycle
	if json.Unmarshal(ev.Metadata, &lc) != nil {
		return
	}
	switch lc.Action {
	case "instance-stopped", "instance-shutdown", "instance-deleted":
	default:
		return
	}
	name := lc.Name
	if name == "" {
		name = sourceName(lc.Source)
	}
	p.mu.Lock()
	_, ok := p.byInst[instKey{row.ID, name}]
	p.mu.Unlock()
	if ok {
		p.kickWatch()
	}
}

// serverState: a server back online has its desktops looked at.
func (p *Provider) serverState(ch lxdconn.StateChange) {
	switch ch.State {
	case lxdconn.StateOnline:
		p.kickWatch()
	case lxdconn.StateOffline:
		p.serverLost(ch)
	}
}

// sourceName is the last path element of a lifecycle source ("/1.0/instances/c1?project=p" → "c1").
func sourceName(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		return ""
	}
	path := strings.TrimSuffix(u.Path, "/")
	name, _ := url.PathUnescape(path[strings.LastIndex(path, "/")+1:])
	return name
}

// poll looks at every desktop each PollInterval, and at once when kicked: a desktop whose instance
// stopped by itself or was deleted ends; unverified ones are verified, stopping ones removed, once
// their server answers.
func (p *Provider) poll() {
	defer p.wg.Done()
	t := time.NewTicker(p.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-p.closing:
			return
		case <-t.C:
		case <-p.kick:
			// Events come in bursts (stopped, then shutdown): take them together.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-p.closing:
				return
			}
			select {
			case <-p.kick:
			default:
			}
		}
		p.look()
	}
}

func (p *Provider) kickWatch() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// look checks the desktops of each server that answers, one instance list per server.
func (p *Provider) look() {
	p.mu.Lock()
	byServer := map[int64][]*desktop{}
	for _, d := range p.desktops {
		byServer[d.rt.Server] = append(byServer[d.rt.Server], d)
	}
	p.mu.Unlock()
	for server, ds := range byServer {
		cl, err := p.client(server)
		if err != nil {
			continue
		}
		list, err := cl.GetInstances(api.InstanceTypeAny)
		if err != nil {
			p.failed(server, err)
			continue
		}
		listed := p.o.Now()
		status := map[string]api.Instance{}
		for _, inst := range list {
			status[inst.Name] = inst
		}
		for _, d := range ds {
			if inst, ok := status[d.rt.Instance]; ok {
				d.sawStatus(inst.StatusCode, listed)
			}
			p.lookAt(cl, d, status)
		}
	}
}

// lookAt checks one desktop against its server's instance list.
func (p *Provider) lookAt(cl incus.InstanceServer, d *desktop, status map[string]api.Instance) {
	d.mu.Lock()
	stopping, ended, unverified := d.stopping, d.ended, d.unverified
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.o.StopTimeout+time.Minute)
	defer cancel()
	switch {
	case ended:
	case stopping:
		_ = p.remove(ctx, d)
	case unverified:
		if err := p.verify(ctx, cl, d); errors.Is(err, provider.ErrGone) {
			p.end(ctx, d, "the desktop did not survive: "+err.Error())
		} else if err != nil {
			// The server answers badly (it is still starting): checked again at the next look.
			p.failed(d.rt.Server, err)
			p.log.Warn("checking a desktop again failed; retrying", "session", d.id, "instance", d.rt.Instance, "error", err)
		} else {
			p.retaken(d)
		}
	default:
		inst, ok := status[d.rt.Instance]
		switch {
		case !ok:
			p.end(ctx, d, "its instance "+d.rt.Instance+" was deleted outside deskhub")
		case inst.Config[KeySession] != d.id:
			p.end(ctx, d, "its instance "+d.rt.Instance+" was given another session outside deskhub")
		case inst.StatusCode == api.Stopped || inst.StatusCode == api.Error:
			if deleting(cl, d.rt.Instance) {
				// LXD is deleting it (slowly, on a busy server): its end says so once it is gone.
				time.AfterFunc(time.Second, p.kickWatch)
				return
			}
			d.mu.Lock()
			why, read := d.stopWhy, d.stopRead
			d.mu.Unlock()
			if !read {
				why = initReason(cl, d.rt.Instance)
				d.mu.Lock()
				d.stopWhy, d.stopRead = why, true
				d.mu.Unlock()
			}
			switch {
			case strings.HasPrefix(why, "the command ended"):
			case why != "":
				why = "its instance " + d.rt.Instance + " stopped: " + why
			default:
				// Killed (lxc stop --force, lxc delete --force): a deletion follows at once in the
				// second case, and says more. Look again in a moment.
				d.mu.Lock()
				first := d.stoppedAt.IsZero()
				if first {
					d.stoppedAt = time.Now()
				}
				waited := time.Since(d.stoppedAt)
				d.mu.Unlock()
				if waited < killedWait {
					if first {
						time.AfterFunc(killedWait, p.kickWatch)
					}
					return
				}
				why = "its instance " + d.rt.Instance + " was stopped outside deskhub"
			}
			p.end(ctx, d, why)
		}
	}
}

// deleting reports whether an operation of the server is deleting instance name now (LXD names it
// "Deleting instance" and lists the instance among its resources).
func deleting(cl incus.InstanceServer, name string) bool {
	ops, err := cl.GetOperations()
	if err != nil {
		return false
	}
	for _, op := range ops {
		if op.StatusCode != api.Running || !strings.HasPrefix(op.Description, "Deleting") {
			continue
		}
		for _, urls := range op.Resources {
			for _, u := range urls {
				if sourceName(u) == name && !strings.Contains(u, "/snapshots/") {
					return true
				}
			}
		}
	}
	return false
}

// killedWait is how long a desktop whose instance was killed is given before it ends as stopped: a
// deletion that follows says more. Deleting a stopped instance can take several seconds on a busy
// server (full `make test` runs saw more than 5 and 15 s), hence the margin; a deletion LXD is
// running at the time (an operation) is waited for too.
const killedWait = 30 * time.Second

// end reports that d ended by itself, and removes what is left of its instance (a per-session instance
// is deleted; a per-user one has stopped, which is all it needs).
func (p *Provider) end(ctx context.Context, d *desktop, reason string) {
	d.mu.Lock()
	if d.ended || d.stopping {
		d.mu.Unlock()
		return
	}
	d.ended = true
	d.mu.Unlock()
	p.log.Info("desktop ended", "session", d.id, "instance", d.rt.Instance, "reason", reason)
	p.forget(d)
	if cl, err := p.client(d.rt.Server); err == nil {
		if err := p.halt(ctx, cl, d.rt.Instance, d.rt.Per == PerSession, false); err != nil {
			p.log.Warn("removing the instance of an ended desktop", "instance", d.rt.Instance, "error", err)
		}
	}
	if d.rt.Dir != "" {
		_ = os.RemoveAll(d.rt.Dir)
	}
	select {
	case p.ended <- provider.Ended{ID: d.id, Reason: reason, At: p.o.Now()}:
	case <-p.closing:
	}
}
