// Package config holds deskhub's configuration as plain data. Only cmd/ reads flags and environment and
// fills it in; every component takes what it needs from here.
package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/unixid"
)

// Config is the whole configuration of `deskhub serve`.
type Config struct {
	// Listen is the HTTP listen address (host:port).
	Listen string
	// DataDir holds the SQLite database, the outbox, keys and other state.
	DataDir string
	// DB is empty for SQLite in DataDir, or a postgres:// URL.
	DB string
	// ShutdownGrace bounds how long in-flight requests may take after SIGTERM.
	ShutdownGrace time.Duration
	// MaxBody limits API request bodies in bytes.
	MaxBody int64
	// StoreCache bounds the store's read cache (session and bookmark lists, token checks; answers
	// kept until the database changes, see internal/store/readcache) in bytes, and as much again the
	// session service's encoded session lists (internal/session/listcache.go); 0 turns both off.
	StoreCache int64
	// BodyTimeout bounds how long a client may take to send a request body (websockets and bodiless
	// requests, such as event streams, are not bound by it).
	BodyTimeout time.Duration
	// Hostname is reported by /v3/api (default: the OS hostname).
	Hostname string

	// PublicURL is where users reach deskhub (links in mails; WebAuthn origin and relying party id).
	// Empty: http://localhost:<port> for a loopback listen address, else http://<listen>.
	PublicURL string

	// TLS is the HTTPS listener (off when TLS.Listen is empty).
	TLS TLS
	// ImageServerURL is where LXD servers reach deskhub's simplestreams image server; empty: derived
	// from TLS.Listen (https://<host>:<port>/simplestreams).
	ImageServerURL string
	// ImageServers are other simplestreams image servers offered by image.serverList, "name=https://…".
	ImageServers []string
	// CORSOrigins are the browser origins (scheme://host[:port]) that may call the APIs from another
	// origin (ui-vmm's panel served elsewhere); "*" allows any origin, without credentials. Empty: CORS
	// is off.
	CORSOrigins []string
	// DesktopTokenTTL is the longest lifetime of a desktop-scoped token (/v3/api/session/token), which
	// abcdesktop's browser code sends as ABCAuthorization.
	DesktopTokenTTL time.Duration

	Features Features
	SSH      SSHLogin
	Display  DisplayDefaults
	Auth     Auth
	Mail     Mail
	Sessions Sessions
	Infra    Infra
	Images   Images
	LXD      LXDDesktops
}

// LXDDesktops configures desktops inside LXD instances on the servers added with server.add
// (docs/LXD-DESKTOPS.md).
type LXDDesktops struct {
	// Enabled makes the LXD servers desktop targets besides this host (--lxd-desktops).
	Enabled bool
	// Image is the desktop image's alias (or fingerprint) (--lxd-image).
	Image string
	// ImageServer is where LXD servers take it from: "own" (deskhub's image server, pulled over HTTPS
	// with deskhub's certificate pinned), "local" (an image already on each LXD server), or the
	// https:// URL of another simplestreams server; empty: own when deskhub serves images over HTTPS,
	// else local.
	ImageServer string
	// Profiles are the profiles of desktop instances (resource limits come from them).
	Profiles []string
	// InstancePer is "session" (a new instance per session, deleted at its end) or "user" (one per
	// user and server, stopped at the session's end and kept).
	InstancePer string
	// HomeVolumes gives each account a custom storage volume dh-home-<id> mounted on /home.
	HomeVolumes bool
	// Transport is how the broker reaches desktops: auto, proxy or exec.
	Transport string
	// Shared makes the LXD servers added by administrators take every user's desktops (otherwise a
	// server takes its owner's and the administrators').
	Shared bool
	// StartTimeout bounds a desktop's start, image pull included.
	StartTimeout time.Duration
	// StoragePool is the storage pool of desktop instances' root disks (--lxd-storage-pool); empty:
	// the profiles'.
	StoragePool string
	// PoolSize is how many started desktops each LXD server keeps waiting for sessions (--lxd-pool-size;
	// 0: no warm pool).
	PoolSize int
	// BaseInstances makes desktop instances copies of a base instance LXD shifted once
	// (--lxd-base-instance).
	BaseInstances bool
	// ShareBinary gives desktops on LXD servers of this machine this broker's deskhub binary,
	// read-only, in place of their image's copy (--lxd-share-binary): one page cache for all.
	ShareBinary bool
}

