package infra

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/events"
	"github.com/deskhub/deskhub/internal/store"
)

// Server states.
const (
	stateConnecting = "connecting"
	stateOnline     = "online"
	stateOffline    = "offline"
	stateUntrusted  = "untrusted"
)

// conn is deskhub's live link to one server: a client, the server's state, the relay of its lifecycle
// events, and a short-lived cache of its instances.
type conn struct {
	s      *Service
	row    store.Server
	cfg    serverConfig
	cancel context.CancelFunc
	first  chan struct{} // closed after the first attempt to connect

	mu       sync.Mutex
	cl       incus.InstanceServer
	listener *incus.EventListener
	state    string
	err      string

	cacheMu sync.Mutex
	cache   []api.InstanceFull
	cacheAt time.Time
}

func (c *conn) status() (string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.err
}

func (c *conn) client() incus.InstanceServer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cl
}

func (c *conn) close() { c.cancel() }

// invalidate drops the cached instance list.
func (c *conn) invalidate() {
	c.cacheMu.Lock()
	c.cache, c.cacheAt = nil, time.Time{}
	c.cacheMu.Unlock()
}

// failed records that a call found the server gone, and makes the watcher reconnect (which puts the
// server back online if it answers again).
func (c *conn) failed(err error) {
	if lxdStatus(err) != 0 {
		return // the server answered: it is there
	}
	c.setState(stateOffline, err)
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l != nil {
		l.Disconnect()
	}
}

// setState records and announces a change of state.
func (c *conn) setState(state string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	changed := c.state != state
	c.state, c.err = state, msg
	row := c.row
	c.mu.Unlock()
	if !changed {
		return
	}
	s := c.s
	s.log.Info("server state", "server_id", c.row.ID, "server", c.row.Name, "state", state, "err", msg)
	row.State = state
	row.UpdatedAt = time.Now()
	if err := s.st.UpdateServer(context.Background(), &row); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("recording server state", "server_id", c.row.ID, "err", err)
	}
	data, _ := json.Marshal(map[string]any{"server_id": c.row.ID, "server_state": state})
	s.hub.Publish(vmm.Event{Type: "server", Status: state, Error: msg, Resource: vmm.TypeServer,
		ResourceID: strconv.FormatInt(c.row.ID, 10), Data: data, Provider: vmm.ProviderLXD, Time: time.Now().UTC()},
		events.Audience{Users: []int64{c.row.OwnerID}})
}

// conn returns the live link to a server, or nil.
func (s *Service) conn(id int64) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// watch starts keeping a link to the server: connect, relay its lifecycle events, and reconnect with
// a growing pause whenever it goes away.
func (s *Service) watch(row store.Server) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{s: s, row: row, cfg: readServerConfig(row), cancel: cancel, first: make(chan struct{}), state: stateConnecting}
	s.mu.Lock()
	if old := s.conns[row.ID]; old != nil {
		old.close()
	}
	s.conns[row.ID] = c
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run(ctx)
	}()
	return c
}

// unwatch stops watching a server.
func (s *Service) unwatch(id int64) {
	s.mu.Lock()
	c := s.conns[id]
	delete(s.conns, id)
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
}

func (c *conn) run(ctx context.Context) {
	pause := 250 * time.Millisecond
	firstDone := false
	for ctx.Err() == nil {
		listener, err := c.attach(ctx)
		if !firstDone {
			close(c.first)
			firstDone = true
		}
		if err == nil {
			pause = 250 * time.Millisecond
			select {
			case <-ctx.Done():
				listener.Disconnect()
				return
			case <-waitDone(listener):
			}
			err = listener.Wait()
			if err == nil {
				err = errors.New("the server closed its event stream")
			}
			c.setState(stateOffline, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, c.s.opts.RetryMax)
	}
}

func waitDone(l *incus.EventListener) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_ = l.Wait()
		close(ch)
	}()
	return ch
}

