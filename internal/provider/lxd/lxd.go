// Package lxd runs desktops inside LXD (or Incus) containers on the servers added with server.add: one
// container per session (or one per user, kept between sessions) made from deskhub's desktop image,
// whose init (`deskhub agent init`, docs/INIT.md) runs Xvnc, the window manager, PulseAudio, the agent
// and the session's command as the image's `desktop` user. The containers have no network device: the
// broker reaches their RFB server and agent through LXD proxy devices that bind unix sockets on the
// LXD host (servers on this machine), or through LXD's exec API, which runs `deskhub agent bridge` in
// the container to carry one connection over the API's websockets (servers elsewhere).
// docs/LXD-DESKTOPS.md explains the choices.
//
// It is a domain package: it speaks LXD through the links internal/lxdconn keeps (the incus Go client),
// never net/http.
//
// Files of the package:
//
//	lxd.go      Options, Provider, the desktop records, New/Close, lookups, server ids
//	start.go    Start: the instance (image, profiles, no NIC, markers, environment, devices), boot, ready
//	hello.go    a cold desktop readied in one exec (deskhub agent ready: ready file, command, keys, RFB)
//	conn.go     DialRFB and DialAgent: proxy-device sockets, or the exec bridge
//	desktop.go  Stop, Running, Exec, Screenshot, Log
//	adopt.go    Adopt after a restart, Sweep of instances no session owns
//	watch.go    Ended: lifecycle events and a poll
//	load.go     the servers (Fleet) and their load (LXD's resources API)
//	freeze.go   Freeze and Thaw (provider.Freezer): LXD's freeze action on idle desktops
//	supervise.go  a server's link dropping (LXD restarted): its desktops are checked again once it is back
//	pool.go     the warm pool: started desktops waiting for a session, claimed by Start
//	base.go     base instances: new instances as copies of one LXD has shifted already
package lxd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	incus "github.com/lxc/incus/v6/client"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

var (
	_ provider.Provider    = (*Provider)(nil)
	_ provider.AgentDialer = (*Provider)(nil)
	_ provider.Sweeper     = (*Provider)(nil)
	_ provider.Fleet       = (*Provider)(nil)
)

// Instance config keys that mark deskhub's desktop instances.
const (
	KeySession = "user.deskhub.session" // the session id the instance runs
	KeyOwner   = "user.deskhub.owner"   // the deskhub login it runs for
	KeyUser    = "user.deskhub.user"    // the deskhub account id
	KeyBroker  = "user.deskhub.broker"  // the deskhub that made it (its host server id)
	KeyPer     = "user.deskhub.per"     // "session" or "user"
)

// Instance lifetimes (--lxd-instance-per).
const (
	PerSession = "session" // a new instance per session, deleted when the session ends
	PerUser    = "user"    // one instance per user and server, stopped when the session ends and kept
)

// Transports (--lxd-transport): how the broker reaches a desktop's sockets.
const (
	TransportAuto  = "auto"  // proxy for servers on this machine (unix socket, loopback), exec for others
	TransportProxy = "proxy" // LXD proxy devices listening on unix sockets of the LXD host
	TransportExec  = "exec"  // `deskhub agent bridge` through LXD's exec API
)

// Image is where new instances take their image from.
type Image struct {
	// Alias or Fingerprint names the image (an alias wins).
	Alias, Fingerprint string
	// Server is a simplestreams image server LXD pulls from (deskhub's own: its HTTPS URL); empty: an
	// image already on the LXD server, in its project.
	Server string
	// Certificate is the PEM certificate LXD pins when it pulls from Server (deskhub's own, self-signed).
	Certificate string
}

