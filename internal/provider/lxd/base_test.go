package lxd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/provider/lxd"
)

// TestBaseInstance: with base instances (on the btrfs pool when the kernel has btrfs) a desktop
// instance is a copy of the server's base instance: the base is stopped, this broker's, marked with
// the image, has no NIC and has been shifted by LXD (volatile.last_state.idmap) without ever running a
// desktop; the copy carries the session's own configuration and devices, and runs a desktop whose init
// log is its own; a second start reuses the same base; Stop deletes the copy and keeps the base.
func TestBaseInstance(t *testing.T) {
	f := setup(t)
	pool := f.env.CoWPool(t)
	p := f.provider(t, func(o *lxd.Options) { o.BaseInstances, o.StoragePool = true, pool })
	ctx := context.Background()
	s := f.spec("base-one", f.server, "xterm")
	d := start(t, p, s)
	var bases []api.Instance
	list, err := f.env.Client(t).GetInstances(api.InstanceTypeAny)
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range list {
		if inst.Config[lxd.KeyBase] != "" {
			bases = append(bases, inst)
		}
	}
	if len(bases) != 1 {
		t.Fatalf("base instances: %d, want 1", len(bases))
	}
	base := bases[0]
	img, _, err := f.env.Client(t).GetImageAlias("deskhub/bookworm/desktop")
	if err != nil {
		t.Fatal(err)
	}
	if base.StatusCode != api.Stopped || base.Config[lxd.KeyBase] != img.Target || base.Config[lxd.KeyBroker] != "test-broker-"+t.Name() ||
		base.Config["volatile.last_state.idmap"] == "" || !strings.HasPrefix(base.Name, "dh-base-") {
		t.Errorf("base %s: %s, config %v", base.Name, base.Status, base.Config)
	}
	if pool != "" && base.ExpandedDevices["root"]["pool"] != pool {
		t.Errorf("base's root disk %v", base.ExpandedDevices["root"])
	}
	f.env.CheckNoNIC(t, base.Name)
	inst := f.instance(t, d.Hostname)
	if inst.Config["volatile.base_image"] != img.Target || inst.Config["environment.DESKHUB_GEOMETRY"] != "800x600" ||
		inst.Config[lxd.KeySession] != "base-one" || inst.Devices["deskhub-rfb"]["type"] != "proxy" {
		t.Errorf("the copy's config %v devices %v", inst.Config, inst.Devices)
	}
	f.env.CheckNoNIC(t, d.Hostname)
	if b, err := p.Log(ctx, s.ID, 0); err != nil || strings.Contains(string(b), "bad configuration") || !strings.Contains(string(b), "ready") {
		t.Errorf("the copy's init log: %v\n%s", err, b)
	}
	if w, h := shotSizeOf(t, p, s.ID); w != 800 || h != 600 {
		t.Errorf("screen %dx%d", w, h)
	}
	d2 := start(t, p, f.spec("base-two", f.server, "xterm"))
	if d2.Hostname == d.Hostname {
		t.Fatal("two sessions, one instance")
	}
	list, _ = f.env.Client(t).GetInstances(api.InstanceTypeAny)
	n := 0
	for _, inst := range list {
		if inst.Config[lxd.KeyBase] != "" && strings.HasPrefix(inst.Name, "dh-base-") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d base instances after a second start, want the same one", n)
	}
	if err := p.Stop(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if f.instance(t, d.Hostname) != nil || f.instance(t, base.Name) == nil {
		t.Errorf("after Stop: the copy must be gone, the base kept")
	}
}
