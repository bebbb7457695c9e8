package lxd

import (
	"context"
	"fmt"
	"time"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
)

// loadTTL is how long a server's figures are reused (LXD's resources API reads the hardware each time).
const loadTTL = 3 * time.Second

type loadEntry struct {
	at   time.Time
	load provider.Load
}

// Servers implements provider.Fleet: the LXD servers added with server.add, with their state.
func (p *Provider) Servers(ctx context.Context) []provider.Server {
	rows, err := p.o.Store.ListServers(ctx, 0)
	if err != nil {
		p.log.Warn("listing the LXD servers", "error", err)
		return nil
	}
	var out []provider.Server
	for _, row := range rows {
		if row.Provider != lxdconn.Provider {
			continue
		}
		st, why, watched := p.o.Conns.Status(row.ID)
		if !watched {
			st, why = "offline", "not connected"
		}
		shared := false
		if p.o.ShareAdminServers && row.OwnerID != 0 {
			u, err := p.o.Store.GetUser(ctx, row.OwnerID)
			shared = err == nil && u.Admin
		}
		out = append(out, provider.Server{ID: provider.StoredServerID(row.ID), StoreID: row.ID, Name: row.Name,
			Provider: "lxd", OwnerID: row.OwnerID, Shared: shared, State: st, Err: why})
	}
	return out
}

// sessions counts the desktops the provider runs on a server.
func (p *Provider) sessions(server int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, d := range p.desktops {
		if d.rt.Server == server {
			n++
		}
	}
	return n
}

// ServerLoad implements provider.Fleet: CPUs and memory from LXD's resources API, and the desktops
// the provider runs there.
func (p *Provider) ServerLoad(ctx context.Context, serverID string) (provider.Load, error) {
	id, ok := provider.ParseStoredServerID(serverID)
	if !ok {
		return provider.Load{}, fmt.Errorf("lxd: %q names no LXD server", serverID)
	}
	p.loadMu.Lock()
	e, ok := p.loads[id]
	p.loadMu.Unlock()
	if !ok || p.o.Now().Sub(e.at) > loadTTL {
		cl, err := p.client(id)
		if err != nil {
			return provider.Load{}, err
		}
		res, err := cl.GetServerResources()
		if err != nil {
			p.failed(id, err)
			return provider.Load{}, fmt.Errorf("lxd: the resources of %s: %w", serverID, err)
		}
		l := provider.Load{CPUs: int(res.CPU.Total), TotalMemory: int64(res.Memory.Total)}
		if res.Memory.Total > res.Memory.Used {
			l.FreeMemory = int64(res.Memory.Total - res.Memory.Used)
		}
		if len(res.CPU.Sockets) > 0 {
			l.CPUModel = res.CPU.Sockets[0].Name
		}
		e = loadEntry{at: p.o.Now(), load: l}
		p.loadMu.Lock()
		p.loads[id] = e
		p.loadMu.Unlock()
	}
	l := e.load
	l.Sessions = p.sessions(id)
	l.Pooled = p.Pool(serverID).Ready
	return l, ctx.Err()
}
