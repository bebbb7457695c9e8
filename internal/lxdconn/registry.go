package lxdconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Provider is the provider name of the server records this package connects to.
const Provider = "lxd"

// Server states.
const (
	StateConnecting = "connecting"
	StateOnline     = "online"
	StateOffline    = "offline"
	StateUntrusted  = "untrusted"
)

// Options configure a Registry; zero fields take the defaults New gives them.
type Options struct {
	// Identity is deskhub's client certificate (LoadIdentity).
	Identity Identity
	// Store holds the server records; the registry records their state and what they report.
	Store store.Store
	Log   *slog.Logger
	// CallTimeout bounds one call to a server (default 30 s).
	CallTimeout time.Duration
	// RetryMax bounds the pause between attempts to reach a server that went away (default 15 s).
	RetryMax time.Duration
}

// StateChange is a server's new state, as recorded in its row.
type StateChange struct {
	Server store.Server
	State  string
	Err    string // why, for offline and untrusted
}

// Registry keeps deskhub's links to the servers added with server.add.
type Registry struct {
	opts Options
	st   store.Store
	log  *slog.Logger
	id   Identity

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   map[int64]*conn
	onState []func(StateChange)
	onEvent []func(store.Server, api.Event)
}

// New makes a registry; Start (or Watch) connects to servers.
func New(o Options) (*Registry, error) {
	if o.Store == nil || o.Identity.CertPEM == "" {
		return nil, errors.New("lxdconn: a store and a client identity are needed")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 15 * time.Second
	}
	r := &Registry{opts: o, st: o.Store, log: o.Log.With("component", "lxdconn"), id: o.Identity, conns: map[int64]*conn{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Identity is deskhub's client certificate.
func (r *Registry) Identity() Identity { return r.id }

// OnState calls f (synchronously, on the link's goroutine) after each change of a server's state.
func (r *Registry) OnState(f func(StateChange)) {
	r.mu.Lock()
	r.onState = append(r.onState, f)
	r.mu.Unlock()
}

// OnLifecycle calls f (synchronously, on the event listener's goroutine) with every lifecycle event
// of every server.
func (r *Registry) OnLifecycle(f func(store.Server, api.Event)) {
	r.mu.Lock()
	r.onEvent = append(r.onEvent, f)
	r.mu.Unlock()
}

// Start watches every LXD server in the store that is not watched yet.
func (r *Registry) Start(ctx context.Context) error {
	rows, err := r.st.ListServers(ctx, 0)
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.Provider == Provider && r.conn(row.ID) == nil {
			r.Watch(row)
		}
	}
	return nil
}

// Close stops every link and waits for their goroutines.
func (r *Registry) Close() {
	r.cancel()
	r.mu.Lock()
	for _, c := range r.conns {
		c.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Watch starts keeping a link to the server of row (replacing any link it had): connect, relay its
// lifecycle events, and reconnect with a growing pause whenever it goes away. The channel is closed
// after the first attempt to connect.
func (r *Registry) Watch(row store.Server) <-chan struct{} {
	ctx, cancel := context.WithCancel(r.ctx)
	c := &conn{r: r, row: row, cfg: ReadConfig(row), cancel: cancel, first: make(chan struct{}), state: StateConnecting}
	r.mu.Lock()
	if old := r.conns[row.ID]; old != nil {
		old.cancel()
	}
	r.conns[row.ID] = c
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c.run(ctx)
	}()
	return c.first
}

// Unwatch stops keeping a link to a server.
func (r *Registry) Unwatch(id int64) {
	r.mu.Lock()
	c := r.conns[id]
	delete(r.conns, id)
	r.mu.Unlock()
	if c != nil {
		c.cancel()
	}
}

func (r *Registry) conn(id int64) *conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[id]
}

// Get is a client of an online server, or an Unavailable error saying why there is none.
func (r *Registry) Get(id int64) (incus.InstanceServer, error) {
	c := r.conn(id)
	if c == nil {
		return nil, fault.New(fault.Unavailable, "server %d is not connected", id)
	}
	st, e := c.status()
	if st != StateOnline {
		return nil, &fault.Error{Kind: fault.Unavailable, RetryAfter: 5,
			Msg: fmt.Sprintf("server %d (%s) is %s: %s", id, c.row.Name, st, e)}
	}
	return c.client(), nil
}

// Client is the watched server's last client, whatever its state (nil when it never connected or is
// not watched). Calls through it fail while the server is away; report those with Failed.
func (r *Registry) Client(id int64) incus.InstanceServer {
	if c := r.conn(id); c != nil {
		return c.client()
	}
	return nil
}

// Status is a watched server's state and, when it is not online, why; watched is false for a server
// the registry does not follow.
func (r *Registry) Status(id int64) (state, why string, watched bool) {
	c := r.conn(id)
	if c == nil {
		return "", "", false
	}
	state, why = c.status()
	return state, why, true
}

// Failed reports that a call to the server failed. An error LXD answered means the server is there;
// any other marks it offline and makes its link reconnect (which puts it back online if it answers).
func (r *Registry) Failed(id int64, err error) {
	if c := r.conn(id); c != nil {
		c.failed(err)
	}
}

// ServerStatus is one watched server's state.
type ServerStatus struct {
	ID    int64
	State string
	Error string
}

// Health is every watched server's state, by id.
func (r *Registry) Health() []ServerStatus {
	r.mu.Lock()
	out := make([]ServerStatus, 0, len(r.conns))
	for id, c := range r.conns {
		st, e := c.status()
		out = append(out, ServerStatus{ID: id, State: st, Error: e})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// conn is deskhub's live link to one server: a client, the server's state and its event listener.
type conn struct {
	r      *Registry
	row    store.Server
	cfg    Config
	cancel context.CancelFunc
	first  chan struct{} // closed after the first attempt to connect

	mu       sync.Mutex
	cl       incus.InstanceServer
	listener *incus.EventListener
	state    string
	err      string
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

func (c *conn) failed(err error) {
	if Status(err) != 0 {
		return // the server answered: it is there
	}
	c.setState(StateOffline, err)
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
	r := c.r
	r.log.Info("server state", "server_id", row.ID, "server", row.Name, "state", state, "err", msg)
	row.State = state
	row.UpdatedAt = time.Now()
	if err := r.st.UpdateServer(context.Background(), &row); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.log.Warn("recording server state", "server_id", row.ID, "err", err)
	}
	r.mu.Lock()
	fs := r.onState
	r.mu.Unlock()
	for _, f := range fs {
		f(StateChange{Server: row, State: state, Err: msg})
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
			c.setState(StateOffline, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(pause*2, c.r.opts.RetryMax)
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
	t := c.cfg.Target(c.row)
	c.mu.Unlock()
	cl, err := c.r.Connect(ctx, t, false)
	if err != nil {
		c.setState(StateOffline, err)
		return nil, err
	}
	ecl, err := c.r.Connect(ctx, t, true)
	if err != nil {
		c.setState(StateOffline, err)
		return nil, err
	}
	info, err := GetInfo(cl)
	if err != nil {
		c.setState(StateOffline, err)
		return nil, err
	}
	if !info.Trusted() {
		err := errors.New("the server no longer trusts deskhub's certificate (add it again with server.add)")
		c.setState(StateUntrusted, err)
		return nil, err
	}
	if info.Environment.ServerVersion != c.cfg.Version || info.Environment.ServerName != c.cfg.ServerName {
		c.remember(info)
	}
	listener, err := ecl.GetEvents()
	if err != nil {
		c.setState(StateOffline, err)
		return nil, err
	}
	if _, err := listener.AddHandler([]string{"lifecycle"}, c.lifecycle); err != nil {
		listener.Disconnect()
		c.setState(StateOffline, err)
		return nil, err
	}
	c.mu.Lock()
	c.cl, c.listener = cl, listener
	c.mu.Unlock()
	c.setState(StateOnline, nil)
	return listener, nil
}

// remember stores what the server reports of itself (name, version, driver) with its record.
func (c *conn) remember(info Info) {
	c.mu.Lock()
	c.cfg.ServerName, c.cfg.Version, c.cfg.Driver = info.Environment.ServerName, info.Environment.ServerVersion, info.Environment.Driver
	b, _ := json.Marshal(c.cfg)
	c.row.Config = string(b)
	id := c.row.ID
	c.mu.Unlock()
	row, err := c.r.st.GetServer(context.Background(), id)
	if err != nil {
		return
	}
	row.Config = string(b)
	if err := c.r.st.UpdateServer(context.Background(), &row); err != nil {
		c.r.log.Warn("recording what a server reports", "server_id", row.ID, "err", err)
	}
}

// lifecycle hands one LXD lifecycle event to the subscribers.
func (c *conn) lifecycle(ev api.Event) {
	c.mu.Lock()
	row := c.row
	c.mu.Unlock()
	c.r.mu.Lock()
	fs := c.r.onEvent
	c.r.mu.Unlock()
	for _, f := range fs {
		f(row, ev)
	}
}
