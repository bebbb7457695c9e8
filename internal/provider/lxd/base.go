package lxd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
)

// Base instances (--lxd-base-instance, docs/LXD-DESKTOPS.md "Storage pools and base instances"): LXD
// 5.0 shifts a new container's files to its idmap on the first start ("Remapping container
// filesystem", ~1 s for the desktop image), for every instance made from the image. A copy of an
// instance that has started once keeps its shifted files and volatile.last_state.idmap, so its first
// start does not shift again; on a copy-on-write pool the copy is a snapshot. So with base instances a
// desktop instance is a copy of dh-base-…, an instance made once per server, image and pool from the
// image and started once with a configuration init refuses (it stops before touching anything): it
// never ran a desktop and holds nothing of anyone. Only for images already on the server (local); the
// base of an image that is no longer the alias's target is deleted when the next one is made.

// KeyBase marks a base instance (its value: the image fingerprint).
const KeyBase = "user.deskhub.base"

// baseTTL is how long the image an alias names is taken as known.
const baseTTL = 30 * time.Second

type baseEntry struct {
	mu   sync.Mutex // one creation at a time
	fp   string
	name string
	at   time.Time
	ok   bool
}

func (p *Provider) baseEntry(server string) *baseEntry {
	p.baseMu.Lock()
	defer p.baseMu.Unlock()
	if p.bases == nil {
		p.bases = map[string]*baseEntry{}
	}
	e := p.bases[server]
	if e == nil {
		e = &baseEntry{}
		p.bases[server] = e
	}
	return e
}

// baseSource is the source of a new instance on the server: a copy of its base instance when base
// instances are on and the image is local (made when missing), else ok is false (from the image).
func (p *Provider) baseSource(ctx context.Context, cl incus.InstanceServer, serverID string) (api.InstanceSource, bool) {
	if !p.o.BaseInstances || p.o.Image.Server != "" {
		return api.InstanceSource{}, false
	}
	if id, ok := provider.ParseStoredServerID(serverID); ok && p.forgot(id) {
		return api.InstanceSource{}, false
	}
	e := p.baseEntry(serverID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ok && time.Since(e.at) < baseTTL {
		return api.InstanceSource{Type: "copy", Source: e.name, InstanceOnly: true}, true
	}
	fp := p.o.Image.Fingerprint
	if p.o.Image.Alias != "" {
		a, _, err := cl.GetImageAlias(p.o.Image.Alias)
		if err != nil {
			p.log.Warn("base instance: resolving the image alias; making the instance from the image", "error", err)
			return api.InstanceSource{}, false
		}
		fp = a.Target
	} else if img, _, err := cl.GetImage(fp); err == nil {
		fp = img.Fingerprint
	}
	sum := sha256.Sum256([]byte(p.o.BrokerID + "\x00" + p.o.StoragePool))
	name := fmt.Sprintf("dh-base-%.12s-%s", fp, hex.EncodeToString(sum[:3]))
	if err := p.makeBase(ctx, cl, serverID, name, fp); err != nil {
		p.log.Warn("base instance: making it failed; making the instance from the image", "base", name, "error", err)
		return api.InstanceSource{}, false
	}
	if e.ok && e.name != name { // the alias moved: the old base goes
		old := e.name
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = p.halt(cctx, cl, old, true, false)
		}()
	}
	e.fp, e.name, e.at, e.ok = fp, name, time.Now(), true
	return api.InstanceSource{Type: "copy", Source: name, InstanceOnly: true}, true
}

// makeBase makes the base instance unless it exists: from the image, with the desktop instances'
// profiles and devices (no NIC), started once with DESKHUB_GEOMETRY=none, which init refuses at once.
func (p *Provider) makeBase(ctx context.Context, cl incus.InstanceServer, serverID, name, fp string) error {
	inst, _, err := cl.GetInstance(name)
	if err == nil {
		if inst.Config[KeyBroker] != p.o.BrokerID || inst.Config[KeyBase] != fp {
			return fmt.Errorf("instance %s is not this deskhub's base of image %.12s", name, fp)
		}
		if inst.Config["volatile.last_state.idmap"] != "" && inst.StatusCode == api.Stopped {
			return nil
		}
		_ = p.halt(ctx, cl, name, true, false) // half made: again
	} else if !lxdconn.IsNotFound(err) {
		return err
	}
	t0 := time.Now()
	rt := runtimeInfo{Transport: TransportExec, Per: PerSession}
	put, err := p.instancePut(ctx, cl, provider.Spec{Command: []string{"true"}}, rt)
	if err != nil {
		return err
	}
	put.Config = map[string]string{KeyBroker: p.o.BrokerID, KeyBase: fp, "environment.DESKHUB_GEOMETRY": "none"}
	op, err := cl.CreateInstance(api.InstancesPost{Name: name, Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{Type: "image", Fingerprint: fp}, InstancePut: put})
	if err == nil {
		err = p.wait(ctx, cl, op)
	}
	if err != nil {
		_ = p.halt(context.WithoutCancel(ctx), cl, name, true, false)
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if err := checkNoNIC(cl, name); err != nil {
		_ = p.halt(context.WithoutCancel(ctx), cl, name, true, false)
		return err
	}
	// LXD shifts the files before init runs; init then stops at once (its start may or may not be
	// reported as failed).
	_ = p.changeState(ctx, cl, name, api.InstanceStatePut{Action: "start", Timeout: -1})
	for {
		inst, _, err := cl.GetInstance(name)
		if err != nil {
			return err
		}
		if inst.StatusCode == api.Stopped {
			if inst.Config["volatile.last_state.idmap"] == "" {
				_ = p.halt(context.WithoutCancel(ctx), cl, name, true, false)
				return fmt.Errorf("%s stopped without LXD having shifted its files", name)
			}
			// init's log of that refusal is no desktop's.
			_ = cl.DeleteInstanceFile(name, initLog)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.log.Info("base instance made", "server", serverID, "base", name, "image", fp, "took", time.Since(t0).Round(time.Millisecond).String())
	return nil
}