// Images configures deskhub's simplestreams image server (on when Features.SimplestreamEnabled).
type Images struct {
	// Dir holds the image files (images/<os>/<release>/<arch>/<variant>/<serial>/<file> of the tree is
	// Dir/<os>/…); empty: <data>/images.
	Dir string
	// MaxSize bounds one uploaded file in bytes (larger: 413).
	MaxSize int64
	// UploadTimeout is how long simplestream.upload's body may take to arrive; it replaces BodyTimeout
	// for that route, once the caller is authenticated.
	UploadTimeout time.Duration
	// KeepVersions is how many versions of each product retention keeps (0: no count limit).
	KeepVersions int
	// MaxAge makes retention remove versions uploaded longer ago (0: no age limit; a product's newest
	// version is never removed for its age).
	MaxAge time.Duration
	// RetentionInterval is the pause between retention rounds (0: no retention).
	RetentionInterval time.Duration
}

// TLS configures the HTTPS listener. LXD pulls images over HTTPS only, so deskhub's simplestreams
// server needs it; the whole API and web UI answer there too.
type TLS struct {
	// Listen is the HTTPS listen address (host:port); empty: no HTTPS listener.
	Listen string
	// CertFile and KeyFile are a PEM certificate (chain) and key; both empty: a self-signed pair kept
	// in <data>/tls, generated on first start.
	CertFile, KeyFile string
}

// Infra configures the LXD side of the infrastructure surface and its event stream.
type Infra struct {
	// SecretKey encrypts deskhub's LXD client key at rest (from DESKHUB_SECRET_KEY only). Empty: the
	// key in SecretKeyFile.
	SecretKey string
	// SecretKeyFile holds the secret key, created (random, mode 0600) on first use; empty:
	// <data>/secret.key. Replicas sharing a PostgreSQL store must share the key.
	SecretKeyFile string
	// CertName is the name deskhub's client certificate gets in LXD trust stores; empty:
	// deskhub-<hostname>.
	CertName string
	// OpTimeout bounds an asynchronous instance operation; one not finished by then fails.
	OpTimeout time.Duration
	// StreamBindTimeout is how long an event stream may stay unbound (event.auth) before it is closed.
	StreamBindTimeout time.Duration
	// Heartbeat is the pause between heartbeats on idle event streams.
	Heartbeat time.Duration
}

// Sessions configures desktops.
type Sessions struct {
	// MaxPerUser bounds the sessions one user runs at once (0: no limit).
	MaxPerUser int
	// MaxPerServer bounds the sessions one server (the host, or an LXD server) runs at once (0: no
	// limit); placement skips a full server.
	MaxPerServer int
	// FreezeIdle freezes a desktop (LXD desktops: its instance's cgroup) that no display client has
	// viewed for this long; 0: never.
	FreezeIdle time.Duration
	// TrimIdle gives the page cache of a desktop (LXD desktops: its instance's cgroup) that no display
	// client has viewed for this long back to the host, once per idle spell; 0: never.
	TrimIdle time.Duration
	// Placement is the strategy that chooses the server of sessions started without one:
	// fewest-sessions, most-free-memory or round-robin.
	Placement string
	// UserPrefix names the Unix identity of each deskhub account: <UserPrefix><account id>, a system
	// user created on first use (host accounts' desktops run as themselves).
	UserPrefix string
	// HomeRoot holds a home per deskhub account: <HomeRoot>/<login>; empty: <data>/homes.
	HomeRoot string
	// Suggestions are the global bookmarks (bookmark/list), as "name=command" entries.
	Suggestions []string
	// GLX keeps the GLX extension in the X servers of this host's desktops (off: each desktop is ~50 MiB
	// smaller and starts faster; programs that need OpenGL cannot get it).
	GLX bool
	// CompareFB keeps the pixel comparison of the X servers of this host's desktops (default on; off:
	// each desktop that has been viewed is ~4 MiB smaller, and its viewers get every redrawn region,
	// changed or not).
	CompareFB bool
	// AgentCommand runs the desktop agent in each desktop (set by `deskhub serve` to its own binary
	// with "agent"); empty: desktops run without an agent.
	AgentCommand []string
}

