// Package provider defines how deskhub runs desktops: a Provider starts, stops, inspects and re-adopts
// them, takes screenshots, runs commands in them and reaches their display (RFB) endpoint. local/ runs
// them on this host (Xvnc + openbox), lxd/ inside LXD instances on the servers added with server.add,
// and multi/ routes every call to the provider of the desktop's server.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

// Errors.
var (
	// ErrNotFound: the provider has no desktop with that id.
	ErrNotFound = errors.New("no such desktop")
	// ErrGone: the desktop's processes are no longer running (adopt found it dead).
	ErrGone = errors.New("desktop is gone")
	// ErrBadCommand: the command does not exist or cannot be run.
	ErrBadCommand = errors.New("command cannot be run")
	// ErrUnavailable: the server cannot run desktops now (its provider failed to set up, or it does not
	// answer); the message says why.
	ErrUnavailable = errors.New("desktops cannot run there")
)

// RunAs says whose desktop it is on the host.
type RunAs struct {
	// User is the Unix account the desktop's processes run as.
	User string
	// Home is the home directory of the session (HOME; cwd of the command).
	Home string
}

// Spec is what to start.
type Spec struct {
	ID    string // session id, chosen by the caller
	Login string // deskhub login (for logs)
	// UserID is the deskhub account (per-user instances and home volumes of the LXD provider).
	UserID int64
	// ServerID is the server to start on, as the session surface names it (serverId); "" is the
	// provider's own (the host for the local provider).
	ServerID string
	// SSHKeys are the account's authorized_keys lines, installed where the desktop has a home of its
	// own (LXD instances).
	SSHKeys  []string
	RunAs    RunAs
	Command  []string // argv, run without a shell
	Width    int
	Height   int
	Depth    int  // colour depth (16, 24, 32)
	Rootless bool // no window manager; the session ends when its last window closes
	// FrameRate caps updates sent to clients (Xvnc -FrameRate).
	FrameRate int
}

// Endpoint is where something listens: a unix socket path or a loopback host:port.
type Endpoint struct {
	Network string `json:"network"` // "unix" | "tcp"
	Address string `json:"address"`
}

// Desktop is a running desktop as the provider reports it.
type Desktop struct {
	ID string
	// ServerID is the server it runs on (serverId; "" for the provider's own).
	ServerID  string
	Display   string // ":12"
	Hostname  string
	User      string // the Unix user the desktop runs as (where the provider has one)
	ServerPID int    // the X server
	AppPID    int    // the command
	RFB       Endpoint
	StartedAt time.Time
	// Runtime is provider-specific data that Adopt needs after a restart; the caller stores it as is.
	Runtime json.RawMessage
}

// Ended tells that a desktop stopped by itself (its command exited, or its last window closed).
type Ended struct {
	ID     string
	Reason string
	At     time.Time
}

// ScreenshotOptions shape a screenshot.
type ScreenshotOptions struct {
	Format     string // "png" | "jpeg"
	Width      int    // 0: the desktop's
	Height     int    // 0: the desktop's
	KeepAspect bool
}

// Provider runs desktops.
type Provider interface {
	Name() string
	// Start starts a desktop and returns once its display accepts connections and the command runs.
	// A command that does not exist fails with ErrBadCommand and leaves nothing running.
	Start(ctx context.Context, s Spec) (*Desktop, error)
	// Stop ends a desktop and everything in it (idempotent: stopping a gone desktop is no error).
	Stop(ctx context.Context, id string) error
	// Running tells whether the desktop's processes still run.
	Running(ctx context.Context, id string) (bool, error)
	// Adopt takes back a desktop started by an earlier deskhub process (from the stored Desktop);
	// ErrGone when its processes died meanwhile.
	Adopt(ctx context.Context, d Desktop) (*Desktop, error)
	// DialRFB connects to the desktop's RFB (VNC) server.
	DialRFB(ctx context.Context, id string) (net.Conn, error)
	// Screenshot encodes the desktop's screen.
	Screenshot(ctx context.Context, id string, o ScreenshotOptions) ([]byte, error)
	// Exec runs one more program in the desktop's display as its user, without a shell.
	Exec(ctx context.Context, id string, argv []string) (pid int, err error)
	// Log returns the last max bytes of the desktop's log (X server, window manager and command output).
	Log(ctx context.Context, id string, max int) ([]byte, error)
	// Ended delivers desktops that stopped by themselves.
	Ended() <-chan Ended
	// Close stops watching (desktops keep running: a restarted deskhub adopts them).
	Close() error
}

// AgentDialer is the optional capability of providers that run a desktop agent in their desktops.
type AgentDialer interface {
	DialAgent(ctx context.Context, id string) (net.Conn, error)
}

// Sweeper is the optional capability of providers whose desktops can outlive a crash of deskhub half
// started: Sweep stops every desktop of the provider that it neither runs (after Adopt) nor is starting,
// and answers their ids.
type Sweeper interface {
	Sweep(ctx context.Context) ([]string, error)
}

// Server is a machine desktops can run on.
type Server struct {
	// ID is what the session surface calls it (serverId): the host's UUID, or lxd-<id> for a server
	// added with server.add (StoredServerID).
	ID string
	// StoreID is the server record's id (0 for the host).
	StoreID int64
	// Name is its host name or record name; Provider the provider that runs its desktops.
	Name, Provider string
	// OwnerID is the account that added it (0: the host, which every account may use).
	OwnerID int64
	// Shared: every account may start desktops there, not only its owner and administrators.
	Shared bool
	// State is "online" when it takes desktops, else why not ("offline", "untrusted", "connecting"),
	// with Err the reason given.
	State, Err string
}

// Server states.
const StateOnline = "online"

// Fleet is the optional capability of providers that run desktops on several servers.
type Fleet interface {
	// Servers lists every server, the host first.
	Servers(ctx context.Context) []Server
	// ServerLoad is one server's load (Sessions: the desktops the provider runs there).
	ServerLoad(ctx context.Context, serverID string) (Load, error)
}

// storedPrefix starts the serverId of a server added with server.add.
const storedPrefix = "lxd-"

// StoredServerID is the serverId of the server record id: lxd-<id>.
func StoredServerID(id int64) string { return storedPrefix + strconv.FormatInt(id, 10) }

// ParseStoredServerID reads a serverId of StoredServerID's form.
func ParseStoredServerID(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, storedPrefix)
	if !ok || rest == "" || rest[0] == '0' || rest[0] == '+' {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}
