// Package local runs desktops on this host: one TigerVNC Xvnc server per session (RFB on a unix socket only,
// X access guarded by a per-session MIT cookie), a window manager (openbox) in desktop mode, restarted when
// it exits, and the session's command, all as the session's Unix user, in their own Unix sessions so they
// outlive the deskhub process. What it shares with the desktop's init (the Xvnc command line, accounts,
// waiting for X and for the window manager, the restart budget) is in internal/xdesk.
//
// Layout of a session directory <StateDir>/<id>/ (0700, owned by the session user):
//
//	xauthority   the MIT-MAGIC-COOKIE-1 of the display (0600)
//	rfb.sock     Xvnc's RFB socket (0600; deskhub connects as root)
//	session.log  output of Xvnc, the window manager, the command and Exec'd programs (kept after Stop)
//
// Because the directory belongs to the session user, deskhub opens files in it without following symlinks.
//
// <StateDir>/.xkb/<key>/ (0755, deskhub's) is the keymap cache given to every Xvnc as -xkbdir (keymap.go).
//
// <StateDir>/.compose-cache/<uid>/ (0700, owned by the account; the parent 0711, deskhub's) is the
// account's libX11 compose cache (XCOMPOSECACHE in every desktop process): X clients map the compiled
// Compose table instead of parsing it at each start.
//
// Files of the package:
//
//	local.go       Options, Provider, the desktop record, New/Close, lookups (get, running, Running), DialRFB
//	start.go       Start and its phases: resolve (account, command, Xvnc, window manager), session dir and
//	               cookie, Xvnc on a free display (retried when taken), window manager (waitWM), command
//	display.go     display numbers: reservation, cleanup of a display's files
//	supervise.go   processes of a session: spawn (own Unix session, as the user), register and watch,
//	               window manager restarts, end/teardown/kill (process groups, SIGTERM then SIGKILL), Stop, Exec
//	adopt.go       Adopt: take over a desktop started by an earlier deskhub process
//	sessiondir.go  the session directory: creation, user-owned files, no-follow opens, session.log (Log)
//	xconn.go       top-level windows (rootless desktops)
//	screenshot.go  root window grab, pixel conversion, scaling and PNG/JPEG encoding
//	keymap.go      the keymap cache (Xvnc's -xkbdir: the default keymap flattened, learnt from a desktop)
//	agent.go       the desktop agent of each session; sweep.go orphans of earlier runs; proc.go /proc
//	               process references; user.go accounts; load.go host load; logcap.go session.log bounds
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xdesk"
)

var _ provider.Provider = (*Provider)(nil)

// Options configure the local provider; zero values take the defaults.
type Options struct {
	// AgentCommand runs the desktop agent in every desktop (e.g. [/usr/local/bin/deskhub agent]); the
	// provider adds --display, --home and --listen. Empty: no agent. The binary must be executable by
	// the desktops' users.
	AgentCommand []string
	// StateDir holds one directory per session (e.g. <data>/sessions). It and its parents must be
	// searchable (o+x) by the session users; it is created 0711 when missing.
	StateDir string
	Log      *slog.Logger
	// XvncPath is the TigerVNC X server (default: "Xvnc" from PATH).
	XvncPath string
	// GLX keeps the GLX extension of the desktops' X servers (see xdesk.Xvnc.GLX: ~50 MiB more per
	// desktop and a slower start; off by default).
	GLX bool
	// NoCompareFB turns off the X servers' pixel comparison (see xdesk.Xvnc.NoCompareFB: ~4 MiB less per
	// desktop that has been viewed, more bytes to its viewers).
	NoCompareFB bool
	// NoComposeCache starts desktops without the account's compose cache (see composeCacheDir), as
	// before it existed: benchmarks compare the two.
	NoComposeCache bool
	// NoKeymapCache starts every X server with the system's XKB data (-xkbdir left alone), as before
	// the keymap cache (keymap.go) existed: benchmarks compare the two.
	NoKeymapCache bool
	// WindowManager is the window manager command of desktop mode, split on spaces (default "openbox").
	WindowManager string
	// DisplayBase is the first display number tried (default 100).
	DisplayBase int
	// Lang is LANG in desktops (default C.UTF-8).
	Lang string
	// StartTimeout bounds the wait for the X server to accept connections (default 15s).
	StartTimeout time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when stopping (default 3s).
	StopGrace time.Duration
	// RootlessGrace ends a rootless session that never shows a window (default 10s).
	RootlessGrace time.Duration
	// PollInterval is how often watchers look at processes and windows (default 250ms).
	PollInterval time.Duration
	// WMRestarts is the restart budget of each desktop's window manager: one that exits is started
	// again, until it exits more often than the budget allows, which ends the desktop (zero: 5 restarts a
	// minute, 250 ms to 5 s apart).
	WMRestarts xdesk.Restarts
}

// Provider is the local desktop provider.
type Provider struct {
	o        Options
	log      *slog.Logger
	hostname string

	mu       sync.Mutex
	desktops map[string]*desktop
	displays map[int]string // display number → session id (reserved or in use)
	starting map[string]bool

	ended     chan provider.Ended
	closing   chan struct{}
	closeOnce sync.Once
	closed    bool
	wg        sync.WaitGroup

	host HostLoad // this host's figures (load.go)
	km   keymapCache
}