// Options configure the provider; zero values take the defaults.
type Options struct {
	// Conns are the links to the LXD servers (shared with internal/infra).
	Conns *lxdconn.Registry
	// Store holds the server records and deskhub's instance handles.
	Store store.Store
	Log   *slog.Logger
	// BrokerID marks the instances of this deskhub (its host server id): Sweep never touches another's.
	BrokerID string
	// StateDir holds, on this machine, the directories of the proxy devices' sockets (<data>/lxd,
	// created 0700).
	StateDir string
	// Image is the desktop image.
	Image Image
	// Profiles are the profiles of new instances (resource limits come from them); default: "default".
	Profiles []string
	// Per is PerSession (default) or PerUser.
	Per string
	// HomeVolumes gives each user a custom storage volume dh-home-<account id>, mounted on /home, so
	// that their files outlive instances.
	HomeVolumes bool
	// ShareAdminServers makes the servers administrators added every account's (provider.Server.Shared).
	ShareAdminServers bool
	// Transport is TransportAuto (default), TransportProxy or TransportExec.
	Transport string
	// BridgeCommand runs the bridge in the image (default /usr/local/bin/deskhub agent bridge).
	BridgeCommand []string
	// ReadyCommand readies a cold desktop in one exec (default /usr/local/bin/deskhub agent ready; hello.go).
	ReadyCommand []string
	// ReclaimCommand gives an idle desktop's page cache back (default /usr/local/bin/deskhub agent
	// reclaim; trim.go).
	ReclaimCommand []string
	// StartTimeout bounds a start, image pull included (default 5 min).
	StartTimeout time.Duration
	// StopTimeout is how long a desktop's init has to stop before it is killed (default 15 s).
	StopTimeout time.Duration
	// PollInterval is how often running desktops are checked besides LXD's events (default 5 s).
	PollInterval time.Duration
	// Now is the clock (tests).
	Now func() time.Time
	// StoragePool is the storage pool of the instances' root disks (a copy-on-write one — btrfs, zfs —
	// makes creation a snapshot of the image); empty: the profiles' root disk.
	StoragePool string
	// PoolSize is how many started desktops each server keeps waiting for a session (pool.go); 0: none.
	PoolSize int
	// TrimSpares gives each spare's page cache back to the host once it is ready (trim.go).
	TrimSpares bool
	// ShareBinary, when set, is a deskhub binary on this machine that desktops on servers of this
	// machine get read-only at /usr/local/bin/deskhub (their init, agent and helper commands), in place
	// of the image's copy: one file, so one page cache for all of them (docs/LXD-DESKTOPS.md).
	ShareBinary string
	// PoolWidth and PoolHeight are the screen the spares start with (default 1024x768); a session of
	// another size gets its own at the claim.
	PoolWidth, PoolHeight int
	// BaseInstances makes new instances copies of a base instance per server and (local) image, which
	// LXD has shifted once (base.go), instead of instances made from the image.
	BaseInstances bool
}

// Provider runs desktops in LXD instances.
type Provider struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	desktops map[string]*desktop // by session id
	starting map[string]bool     // session ids being started
	byInst   map[instKey]string  // instance → session id
	// freezeChanges counts desktops registered, forgotten, frozen and thawed (FreezeChanges).
	freezeChanges atomic.Uint64

	loadMu sync.Mutex
	loads  map[int64]loadEntry

	pool *warmPool // nil: no warm pool

	baseMu    sync.Mutex
	bases     map[string]*baseEntry // base instances, by serverId (base.go)
	forgotten map[int64]bool        // servers deleted while deskhub runs (ForgetServer): nothing is made there

	ended     chan provider.Ended // never closed
	kick      chan struct{}       // look at the desktops now
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type instKey struct {
	server int64
	name   string
}

// runtimeInfo is Desktop.Runtime: what Adopt needs after a restart.
type runtimeInfo struct {
	V         int       `json:"v"`
	Provider  string    `json:"provider"` // "lxd"
	Server    int64     `json:"server"`
	Instance  string    `json:"instance"`
	Per       string    `json:"per"`
	Transport string    `json:"transport"`
	Dir       string    `json:"dir,omitempty"` // proxy sockets on this machine
	Ready     readyInfo `json:"ready"`
}

// readyInfo is <run>/ready of the desktop's init (docs/INIT.md).
type readyInfo struct {
	Display    string         `json:"display"`
	RFB        string         `json:"rfb"`
	Agent      string         `json:"agent"`
	XAuthority string         `json:"xauthority"`
	User       string         `json:"user"`
	UID        int            `json:"uid"`
	Home       string         `json:"home"`
	RuntimeDir string         `json:"runtime_dir"`
	Pids       map[string]int `json:"pids"`
	Since      time.Time      `json:"since"`
}

// desktop is one session the provider runs.
type desktop struct {
	id string
	rt runtimeInfo
	d  provider.Desktop

	mu       sync.Mutex
	stopping bool // deskhub stops it: its end is not news
	ended    bool // Ended was sent (or it was stopped)
	// unverified: adopted while its server did not answer; the watcher checks it once it does.
	unverified bool
	relost     bool      // unverified because its server's link dropped (supervise.go)
	stoppedAt  time.Time // when the watcher first saw its instance killed
	stopRead   bool      // init's stop reason was read (once: each read of a stopped instance's files
	stopWhy    string    // keeps LXD's file server running, and with it any deletion waiting)
	removing   bool      // remove runs
	removed    bool      // remove is done
	// frozen: its instance is frozen (freeze.go), since frozenChanged; freezeMu orders freezes and thaws.
	frozen        bool
	frozenChanged time.Time
	freezeMu      sync.Mutex
	changes       *atomic.Uint64 // the provider's freezeChanges
}

func (d *desktop) key() instKey { return instKey{d.rt.Server, d.rt.Instance} }

