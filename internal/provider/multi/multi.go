// Package multi routes the calls of one session service to several providers: the host's (the local
// provider, serverId = the host's UUID) and the LXD provider (serverId lxd-<id>). Start goes to the
// provider of the spec's server, Adopt to the provider of the stored desktop's server; every other call
// goes to the provider that runs the desktop. Ended, Sweep and the servers' figures gather all of them.
package multi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/deskhub/deskhub/internal/provider"
)

var (
	_ provider.Provider     = (*Router)(nil)
	_ provider.AgentDialer  = (*Router)(nil)
	_ provider.Sweeper      = (*Router)(nil)
	_ provider.Fleet        = (*Router)(nil)
	_ provider.LoadReporter = (*Router)(nil)
)

// Backend is one provider and the servers it runs desktops on.
type Backend struct {
	Provider provider.Provider
	// Serves tells whether serverID is one of its servers.
	Serves func(serverID string) bool
}

// Router is a provider.Provider over several providers.
type Router struct {
	hostID, hostName string
	host             provider.Provider
	others           []Backend

	mu    sync.Mutex
	byID  map[string]provider.Provider
	ended chan provider.Ended
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// New routes serverId hostID (and "") to host, and other serverIds to the first of others that serves
// them.
func New(hostID, hostName string, host provider.Provider, others ...Backend) *Router {
	r := &Router{hostID: hostID, hostName: hostName, host: host, others: others, byID: map[string]provider.Provider{},
		ended: make(chan provider.Ended, 64), done: make(chan struct{})}
	for _, p := range r.providers() {
		r.wg.Add(1)
		go r.relay(p)
	}
	return r
}

// Host is the host's provider.
func (r *Router) Host() provider.Provider { return r.host }

func (r *Router) providers() []provider.Provider {
	out := []provider.Provider{r.host}
	for _, b := range r.others {
		out = append(out, b.Provider)
	}
	return out
}

// relay passes on the desktops that p reports ended.
func (r *Router) relay(p provider.Provider) {
	defer r.wg.Done()
	for {
		select {
		case <-r.done:
			return
		case e, ok := <-p.Ended():
			if !ok {
				return
			}
			r.mu.Lock()
			if r.byID[e.ID] == p {
				delete(r.byID, e.ID)
			}
			r.mu.Unlock()
			select {
			case r.ended <- e:
			case <-r.done:
				return
			}
		}
	}
}

// ErrUnknownServer: no provider runs desktops on that server.
var ErrUnknownServer = errors.New("no such server")

// For is the provider of a server.
func (r *Router) For(serverID string) (provider.Provider, error) {
	if serverID == "" || serverID == r.hostID {
		return r.host, nil
	}
	for _, b := range r.others {
		if b.Serves(serverID) {
			return b.Provider, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownServer, serverID)
}

// of is the provider that runs desktop id.
func (r *Router) of(id string) (provider.Provider, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.byID[id]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("%s: %w", id, provider.ErrNotFound)
}

// Name implements provider.Provider.
func (r *Router) Name() string { return "multi" }

// Start implements provider.Provider.
func (r *Router) Start(ctx context.Context, s provider.Spec) (*provider.Desktop, error) {
	p, err := r.For(s.ServerID)
	if err != nil {
		return nil, err
	}
	d, err := p.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	if d.ServerID == "" {
		d.ServerID = r.serverOf(s.ServerID)
	}
	r.mu.Lock()
	r.byID[s.ID] = p
	r.mu.Unlock()
	return d, nil
}

func (r *Router) serverOf(id string) string {
	if id == "" {
		return r.hostID
	}
	return id
}

// Adopt implements provider.Provider.
func (r *Router) Adopt(ctx context.Context, in provider.Desktop) (*provider.Desktop, error) {
	p, err := r.For(in.ServerID)
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %v: %w", in.ID, err, provider.ErrGone)
	}
	d, err := p.Adopt(ctx, in)
	if err != nil {
		return nil, err
	}
	if d.ServerID == "" {
		d.ServerID = r.serverOf(in.ServerID)
	}
	r.mu.Lock()
	r.byID[in.ID] = p
	r.mu.Unlock()
	return d, nil
}

// Stop implements provider.Provider. A desktop the router does not know (a start a crash interrupted)
// is stopped by every provider that may have it.
func (r *Router) Stop(ctx context.Context, id string) error {
	p, err := r.of(id)
	if err != nil {
		var errs []error
		for _, p := range r.providers() {
			if err := p.Stop(ctx, id); err != nil && !errors.Is(err, provider.ErrNotFound) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if err := p.Stop(ctx, id); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.byID, id)
	r.mu.Unlock()
	return nil
}

// Running implements provider.Provider.
func (r *Router) Running(ctx context.Context, id string) (bool, error) {
	p, err := r.of(id)
	if err != nil {
		return false, err
	}
	return p.Running(ctx, id)
}

// DialRFB implements provider.Provider.
func (r *Router) DialRFB(ctx context.Context, id string) (net.Conn, error) {
	p, err := r.of(id)
	if err != nil {
		return nil, err
	}
	return p.DialRFB(ctx, id)
}

// DialAgent implements provider.AgentDialer.
func (r *Router) DialAgent(ctx context.Context, id string) (net.Conn, error) {
	p, err := r.of(id)
	if err != nil {
		return nil, err
	}
	ad, ok := p.(provider.AgentDialer)
	if !ok {
		return nil, fmt.Errorf("the desktops of provider %s run no agent", p.Name())
	}
	return ad.DialAgent(ctx, id)
}

// Screenshot implements provider.Provider.
func (r *Router) Screenshot(ctx context.Context, id string, o provider.ScreenshotOptions) ([]byte, error) {
	p, err := r.of(id)
	if err != nil {
		return nil, err
	}
	return p.Screenshot(ctx, id, o)
}

// Exec implements provider.Provider.
func (r *Router) Exec(ctx context.Context, id string, argv []string) (int, error) {
	p, err := r.of(id)
	if err != nil {
		return 0, err
	}
	return p.Exec(ctx, id, argv)
}

// Log implements provider.Provider; a desktop no provider runs any more is asked of every provider
// (the local provider keeps the logs of ended desktops).
func (r *Router) Log(ctx context.Context, id string, max int) ([]byte, error) {
	if p, err := r.of(id); err == nil {
		return p.Log(ctx, id, max)
	}
	for _, p := range r.providers() {
		if b, err := p.Log(ctx, id, max); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", id, provider.ErrNotFound)
}

// Ended implements provider.Provider; the channel is never closed.
func (r *Router) Ended() <-chan provider.Ended { return r.ended }

// Close closes every provider.
func (r *Router) Close() error {
	var errs []error
	r.once.Do(func() {
		close(r.done)
		for _, p := range r.providers() {
			errs = append(errs, p.Close())
		}
		r.wg.Wait()
	})
	return errors.Join(errs...)
}

// Sweep implements provider.Sweeper over every provider that sweeps.
func (r *Router) Sweep(ctx context.Context) ([]string, error) {
	var ids []string
	var errs []error
	for _, p := range r.providers() {
		if sw, ok := p.(provider.Sweeper); ok {
			got, err := sw.Sweep(ctx)
			ids = append(ids, got...)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
			}
		}
	}
	return ids, errors.Join(errs...)
}

// Load implements provider.LoadReporter: the host's.
func (r *Router) Load(ctx context.Context) (provider.Load, error) {
	if lr, ok := r.host.(provider.LoadReporter); ok {
		return lr.Load(ctx)
	}
	return provider.Load{}, errors.New("the host reports no load")
}

// Servers implements provider.Fleet: the host, then the servers of the other providers.
func (r *Router) Servers(ctx context.Context) []provider.Server {
	state, why := provider.StateOnline, ""
	if u, ok := r.host.(*provider.Unavailable); ok {
		state, why = "unavailable", u.Err.Error()
	}
	out := []provider.Server{{ID: r.hostID, Name: r.hostName, Provider: r.host.Name(), State: state, Err: why}}
	for _, b := range r.others {
		if f, ok := b.Provider.(provider.Fleet); ok {
			out = append(out, f.Servers(ctx)...)
		}
	}
	return out
}

// ServerLoad implements provider.Fleet.
func (r *Router) ServerLoad(ctx context.Context, serverID string) (provider.Load, error) {
	p, err := r.For(serverID)
	if err != nil {
		return provider.Load{}, err
	}
	if p == r.host {
		return r.Load(ctx)
	}
	if f, ok := p.(provider.Fleet); ok {
		return f.ServerLoad(ctx, serverID)
	}
	return provider.Load{}, fmt.Errorf("%s reports no load", serverID)
}