// attach connects, checks trust and subscribes to lifecycle events.
func (c *conn) attach(ctx context.Context) (*incus.EventListener, error) {
	c.mu.Lock()
	t := c.cfg.target(c.row)
	c.mu.Unlock()
	cl, err := c.s.connect(ctx, t, false)
	if err != nil {
		c.setState(stateOffline, err)
		return nil, err
	}
	ecl, err := c.s.connect(ctx, t, true)
	if err != nil {
		c.setState(stateOffline, err)
		return nil, err
	}
	info, err := getInfo(cl)
	if err != nil {
		c.setState(stateOffline, err)
		return nil, err
	}
	if !info.trusted() {
		err := errors.New("the server no longer trusts deskhub's certificate (add it again with server.add)")
		c.setState(stateUntrusted, err)
		return nil, err
	}
	if info.Environment.ServerVersion != c.cfg.Version || info.Environment.ServerName != c.cfg.ServerName {
		c.remember(info)
	}
	listener, err := ecl.GetEvents()
	if err != nil {
		c.setState(stateOffline, err)
		return nil, err
	}
	if _, err := listener.AddHandler([]string{"lifecycle"}, c.lifecycle); err != nil {
		listener.Disconnect()
		c.setState(stateOffline, err)
		return nil, err
	}
	c.mu.Lock()
	c.cl, c.listener = cl, listener
	c.mu.Unlock()
	c.invalidate()
	c.setState(stateOnline, nil)
	return listener, nil
}

// remember stores what the server reports of itself (name, version, driver) with its record.
func (c *conn) remember(info lxdInfo) {
	c.mu.Lock()
	c.cfg.ServerName, c.cfg.Version, c.cfg.Driver = info.Environment.ServerName, info.Environment.ServerVersion, info.Environment.Driver
	b, _ := json.Marshal(c.cfg)
	c.row.Config = string(b)
	id := c.row.ID
	c.mu.Unlock()
	row, err := c.s.st.GetServer(context.Background(), id)
	if err != nil {
		return
	}
	row.Config = string(b)
	if err := c.s.st.UpdateServer(context.Background(), &row); err != nil {
		c.s.log.Warn("recording what a server reports", "server_id", row.ID, "err", err)
	}
}

// lifecycle relays one LXD lifecycle event to the users who may see what it is about.
func (c *conn) lifecycle(ev api.Event) {
	var lc api.EventLifecycle
	if err := json.Unmarshal(ev.Metadata, &lc); err != nil {
		return
	}
	s := c.s
	aud := events.Audience{Users: []int64{c.row.OwnerID}}
	kind, action, _ := strings.Cut(lc.Action, "-")
	name := lc.Name
	if name == "" {
		name = sourceName(lc.Source)
	}
	at := ev.Timestamp.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	out := vmm.Event{Type: "lifecycle", Status: lc.Action, Resource: kind, Provider: vmm.ProviderLXD, Time: at}
	data := map[string]any{"server_id": c.row.ID, "action": lc.Action, "source": lc.Source, "name": name}
	if kind == "instance" && name != "" && !strings.Contains(lc.Source, "/snapshots/") && !strings.Contains(lc.Source, "/backups/") {
		c.invalidate()
		ctx := context.Background()
		out.Type, out.Status, out.Resource = "instance", action, vmm.TypeInstance
		if in, err := s.st.EnsureInstance(ctx, c.row.ID, name); err == nil {
			out.ResourceID = strconv.FormatInt(in.ID, 10)
			data["instance_id"] = in.ID
			if in.OwnerID != 0 {
				aud.Users = append(aud.Users, in.OwnerID)
			}
			if action == "deleted" {
				if err := s.st.DeleteInstance(ctx, in.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					s.log.Warn("forgetting a deleted instance", "instance", name, "err", err)
				}
			}
		}
		data["instance_name"] = name
	}
	out.Data, _ = json.Marshal(data)
	s.hub.Publish(out, aud)
}

// sourceName is the last path element of a lifecycle source ("/1.0/instances/c1?project=p" → "c1").
func sourceName(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		return ""
	}
	p := strings.TrimSuffix(u.Path, "/")
	name, _ := url.PathUnescape(p[strings.LastIndex(p, "/")+1:])
	return name
}

// DropCaches forgets every cached instance list (the next instance.list asks the servers).
func (s *Service) DropCaches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.invalidate()
	}
}