// New makes the provider. It connects to nothing until Start, Adopt or Sweep.
func New(o Options) (*Provider, error) {
	if o.Conns == nil || o.Store == nil {
		return nil, errors.New("lxd: the LXD links and the store are needed")
	}
	if o.BrokerID == "" || o.StateDir == "" {
		return nil, errors.New("lxd: BrokerID and StateDir are needed")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Image.Alias == "" && o.Image.Fingerprint == "" {
		return nil, errors.New("lxd: no desktop image (alias or fingerprint)")
	}
	if len(o.Profiles) == 0 {
		o.Profiles = []string{"default"}
	}
	switch o.Per {
	case "":
		o.Per = PerSession
	case PerSession, PerUser:
	default:
		return nil, fmt.Errorf("lxd: instance per %q: want session or user", o.Per)
	}
	switch o.Transport {
	case "":
		o.Transport = TransportAuto
	case TransportAuto, TransportProxy, TransportExec:
	default:
		return nil, fmt.Errorf("lxd: transport %q: want auto, proxy or exec", o.Transport)
	}
	if len(o.BridgeCommand) == 0 {
		o.BridgeCommand = []string{"/usr/local/bin/deskhub", "agent", "bridge"}
	}
	if len(o.ReadyCommand) == 0 {
		o.ReadyCommand = []string{"/usr/local/bin/deskhub", "agent", "ready"}
	}
	if len(o.ReclaimCommand) == 0 {
		o.ReclaimCommand = []string{"/usr/local/bin/deskhub", "agent", "reclaim"}
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 5 * time.Minute
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 15 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("lxd: state dir: %w", err)
	}
	o.StateDir = abs
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("lxd: state dir: %w", err)
	}
	_ = os.Chmod(o.StateDir, 0o700)
	p := &Provider{o: o, log: o.Log.With("component", "provider.lxd"), desktops: map[string]*desktop{},
		starting: map[string]bool{}, byInst: map[instKey]string{}, loads: map[int64]loadEntry{},
		ended: make(chan provider.Ended, 64), kick: make(chan struct{}, 1), closing: make(chan struct{})}
	if o.PoolSize > 0 {
		if o.Per != PerSession || o.HomeVolumes {
			return nil, errors.New("lxd: the warm pool takes per-session instances without home volumes")
		}
		p.pool = newWarmPool(p)
	}
	o.Conns.OnLifecycle(p.lifecycle)
	o.Conns.OnState(p.serverState)
	p.wg.Add(1)
	go p.poll()
	if p.pool != nil {
		p.wg.Add(1)
		go p.pool.run()
	}
	return p, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return "lxd" }

// Ended implements provider.Provider; the channel is never closed.
func (p *Provider) Ended() <-chan provider.Ended { return p.ended }

// Close stops watching; desktops keep running for a later Adopt.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.wg.Wait()
	})
	return nil
}

// get is the desktop of session id.
func (p *Provider) get(id string) (*desktop, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.desktops[id]
	if !ok {
		return nil, fmt.Errorf("lxd: %s: %w", id, provider.ErrNotFound)
	}
	return d, nil
}

// running is the desktop of session id while it runs.
func (p *Provider) running(id string) (*desktop, error) {
	d, err := p.get(id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	gone := d.ended || d.stopping
	d.mu.Unlock()
	if gone {
		return nil, fmt.Errorf("lxd: %s: %w", id, provider.ErrGone)
	}
	return d, nil
}

// register records a running desktop.
func (p *Provider) register(d *desktop) {
	d.mu.Lock()
	d.changes = &p.freezeChanges
	d.mu.Unlock()
	p.mu.Lock()
	p.desktops[d.id] = d
	p.byInst[d.key()] = d.id
	p.freezeChanges.Add(1)
	p.mu.Unlock()
}

// forget drops a desktop's record.
func (p *Provider) forget(d *desktop) {
	p.mu.Lock()
	if p.desktops[d.id] == d {
		delete(p.desktops, d.id)
		p.freezeChanges.Add(1)
	}
	if p.byInst[d.key()] == d.id {
		delete(p.byInst, d.key())
	}
	p.mu.Unlock()
}

// owns tells whether the provider runs or starts session id.
func (p *Provider) owns(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.desktops[id]
	return ok || p.starting[id]
}

// client is an online server's client, in the server's project; an unreachable server is
// provider.ErrUnavailable.
func (p *Provider) client(server int64) (incus.InstanceServer, error) {
	cl, err := p.o.Conns.Get(server)
	if err != nil {
		return nil, provider.Unavailablef(err, "LXD server %s", provider.StoredServerID(server))
	}
	return cl, nil
}

// failed tells the link of a server that a call failed (it reconnects when the server went away).
func (p *Provider) failed(server int64, err error) { p.o.Conns.Failed(server, err) }

// nameRE are the session ids that make an instance name as they are.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,58}[a-z0-9])?$`) })

// InstanceName is the name of the instance of a session (per session) or of an account (per user).
// Session ids of lower-case letters, digits and dashes (UUIDs) give dh-<id>; others, dh-s<hash>.
func (p *Provider) InstanceName(sessionID string, userID int64) string {
	if p.o.Per == PerUser {
		sum := sha256.Sum256([]byte(p.o.BrokerID))
		return fmt.Sprintf("dh-u%d-%s", userID, hex.EncodeToString(sum[:3]))
	}
	if nameRE().MatchString(sessionID) && !strings.Contains(sessionID, "--") {
		return "dh-" + sessionID
	}
	sum := sha256.Sum256([]byte(sessionID))
	return "dh-s" + hex.EncodeToString(sum[:10])
}

// HomeVolume is the custom storage volume of an account's files.
func HomeVolume(userID int64) string { return fmt.Sprintf("dh-home-%d", userID) }
