package lxd

import (
	"github.com/deskhub/deskhub/internal/lxdconn"
)

// Supervision of a server's link (docs/LXD-DESKTOPS.md, "When LXD restarts"). A server whose link drops
// — its LXD daemon restarts, the network to it breaks — ends none of its desktops: LXD keeps containers
// running across a daemon restart. Its desktops are marked unverified, and once the link is back the
// watcher checks each again as Adopt does after deskhub's own restart (instance there, same session,
// init ready, RFB answering): a desktop that passes is taken back, one that does not ends with the
// reason. Until then connections to them fail, as they would for a server that does not answer.

// serverLost marks the desktops of a server whose link dropped as unverified.
func (p *Provider) serverLost(ch lxdconn.StateChange) {
	p.mu.Lock()
	var ds []*desktop
	for _, d := range p.desktops {
		if d.rt.Server == ch.Server.ID {
			ds = append(ds, d)
		}
	}
	p.mu.Unlock()
	n := 0
	for _, d := range ds {
		d.mu.Lock()
		if !d.ended && !d.stopping && !d.unverified {
			d.unverified, d.relost = true, true
			n++
		}
		d.mu.Unlock()
	}
	if n > 0 {
		p.log.Warn("a server's link dropped; its desktops keep their sessions and are checked again once it is back",
			"server", ch.Server.ID, "name", ch.Server.Name, "state", ch.State, "reason", ch.Err, "desktops", n)
	}
}

// retaken logs a desktop checked again after its server's link came back.
func (p *Provider) retaken(d *desktop) {
	d.mu.Lock()
	was := d.relost
	d.relost = false
	d.mu.Unlock()
	if was {
		p.log.Info("desktop taken back after its server's link returned", "session", d.id, "instance", d.rt.Instance)
	}
}