// runtimeInfo is Desktop.Runtime: what Adopt needs after a restart.
type runtimeInfo struct {
	V        int      `json:"v"`
	Display  int      `json:"display"`
	Dir      string   `json:"dir"`
	User     account  `json:"user"`
	Rootless bool     `json:"rootless"`
	Server   procRef  `json:"server"`
	WM       *procRef `json:"wm,omitempty"`
	App      procRef  `json:"app"`
	Width    int      `json:"width"`
	Height   int      `json:"height"`
	Depth    int      `json:"depth"`
}

type state int

const (
	stateRunning state = iota
	stateEnding
	stateGone
)

// desktop is one session the provider watches. rt.WM changes when the window manager is restarted:
// read and write it under mu.
type desktop struct {
	id     string
	rt     runtimeInfo
	d      provider.Desktop
	cookie []byte
	marker string // environment entry every process of the session carries

	serverDone <-chan struct{} // closed when Xvnc exits (nil when adopted: poll /proc)
	appDone    <-chan struct{} // closed when the command exits (nil when adopted)
	appStatus  *string         // set before appDone closes
	wmDone     <-chan struct{} // closed when the window manager exits (nil when adopted: poll /proc)
	wmStatus   *string         // set before wmDone closes
	wmRestarts xdesk.Restarts  // the window manager's restart budget

	mu        sync.Mutex
	st        state
	execs     []procRef
	tornDown  chan struct{}
	stopWatch chan struct{}
	stopOnce  sync.Once
}

func (d *desktop) logPath() string   { return filepath.Join(d.rt.Dir, "session.log") }
func (d *desktop) rfbPath() string   { return filepath.Join(d.rt.Dir, "rfb.sock") }
func (d *desktop) xauthPath() string { return filepath.Join(d.rt.Dir, "xauthority") }

// New creates the provider. It does not need Xvnc to be installed until Start.
func New(o Options) (*Provider, error) {
	if o.StateDir == "" {
		return nil, errors.New("local: Options.StateDir is required")
	}
	if !filepath.IsAbs(o.StateDir) {
		abs, err := filepath.Abs(o.StateDir)
		if err != nil {
			return nil, fmt.Errorf("local: state dir: %w", err)
		}
		o.StateDir = abs
	}
	o.StateDir = filepath.Clean(o.StateDir)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.WindowManager == "" {
		o.WindowManager = "openbox"
	}
	if o.DisplayBase <= 0 {
		o.DisplayBase = 100
	}
	if o.Lang == "" {
		o.Lang = "C.UTF-8"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 15 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 3 * time.Second
	}
	if o.RootlessGrace <= 0 {
		o.RootlessGrace = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if _, err := os.Stat(o.StateDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(o.StateDir, 0o711); err != nil {
			return nil, fmt.Errorf("local: state dir: %w", err)
		}
		_ = os.Chmod(o.StateDir, 0o711)
	}
	if os.Geteuid() == 0 {
		// Session users must reach <StateDir>/<id>/ (Xvnc creates its socket there as them).
		for p := o.StateDir; ; p = filepath.Dir(p) {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("local: state dir: %w", err)
			}
			if fi.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("local: state dir %s: %s (mode %v) must be searchable by session users (chmod o+x)",
					o.StateDir, p, fi.Mode().Perm())
			}
			if p == "/" {
				break
			}
		}
	}
	host, _ := os.Hostname()
	return &Provider{
		o:        o,
		log:      o.Log.With("component", "provider.local"),
		hostname: host,
		desktops: map[string]*desktop{},
		displays: map[int]string{},
		starting: map[string]bool{},
		ended:    make(chan provider.Ended, 64),
		closing:  make(chan struct{}),
	}, nil
}

// Name implements provider.Provider.
func (p *Provider) Name() string { return "local" }

// Ended implements provider.Provider; the channel is closed by Close.
func (p *Provider) Ended() <-chan provider.Ended { return p.ended }

// Close stops the watchers; desktops keep running for a later Adopt.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.closing)
		p.wg.Wait()
		close(p.ended)
	})
	return nil
}

var idRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })

func checkID(id string) error {
	if !idRE().MatchString(id) {
		return fmt.Errorf("local: bad session id %q (want [A-Za-z0-9_.-], at most 128, not starting with '.' or '-')", id)
	}
	return nil
}

func (d *desktop) state() state {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

func (p *Provider) get(id string) (*desktop, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.desktops[id]
	if !ok {
		return nil, fmt.Errorf("local: %s: %w", id, provider.ErrNotFound)
	}
	return d, nil
}

func (p *Provider) running(id string) (*desktop, error) {
	d, err := p.get(id)
	if err != nil {
		return nil, err
	}
	if d.state() != stateRunning {
		return nil, fmt.Errorf("local: %s: %w", id, provider.ErrGone)
	}
	return d, nil
}

// Running implements provider.Provider.
func (p *Provider) Running(ctx context.Context, id string) (bool, error) {
	d, err := p.get(id)
	if err != nil {
		return false, err
	}
	return d.state() == stateRunning && d.rt.Server.alive(), nil
}

// DialRFB implements provider.Provider.
func (p *Provider) DialRFB(ctx context.Context, id string) (net.Conn, error) {
	d, err := p.running(id)
	if err != nil {
		return nil, err
	}
	var dialer net.Dialer
	return dialer.DialContext(ctx, "unix", d.rfbPath())
}
