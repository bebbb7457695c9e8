package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/buildinfo"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/server"
	"github.com/deskhub/deskhub/internal/store"
)

func runServe(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "serve", "serve [flags]")
	b := &envFlags{e: e, fs: fs}
	cfg := config.Default()
	var sf storeFlags
	var logLevel, logFormat, grace, bodyTimeout string
	var maxBody int
	b.string(&cfg.Listen, "listen", "DESKHUB_LISTEN", cfg.Listen, "HTTP listen address host:port")
	sf.bind(b)
	b.string(&logLevel, "log-level", "DESKHUB_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	b.string(&logFormat, "log-format", "DESKHUB_LOG_FORMAT", "json", "log format: json or text")
	b.string(&grace, "shutdown-grace", "DESKHUB_SHUTDOWN_GRACE", cfg.ShutdownGrace.String(), "how long in-flight requests may finish after SIGTERM")
	b.int(&maxBody, "max-body", "DESKHUB_MAX_BODY", int(cfg.MaxBody), "largest accepted API request body in bytes")
	var storeCache string
	b.string(&storeCache, "store-cache", "DESKHUB_STORE_CACHE", "32MiB", "size of the cache of session lists, bookmark lists and token checks, kept until the database changes, and as much again for encoded session lists (bytes, or with KiB, MiB, GiB; 0: off)")
	b.string(&bodyTimeout, "body-timeout", "DESKHUB_BODY_TIMEOUT", cfg.BodyTimeout.String(), "longest a client may take to send a request body (websockets and event streams excepted)")
	b.string(&cfg.TLS.Listen, "tls-listen", "DESKHUB_TLS_LISTEN", cfg.TLS.Listen, "HTTPS listen address host:port (empty: no HTTPS); needed for LXD to pull deskhub's images")
	b.string(&cfg.TLS.CertFile, "tls-cert", "DESKHUB_TLS_CERT", "", "PEM certificate (chain) of the HTTPS listener; default a self-signed one in <data>/tls, generated on first start")
	b.string(&cfg.TLS.KeyFile, "tls-key", "DESKHUB_TLS_KEY", "", "PEM key of --tls-cert")
	b.string(&cfg.ImageServerURL, "image-server-url", "DESKHUB_IMAGE_SERVER_URL", "", "URL LXD servers reach deskhub's simplestreams image server at; default https://<tls-listen>/simplestreams")
	var imageServers, corsOrigins, desktopTTL string
	b.string(&corsOrigins, "cors-origins", "DESKHUB_CORS_ORIGINS", "", "browser origins (scheme://host[:port], ',' separated; * for any, without credentials) that may call the APIs from another origin; empty: CORS off")
	b.string(&desktopTTL, "desktop-token-ttl", "DESKHUB_DESKTOP_TOKEN_TTL", cfg.DesktopTokenTTL.String(), "longest lifetime of the desktop-scoped tokens abcdesktop's browser code sends (1m to 24h)")
	b.string(&imageServers, "image-servers", "DESKHUB_IMAGE_SERVERS", "", "other simplestreams image servers image.serverList offers, name=https://… entries separated by ','")
	b.string(&cfg.Hostname, "hostname", "DESKHUB_HOSTNAME", "", "host name reported to clients (default: the system's)")
	f := &cfg.Features
	b.bool(&f.DisableUserRegistration, "disable-user-registration", "DESKHUB_DISABLE_USER_REGISTRATION", f.DisableUserRegistration, "refuse user.register")
	b.bool(&f.DisableUserRecovery, "disable-user-recovery", "DESKHUB_DISABLE_USER_RECOVERY", f.DisableUserRecovery, "refuse user.recovery")
	b.bool(&f.DisableServerAdd, "disable-server-add", "DESKHUB_DISABLE_SERVER_ADD", f.DisableServerAdd, "refuse server.add")
	b.bool(&f.DisableSSHKeyAdd, "disable-ssh-key-add", "DESKHUB_DISABLE_SSH_KEY_ADD", f.DisableSSHKeyAdd, "refuse ssh-key.add")
	b.bool(&f.WebAuthnEnabled, "webauthn", "DESKHUB_WEBAUTHN", f.WebAuthnEnabled, "offer WebAuthn (passkey) login")
	b.bool(&f.SimplestreamEnabled, "simplestream", "DESKHUB_SIMPLESTREAM", f.SimplestreamEnabled, "serve the simplestreams image server")
	b.bool(&cfg.SSH.Basic, "ssh-basic", "DESKHUB_SSH_BASIC", cfg.SSH.Basic, "login page: force basic SSH authentication")
	b.bool(&cfg.SSH.PublicKey, "ssh-public-key", "DESKHUB_SSH_PUBLIC_KEY", cfg.SSH.PublicKey, "login page: offer public-key authentication")
	b.bool(&cfg.SSH.HidePasswordField, "ssh-hide-password", "DESKHUB_SSH_HIDE_PASSWORD", cfg.SSH.HidePasswordField, "login page: hide the password field")
	d := &cfg.Display
	b.string(&d.Geometry, "display-geometry", "DESKHUB_DISPLAY_GEOMETRY", d.Geometry, "default geometry of new sessions, WIDTHxHEIGHT")
	b.int(&d.ColorDepth, "display-depth", "DESKHUB_DISPLAY_DEPTH", d.ColorDepth, "default colour depth of new sessions (8, 16, 24, 32)")
	b.int(&d.FrameRate, "display-frame-rate", "DESKHUB_DISPLAY_FRAME_RATE", d.FrameRate, "frame-rate cap of new sessions")
	b.string(&d.Clipboard, "display-clipboard", "DESKHUB_DISPLAY_CLIPBOARD", d.Clipboard, "clipboard mode: both, to-client, to-server, none")
	b.string(&cfg.PublicURL, "public-url", "DESKHUB_PUBLIC_URL", "", "URL users reach deskhub at (mail links, WebAuthn origin); default http://localhost:<port> for a loopback listen address")
	a := &cfg.Auth
	var loginTTL, codeTTL, maxToken string
	b.string(&a.Provider, "auth-provider", "DESKHUB_AUTH_PROVIDER", a.Provider, "session-surface login: local (deskhub accounts) or ssh (host accounts through sshd)")
	b.string(&a.SSHAddr, "ssh-login-addr", "DESKHUB_SSH_LOGIN_ADDR", a.SSHAddr, "sshd the ssh provider logs in through, host:port")
	b.string(&a.SSHKnownHosts, "ssh-known-hosts", "DESKHUB_SSH_KNOWN_HOSTS", "", "file pinning sshd host keys (trust on first use); default <data>/ssh_known_hosts")
	b.string(&loginTTL, "login-ttl", "DESKHUB_LOGIN_TTL", a.LoginTTL.String(), "lifetime of login tokens (keepalive extends it)")
	b.string(&codeTTL, "code-ttl", "DESKHUB_CODE_TTL", a.CodeTTL.String(), "lifetime of mailed one-time codes")
	b.string(&maxToken, "max-token-lifetime", "DESKHUB_MAX_TOKEN_LIFETIME", a.MaxTokenLifetime.String(), "longest lifetime token.create grants")
	m := &cfg.Mail
	b.string(&m.SMTPAddr, "smtp-addr", "DESKHUB_SMTP_ADDR", "", "SMTP server host:port; empty: mails are written to <data>/outbox as .eml files")
	b.string(&m.From, "mail-from", "DESKHUB_MAIL_FROM", m.From, "sender address of deskhub's mails")
	b.string(&m.Username, "smtp-user", "DESKHUB_SMTP_USER", "", "SMTP user name (the password comes from DESKHUB_SMTP_PASSWORD only)")
	b.bool(&m.AllowPlain, "smtp-plain", "DESKHUB_SMTP_PLAIN", false, "allow SMTP without STARTTLS (a trusted local relay)")
	ss := &cfg.Sessions
	var suggestions string
	b.int(&ss.MaxPerUser, "max-sessions-per-user", "DESKHUB_MAX_SESSIONS_PER_USER", ss.MaxPerUser, "most sessions one user may run at once (0: no limit)")
	b.string(&ss.UserPrefix, "session-user-prefix", "DESKHUB_SESSION_USER_PREFIX", ss.UserPrefix, "prefix of the Unix users that run the desktops of deskhub accounts, one per account (<prefix><account id>, created on first use)")
	b.string(&ss.HomeRoot, "home-root", "DESKHUB_HOME_ROOT", "", "directory holding a home per deskhub account; default <data>/homes")
	b.string(&suggestions, "suggestions", "DESKHUB_SUGGESTIONS", strings.Join(ss.Suggestions, ";"), "global bookmarks, name=command entries separated by ';'")
	b.int(&ss.MaxPerServer, "max-sessions-per-server", "DESKHUB_MAX_SESSIONS_PER_SERVER", ss.MaxPerServer, "most sessions one server (this host, or an LXD server) runs at once; placement skips a full server (0: no limit)")
	b.bool(&ss.CompareFB, "desktop-compare-fb", "DESKHUB_DESKTOP_COMPARE_FB", ss.CompareFB, "keep TigerVNC's pixel comparison in this host's desktops: only changed pixels are sent, for a second copy of the screen (4 MiB at 1280x800) in each desktop once viewed; false saves that memory and sends every redrawn region")
	b.bool(&ss.GLX, "desktop-glx", "DESKHUB_DESKTOP_GLX", ss.GLX, "keep the GLX extension in this host's desktops (their X servers then load Mesa's software renderer: ~50 MiB more per desktop, a slower start)")
	b.string(&ss.Placement, "placement", "DESKHUB_PLACEMENT", ss.Placement, "how sessions started without a serverId find their server: fewest-sessions, most-free-memory or round-robin")
	var freezeIdle, trimIdle string
	b.string(&freezeIdle, "freeze-idle", "DESKHUB_FREEZE_IDLE", ss.FreezeIdle.String(), "freeze an LXD desktop no client has viewed for this long (its processes stop, its memory stays; session/connect or any use thaws it); 0: never")
	b.string(&trimIdle, "trim-idle", "DESKHUB_TRIM_IDLE", ss.TrimIdle.String(), "give the page cache of an LXD desktop no client has viewed for this long back to the host, once per idle spell (its files are read again when needed; processes and windows are untouched); 0: never")
	lx := &cfg.LXD
	var lxdProfiles, lxdStartTimeout string
	b.bool(&lx.Enabled, "lxd-desktops", "DESKHUB_LXD_DESKTOPS", lx.Enabled, "run desktops in LXD instances on the servers added with server.add too (serverId lxd-<id>), besides this host")
	b.string(&lx.Image, "lxd-image", "DESKHUB_LXD_IMAGE", lx.Image, "alias (or fingerprint) of the desktop image LXD desktops are made from (deskhub image build --publish)")
	b.string(&lx.ImageServer, "lxd-image-server", "DESKHUB_LXD_IMAGE_SERVER", "", "where LXD servers take the desktop image: own (deskhub's image server, over HTTPS with deskhub's certificate pinned), local (an image on each LXD server) or an https:// simplestreams URL; default own when deskhub serves HTTPS, else local")
	b.string(&lxdProfiles, "lxd-profiles", "DESKHUB_LXD_PROFILES", strings.Join(lx.Profiles, ","), "profiles of desktop instances, separated by ',' (resource limits come from them; network devices they give are masked)")
	b.string(&lx.InstancePer, "lxd-instance-per", "DESKHUB_LXD_INSTANCE_PER", lx.InstancePer, "session: a new instance per session, deleted at its end; user: one instance per user and server, stopped at the session's end and kept")
	b.bool(&lx.HomeVolumes, "lxd-home-volumes", "DESKHUB_LXD_HOME_VOLUMES", lx.HomeVolumes, "give each account a storage volume dh-home-<id> on /home of its LXD desktops, so that its files persist across sessions")
	b.string(&lx.Transport, "lxd-transport", "DESKHUB_LXD_TRANSPORT", lx.Transport, "how the broker reaches LXD desktops: auto (proxy for servers on this machine, exec for others), proxy (LXD proxy devices to unix sockets here) or exec (a bridge through LXD's exec API)")
	b.bool(&lx.Shared, "lxd-shared", "DESKHUB_LXD_SHARED", lx.Shared, "LXD servers added by administrators take every user's desktops (otherwise a server takes its owner's and the administrators')")
	b.string(&lx.StoragePool, "lxd-storage-pool", "DESKHUB_LXD_STORAGE_POOL", lx.StoragePool, "storage pool of desktop instances' root disks on every LXD server (a copy-on-write pool — btrfs, zfs — makes creating one a snapshot); default: the profiles' root disk")
	b.bool(&lx.BaseInstances, "lxd-base-instance", "DESKHUB_LXD_BASE_INSTANCE", lx.BaseInstances, "make desktop instances as copies of a base instance per LXD server and image, started once so that LXD has shifted its files (saves ~1 s per start on LXD 5.0; a snapshot on a copy-on-write pool); only for images on the server (--lxd-image-server local)")
	b.bool(&lx.ShareBinary, "lxd-share-binary", "DESKHUB_LXD_SHARE_BINARY", lx.ShareBinary, "give desktops on LXD servers of this machine (unix socket, loopback) this deskhub binary read-only at /usr/local/bin/deskhub, in place of their image's copy: one page cache for all their inits and agents")
	b.int(&lx.PoolSize, "lxd-pool-size", "DESKHUB_LXD_POOL_SIZE", lx.PoolSize, "started desktops each LXD server keeps waiting for sessions (warm pool: session/start claims one, the pool refills); 0: none")
	b.string(&lxdStartTimeout, "lxd-start-timeout", "DESKHUB_LXD_START_TIMEOUT", lx.StartTimeout.String(), "longest an LXD desktop may take to start, image pull included")
	in := &cfg.Infra
	var opTimeout, bindTimeout, heartbeat string
	b.string(&in.SecretKeyFile, "secret-key-file", "DESKHUB_SECRET_KEY_FILE", "", "file with the key that encrypts deskhub's LXD client key at rest (created if missing); default <data>/secret.key; DESKHUB_SECRET_KEY overrides it")
	b.string(&in.CertName, "lxd-cert-name", "DESKHUB_LXD_CERT_NAME", "", "name of deskhub's certificate in LXD trust stores; default deskhub-<hostname>")
	b.string(&opTimeout, "op-timeout", "DESKHUB_OP_TIMEOUT", in.OpTimeout.String(), "longest an instance operation (instance.add, instance.action) may take before it is reported failed")
	b.string(&bindTimeout, "stream-bind-timeout", "DESKHUB_STREAM_BIND_TIMEOUT", in.StreamBindTimeout.String(), "how long an event stream may wait for event.auth before it is closed")
	b.string(&heartbeat, "stream-heartbeat", "DESKHUB_STREAM_HEARTBEAT", in.Heartbeat.String(), "pause between heartbeats on idle event streams")
	im := &cfg.Images
	var imageMaxSize, uploadTimeout, imageMaxAge, retention string
	b.string(&im.Dir, "image-dir", "DESKHUB_IMAGE_DIR", "", "directory of the simplestreams image server's files; default <data>/images")
	b.string(&imageMaxSize, "image-max-size", "DESKHUB_IMAGE_MAX_SIZE", "4GiB", "largest file simplestream.upload accepts (bytes, or with KiB, MiB, GiB, TiB)")
	b.string(&uploadTimeout, "image-upload-timeout", "DESKHUB_IMAGE_UPLOAD_TIMEOUT", im.UploadTimeout.String(), "longest an image upload's body may take to arrive (it replaces --body-timeout for simplestream.upload)")
	b.int(&im.KeepVersions, "image-keep-versions", "DESKHUB_IMAGE_KEEP_VERSIONS", im.KeepVersions, "versions of each image product retention keeps (0: no count limit)")
	b.string(&imageMaxAge, "image-max-age", "DESKHUB_IMAGE_MAX_AGE", "0", "retention removes image versions uploaded longer ago, except a product's newest (0: no age limit)")
	b.string(&retention, "image-retention-interval", "DESKHUB_IMAGE_RETENTION_INTERVAL", im.RetentionInterval.String(), "pause between image retention rounds (0: no retention)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	for _, o := range strings.Split(corsOrigins, ",") {
		if strings.TrimSpace(o) != "" {
			cfg.CORSOrigins = append(cfg.CORSOrigins, strings.TrimSpace(o))
		}
	}
	for _, is := range strings.Split(imageServers, ",") {
		if strings.TrimSpace(is) != "" {
			cfg.ImageServers = append(cfg.ImageServers, strings.TrimSpace(is))
		}
	}
	lx.Profiles = nil
	for _, p := range strings.Split(lxdProfiles, ",") {
		if strings.TrimSpace(p) != "" {
			lx.Profiles = append(lx.Profiles, strings.TrimSpace(p))
		}
	}
	ss.Suggestions = nil
	for _, sg := range strings.Split(suggestions, ";") {
		if strings.TrimSpace(sg) != "" {
			ss.Suggestions = append(ss.Suggestions, strings.TrimSpace(sg))
		}
	}
	m.Password = e.Getenv("DESKHUB_SMTP_PASSWORD")
	in.SecretKey = e.Getenv("DESKHUB_SECRET_KEY")
	// Desktops run this very binary as their agent (not a test binary running serve in-process).
	if exe, err := os.Executable(); err == nil && !strings.HasSuffix(exe, ".test") {
		ss.AgentCommand = []string{exe, "agent"}
	}
	if err := sf.absData(); err != nil {
		return err
	}
	cfg.DataDir, cfg.DB, cfg.MaxBody = sf.data, sf.db, int64(maxBody)
	var err error
	for _, d := range []struct {
		flag, val string
		dst       *time.Duration
	}{{"--shutdown-grace", grace, &cfg.ShutdownGrace}, {"--body-timeout", bodyTimeout, &cfg.BodyTimeout}, {"--login-ttl", loginTTL, &a.LoginTTL},
		{"--code-ttl", codeTTL, &a.CodeTTL}, {"--max-token-lifetime", maxToken, &a.MaxTokenLifetime},
		{"--op-timeout", opTimeout, &in.OpTimeout}, {"--stream-bind-timeout", bindTimeout, &in.StreamBindTimeout},
		{"--stream-heartbeat", heartbeat, &in.Heartbeat}, {"--image-upload-timeout", uploadTimeout, &im.UploadTimeout},
		{"--image-max-age", imageMaxAge, &im.MaxAge}, {"--image-retention-interval", retention, &im.RetentionInterval},
		{"--desktop-token-ttl", desktopTTL, &cfg.DesktopTokenTTL}, {"--lxd-start-timeout", lxdStartTimeout, &lx.StartTimeout},
		{"--freeze-idle", freezeIdle, &ss.FreezeIdle}, {"--trim-idle", trimIdle, &ss.TrimIdle}} {
		if *d.dst, err = time.ParseDuration(d.val); err != nil {
			return fmt.Errorf("%s %q: %v", d.flag, d.val, err)
		}
	}
	if cfg.StoreCache, err = parseSize(storeCache); err != nil {
		return fmt.Errorf("--store-cache %q: %v", storeCache, err)
	}
	if im.MaxSize, err = parseSize(imageMaxSize); err != nil {
		return fmt.Errorf("--image-max-size %q: %v", imageMaxSize, err)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := newLogger(e, logLevel, logFormat)
	if err != nil {
		return err
	}

	st, err := openStore(ctx, sf, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := secureDataDir(cfg.DataDir); err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, e, st, log); err != nil {
		return err
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Listen, errors.Unwrap(err))
	}
	var tlsLn net.Listener
	if c := srv.TLS(); c != nil {
		if tlsLn, err = net.Listen("tcp", cfg.TLS.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("cannot listen on %s: %w", cfg.TLS.Listen, errors.Unwrap(err))
		}
		if c.Generated {
			fmt.Fprintf(e.Stdout, "deskhub: generated a self-signed TLS certificate: %s\n", c.CertFile)
		}
		fmt.Fprintf(e.Stdout, "deskhub: serving HTTPS on https://%s/ with certificate SHA-256 fingerprint %s\n", tlsLn.Addr(), c.Fingerprint)
		log.Info("deskhub serving HTTPS", "url", "https://"+tlsLn.Addr().String()+"/", "certificate", c.CertFile,
			"fingerprint", c.Fingerprint, "image_server", cfg.ImageServer())
	}
	info := buildinfo.Get()
	log.Info("deskhub serving", "url", "http://"+ln.Addr().String()+"/", "store", st.Backend(),
		"data", cfg.DataDir, "version", info.Version, "commit", info.Commit, "server_id", srv.ServerID())
	if err := srv.Serve(ctx, ln, tlsLn); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	log.Info("deskhub stopped")
	return nil
}

// parseSize reads a size in bytes, or with a binary unit: 4GiB, 512MiB, 4G (K, M, G, T are KiB, MiB,
// GiB, TiB).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a number of bytes, optionally with KiB, MiB, GiB or TiB")
	}
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "KiB": 10, "M": 20, "MiB": 20, "G": 30, "GiB": 30, "T": 40, "TiB": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: want KiB, MiB, GiB or TiB", unit)
	}
	if n > (1<<62)>>sh {
		return 0, fmt.Errorf("too large")
	}
	return n << sh, nil
}

func newLogger(e *Env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(e.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(e.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

// bootstrapAdmin creates the first account on an empty store and prints its password once, on stdout.
func bootstrapAdmin(ctx context.Context, e *Env, st store.Store, log *slog.Logger) error {
	return st.InTx(ctx, func(tx store.Store) error {
		n, err := tx.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		password := auth.RandomPassword()
		u, err := auth.NewLocalUser("admin", "admin@localhost", password, true)
		if err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, &u); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "deskhub: created the first account: login \"admin\", password %q\n"+
			"deskhub: this password is shown only once; change it after logging in.\n", password)
		log.Warn("created the first administrator account; its password was printed on standard output", "login", "admin")
		return nil
	})
}