// Auth configures logins and tokens.
type Auth struct {
	// Provider is how the session surface's login checks passwords: "local" (deskhub accounts) or
	// "ssh" (host accounts, through the sshd at SSHAddr).
	Provider string
	// SSHAddr is the sshd the ssh provider logs in through.
	SSHAddr string
	// SSHKnownHosts pins sshd host keys (trust on first use); empty: <data>/ssh_known_hosts.
	SSHKnownHosts string
	// LoginTTL is the lifetime of login tokens; keepalive extends it.
	LoginTTL time.Duration
	// CodeTTL is how long mailed one-time codes work.
	CodeTTL time.Duration
	// MaxTokenLifetime bounds token.create's token_lifetime.
	MaxTokenLifetime time.Duration
}

// Mail configures outgoing mail; without SMTPAddr, mails go to <data>/outbox as .eml files.
type Mail struct {
	SMTPAddr   string
	From       string
	Username   string
	Password   string
	AllowPlain bool
}

// Features are the switches config.get reports.
type Features struct {
	DisableUserRegistration bool
	DisableUserRecovery     bool
	DisableServerAdd        bool
	DisableSSHKeyAdd        bool
	WebAuthnEnabled         bool
	SimplestreamEnabled     bool
}

// SSHLogin is what the session surface's login page should offer (/v3/api "ssh").
type SSHLogin struct {
	Basic             bool
	PublicKey         bool
	HidePasswordField bool
}

// DisplayDefaults are the display settings new sessions get (/v3/api/xrdp/config).
type DisplayDefaults struct {
	Geometry   string
	ColorDepth int
	FrameRate  int
	Clipboard  string // "both", "to-client", "to-server", "none"
}

// Default returns the configuration deskhub runs with when nothing is set.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		DataDir:         "./var",
		ShutdownGrace:   15 * time.Second,
		MaxBody:         1 << 20,
		StoreCache:      32 << 20,
		DesktopTokenTTL: time.Hour,
		BodyTimeout:     30 * time.Second,
		Features:        Features{WebAuthnEnabled: true, SimplestreamEnabled: true},
		SSH:             SSHLogin{PublicKey: true},
		Display:         DisplayDefaults{Geometry: "1280x800", ColorDepth: 24, FrameRate: 60, Clipboard: "both"},
		Auth: Auth{Provider: store.ProviderLocal, SSHAddr: "127.0.0.1:22", LoginTTL: 12 * time.Hour, CodeTTL: time.Hour,
			MaxTokenLifetime: 365 * 24 * time.Hour},
		Mail: Mail{From: "deskhub@localhost"},
		Sessions: Sessions{MaxPerUser: 10, TrimIdle: 30 * time.Second, UserPrefix: unixid.DefaultPrefix, Placement: "fewest-sessions", CompareFB: true,
			Suggestions: []string{"Terminal=xterm", "Clock=xclock"}},
		Infra:  Infra{OpTimeout: 5 * time.Minute, StreamBindTimeout: 30 * time.Second, Heartbeat: 15 * time.Second},
		Images: Images{MaxSize: 4 << 30, UploadTimeout: 2 * time.Hour, KeepVersions: 3, RetentionInterval: time.Hour},
		LXD: LXDDesktops{Image: "deskhub/bookworm/desktop", Profiles: []string{"default"}, InstancePer: "session",
			Transport: "auto", StartTimeout: 5 * time.Minute, ShareBinary: true},
	}
}

var geometryRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$`) })

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %v (want host:port, e.g. 127.0.0.1:8080)", c.Listen, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen address %q: bad port %q", c.Listen, port)
	}
	if c.TLS.Listen != "" {
		if _, port, err := net.SplitHostPort(c.TLS.Listen); err != nil {
			return fmt.Errorf("TLS listen address %q: %v (want host:port, e.g. 127.0.0.1:8443)", c.TLS.Listen, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("TLS listen address %q: bad port %q", c.TLS.Listen, port)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return fmt.Errorf("TLS: give both a certificate and a key file, or neither (a self-signed pair is generated)")
	}
	if c.ImageServerURL != "" {
		u, err := url.Parse(c.ImageServerURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("image server URL %q: want https://host[:port][/path] (LXD pulls images over HTTPS only)", c.ImageServerURL)
		}
	}
	for _, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			return err
		}
	}
	if c.DesktopTokenTTL < time.Minute || c.DesktopTokenTTL > 24*time.Hour {
		return fmt.Errorf("desktop token lifetime must be between 1m and 24h, not %s", c.DesktopTokenTTL)
	}
	for _, is := range c.ImageServers {
		name, raw, ok := strings.Cut(is, "=")
		u, err := url.Parse(raw)
		if !ok || name == "" || err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("image server %q: want name=https://host[/path]", is)
		}
	}
	if c.DataDir == "" {
		return fmt.Errorf("data dir must not be empty")
	}
	if c.ShutdownGrace <= 0 {
		return fmt.Errorf("shutdown grace must be positive, not %s", c.ShutdownGrace)
	}
	if c.MaxBody < 1024 {
		return fmt.Errorf("max body must be at least 1024 bytes, not %d", c.MaxBody)
	}
	if c.BodyTimeout < time.Second {
		return fmt.Errorf("body timeout %s: want at least 1s", c.BodyTimeout)
	}
	if !geometryRE().MatchString(c.Display.Geometry) {
		return fmt.Errorf("display geometry %q: want WIDTHxHEIGHT, e.g. 1280x800", c.Display.Geometry)
	}
	switch c.Display.ColorDepth {
	case 8, 16, 24, 32:
	default:
		return fmt.Errorf("display colour depth %d: want 8, 16, 24 or 32", c.Display.ColorDepth)
	}
	if c.Display.FrameRate < 1 || c.Display.FrameRate > 240 {
		return fmt.Errorf("display frame rate %d: want 1 to 240", c.Display.FrameRate)
	}
	switch c.Display.Clipboard {
	case "both", "to-client", "to-server", "none":
	default:
		return fmt.Errorf("display clipboard %q: want both, to-client, to-server or none", c.Display.Clipboard)
	}
	switch c.Auth.Provider {
	case store.ProviderLocal, store.ProviderSSH:
	default:
		return fmt.Errorf("auth provider %q: want local or ssh", c.Auth.Provider)
	}
	if _, _, err := net.SplitHostPort(c.Auth.SSHAddr); err != nil {
		return fmt.Errorf("ssh login address %q: %v (want host:port)", c.Auth.SSHAddr, err)
	}
	for name, d := range map[string]time.Duration{"login token lifetime": c.Auth.LoginTTL,
		"code lifetime": c.Auth.CodeTTL, "max token lifetime": c.Auth.MaxTokenLifetime} {
		if d < time.Minute {
			return fmt.Errorf("%s %s: want at least 1m", name, d)
		}
	}
	if _, err := mail.ParseAddress(c.Mail.From); err != nil {
		return fmt.Errorf("mail sender %q: %v", c.Mail.From, err)
	}
	if c.Mail.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.Mail.SMTPAddr); err != nil {
			return fmt.Errorf("smtp address %q: %v (want host:port)", c.Mail.SMTPAddr, err)
		}
	}
	if c.Sessions.MaxPerUser < 0 {
		return fmt.Errorf("max sessions per user %d: want 0 (no limit) or more", c.Sessions.MaxPerUser)
	}
	if err := unixid.CheckPrefix(c.Sessions.UserPrefix); err != nil {
		return err
	}
	if c.Sessions.MaxPerServer < 0 {
		return fmt.Errorf("max sessions per server %d: want 0 (no limit) or more", c.Sessions.MaxPerServer)
	}
	if c.Sessions.FreezeIdle != 0 && c.Sessions.FreezeIdle < time.Second {
		return fmt.Errorf("freeze idle %s: want 0 (never) or at least 1s", c.Sessions.FreezeIdle)
	}
	if c.Sessions.TrimIdle != 0 && c.Sessions.TrimIdle < time.Second {
		return fmt.Errorf("trim idle %s: want 0 (never) or at least 1s", c.Sessions.TrimIdle)
	}
	switch c.Sessions.Placement {
	case "fewest-sessions", "most-free-memory", "round-robin":
	default:
		return fmt.Errorf("placement %q: want fewest-sessions, most-free-memory or round-robin", c.Sessions.Placement)
	}
	if err := c.LXD.validate(); err != nil {
		return err
	}
	for _, sg := range c.Sessions.Suggestions {
		if name, cmd, ok := strings.Cut(sg, "="); !ok || name == "" || strings.TrimSpace(cmd) == "" {
			return fmt.Errorf("suggestion %q: want name=command", sg)
		}
	}
	for name, d := range map[string]time.Duration{"operation timeout": c.Infra.OpTimeout,
		"event stream bind timeout": c.Infra.StreamBindTimeout, "event heartbeat": c.Infra.Heartbeat} {
		if d < time.Second {
			return fmt.Errorf("%s %s: want at least 1s", name, d)
		}
	}
	if c.Images.MaxSize < 1<<20 {
		return fmt.Errorf("image max size %d: want at least 1 MiB (1048576 bytes)", c.Images.MaxSize)
	}
	if c.Images.UploadTimeout < time.Second {
		return fmt.Errorf("image upload timeout %s: want at least 1s", c.Images.UploadTimeout)
	}
	if c.Images.KeepVersions < 0 {
		return fmt.Errorf("image keep versions %d: want 0 (no limit) or more", c.Images.KeepVersions)
	}
	if c.Images.MaxAge < 0 {
		return fmt.Errorf("image max age %s: want 0 (no limit) or more", c.Images.MaxAge)
	}
	if c.Images.RetentionInterval != 0 && c.Images.RetentionInterval < time.Second {
		return fmt.Errorf("image retention interval %s: want 0 (no retention) or at least 1s", c.Images.RetentionInterval)
	}
	if c.Infra.SecretKey != "" && len(c.Infra.SecretKey) < 16 {
		return fmt.Errorf("secret key: want at least 16 characters, not %d", len(c.Infra.SecretKey))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" && u.Path != "/" {
			return fmt.Errorf("public URL %q: want http(s)://host[:port] without a path", c.PublicURL)
		}
	}
	return nil
}

func (l LXDDesktops) validate() error {
	if strings.TrimSpace(l.Image) == "" {
		return fmt.Errorf("LXD desktop image: must not be empty")
	}
	switch l.ImageServer {
	case "", "own", "local":
	default:
		if u, err := url.Parse(l.ImageServer); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("LXD desktop image server %q: want own, local or an https:// simplestreams URL", l.ImageServer)
		}
	}
	if len(l.Profiles) == 0 {
		return fmt.Errorf("LXD desktop profiles: want at least one (e.g. default)")
	}
	switch l.InstancePer {
	case "session", "user":
	default:
		return fmt.Errorf("LXD instance per %q: want session or user", l.InstancePer)
	}
	switch l.Transport {
	case "auto", "proxy", "exec":
	default:
		return fmt.Errorf("LXD transport %q: want auto, proxy or exec", l.Transport)
	}
	if l.StartTimeout < 10*time.Second {
		return fmt.Errorf("LXD desktop start timeout %s: want at least 10s", l.StartTimeout)
	}
	if l.PoolSize < 0 || l.PoolSize > 1000 {
		return fmt.Errorf("LXD warm pool size %d: want 0 (none) to 1000", l.PoolSize)
	}
	if l.PoolSize > 0 && (l.InstancePer != "session" || l.HomeVolumes) {
		return fmt.Errorf("LXD warm pool: it takes per-session instances without home volumes (not --lxd-instance-per user, not --lxd-home-volumes)")
	}
	return nil
}

// BaseURL is PublicURL, or the address deskhub listens on (a loopback address becomes localhost, which
// browsers treat as a secure context and WebAuthn accepts as relying party id).
func (c Config) BaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(c.Listen)
	if ip := net.ParseIP(host); host == "" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// ImageServer is the URL LXD servers pull deskhub's images from: ImageServerURL, or the HTTPS listen
// address with /simplestreams (an unspecified address becomes the host name); empty without either.
func (c Config) ImageServer() string {
	if c.ImageServerURL != "" {
		return strings.TrimSuffix(c.ImageServerURL, "/")
	}
	if c.TLS.Listen == "" {
		return ""
	}
	host, port, _ := net.SplitHostPort(c.TLS.Listen)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = c.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
	}
	return "https://" + net.JoinHostPort(host, port) + "/simplestreams"
}

// Port is the TCP port of the listen address (0 if it has none).
func (c Config) Port() int {
	_, port, _ := net.SplitHostPort(c.Listen)
	n, _ := strconv.Atoi(port)
	return n
}

// checkOrigin accepts a browser origin, scheme://host[:port] (http or https, no path), or "*".
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" ||
		u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "/") {
		return fmt.Errorf("CORS origin %q: want scheme://host[:port] (http or https, no path), or *", o)
	}
	return nil
}
