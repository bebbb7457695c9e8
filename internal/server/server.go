// Package server wires deskhub together: configuration → store → services → HTTP. It owns the route
// tables, one per surface (routes_infra.go, routes_session.go, routes_agent.go).
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/buildinfo"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/desktoptoken"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/events"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/imagestore"
	"github.com/deskhub/deskhub/internal/infra"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/mail"
	"github.com/deskhub/deskhub/internal/placement"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/local"
	"github.com/deskhub/deskhub/internal/provider/lxd"
	"github.com/deskhub/deskhub/internal/provider/multi"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/session"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/readcache"
	"github.com/deskhub/deskhub/internal/tlscert"
	"github.com/deskhub/deskhub/internal/unixid"
)

// Options are what a Server is built from.
type Options struct {
	Config config.Config
	Store  store.Store
	Log    *slog.Logger
	// Mailer overrides the mailer the configuration asks for (tests read mails from it).
	Mailer mail.Sender
	// Now overrides the clock of tokens and codes (tests).
	Now func() time.Time
	// Throttle overrides the login throttle's tuning (tests).
	Throttle auth.ThrottleOptions
	// Provider runs desktops (default: the local provider, Xvnc on this host).
	Provider provider.Provider
	// ImagesInUse answers the fingerprints of the images LXD instances use (their volatile.base_image):
	// image retention never removes their versions, and removes nothing in a round where it fails.
	// nil: no image counts as in use (instances keep running: LXD has its own copy of their image).
	ImagesInUse func(ctx context.Context) (map[string]bool, error)
}

// newMailer is SMTP when configured, else the outbox in the data dir.
func newMailer(cfg config.Config, log *slog.Logger) mail.Sender {
	if cfg.Mail.SMTPAddr != "" {
		return &mail.SMTP{Addr: cfg.Mail.SMTPAddr, From: cfg.Mail.From, Username: cfg.Mail.Username,
			Password: cfg.Mail.Password, AllowPlain: cfg.Mail.AllowPlain}
	}
	return &mail.Outbox{Dir: filepath.Join(cfg.DataDir, "outbox"), From: cfg.Mail.From, Log: log.With("component", "mail")}
}

// Server is a running deskhub broker: the three surfaces, metrics and the OpenAPI document.
type Server struct {
	cfg      config.Config
	store    store.Store
	log      *slog.Logger
	build    buildinfo.Info
	serverID string
	hostname string
	registry *prometheus.Registry
	mux      *httpapi.Mux
	handler  http.Handler
	openapi  []byte
	auth     *auth.Service
	mailer   mail.Sender
	accounts *account.Service
	prov     provider.Provider
	relay    *display.Relay
	secrets  *display.Secrets
	revoke   *revoke.Registry
	desktop  *desktoptoken.Service // desktop-scoped tokens (abcdesktop's ABCAuthorization)
	sessions *session.Service
	// identities are the Unix identities of deskhub accounts on this host.
	identities *unixid.Registry
	hub        *events.Hub
	infra      *infra.Service
	lxd        *lxdconn.Registry   // links to the LXD servers, shared by infra (and the LXD provider)
	lxdDesks   *lxd.Provider       // the LXD desktops' provider (--lxd-desktops), else nil
	tls        *tlscert.Cert       // the HTTPS certificate (nil without an HTTPS listener)
	images     *imagestore.Service // the simplestreams image server; nil when --simplestream is off
}

// New builds a Server. The store must be open; the Server does not close it.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("server: no store")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	registry := prometheus.NewRegistry()
	// Session lists, bookmark lists and token checks are answered from memory while the database has
	// not changed (--store-cache; every other read and every write goes to the store).
	opts.Store = readcache.New(opts.Store, readcache.Options{MaxBytes: opts.Config.StoreCache, Registerer: registry})
	s := &Server{
		cfg:      opts.Config,
		store:    opts.Store,
		log:      opts.Log.With("component", "server"),
		build:    buildinfo.Get(),
		registry: registry,
	}
	var err error
	if s.serverID, err = loadServerID(opts.Config.DataDir); err != nil {
		return nil, err
	}
	s.hostname = opts.Config.Hostname
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	if err := s.loadTLS(); err != nil {
		return nil, err
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.mailer = opts.Mailer
	if s.mailer == nil {
		s.mailer = newMailer(opts.Config, opts.Log)
	}
	s.auth = auth.New(auth.Options{
		Store:            opts.Store,
		Mailer:           s.mailer,
		Log:              opts.Log,
		Now:              opts.Now,
		CodeTTL:          opts.Config.Auth.CodeTTL,
		LoginTTL:         opts.Config.Auth.LoginTTL,
		MaxTokenLifetime: opts.Config.Auth.MaxTokenLifetime,
		PublicURL:        opts.Config.BaseURL(),
		Throttle:         opts.Throttle,
	})
	if err := s.setupLXD(context.Background(), opts.Config); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.setupSessions(opts); err != nil {
		return nil, err
	}
	s.accounts = account.New(account.Options{
		Store:     opts.Store,
		Auth:      s.auth,
		Log:       opts.Log,
		PublicURL: opts.Config.BaseURL(),
		Revoke:    s.revoke,
		Logins:    s.loginOptions(),
		Features: account.Features{DisableRegistration: opts.Config.Features.DisableUserRegistration,
			DisableRecovery: opts.Config.Features.DisableUserRecovery, DisableSSHKeyAdd: opts.Config.Features.DisableSSHKeyAdd,
			WebAuthn: opts.Config.Features.WebAuthnEnabled},
	})
	if err := s.setupImages(opts); err != nil {
		s.closeSessions()
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.setupInfra(context.Background(), opts.Config); err != nil {
		s.closeSessions()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.mux = httpapi.NewMux(httpapi.Options{
		Log:        opts.Log.With("component", "http"),
		Registerer: s.registry,
		Auth:       authenticator{s.auth},
		MaxBody:    opts.Config.MaxBody,
		Appenders:  appenders,
	}, s.infraRoutes(), s.adminRoutes(), s.sessionRoutes(), s.agentRoutes(), s.abcdesktopRoutes())
	if s.openapi, err = s.openAPIJSON(); err != nil {
		return nil, fmt.Errorf("server: building the OpenAPI document: %w", err)
	}
	assets := staticAssets()
	s.mux.Handle("GET /{$}", appPage())
	s.mux.Handle("GET /passkey", intoApp("/account"))
	s.mux.Handle("GET /infra", intoApp("/admin/servers"))
	s.mux.Handle("GET /static/", assets)
	s.mux.Handle("GET /app/", assets)
	s.mux.HandleFunc("GET /ws/display/{id}", s.displayWS)
	s.mux.HandleRaw("GET "+treeBase+"/", httpapi.Infra, treeBase+"/", s.serveTree(treeBase))
	s.mux.HandleRaw("GET "+treeBaseAPI+"/", httpapi.Infra, treeBaseAPI+"/", s.serveTree(treeBaseAPI))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openapi)
	})
	s.handler = withCORS(httpapi.BodyDeadline(s.mux, opts.Config.BodyTimeout), opts.Config.CORSOrigins)
	return s, nil
}

// appenders encode the results that are large and frequent without encoding/json's reflection
// (session objects: ~3× faster, the same bytes).
var appenders = map[reflect.Type]httpapi.Appender{
	reflect.TypeFor[[]fastx.Session](): func(dst []byte, v any) ([]byte, bool) {
		return fastx.AppendSessionsJSON(dst, v.([]fastx.Session))
	},
}

// Handler is the HTTP handler of every surface.
// Request bodies must arrive within the configured body timeout.
func (s *Server) Handler() http.Handler { return s.handler }

// Routes lists the routes of the three surfaces.
func (s *Server) Routes() []httpapi.Route { return s.mux.Routes() }

// implemented tells whether a route with this path does real work.
func (s *Server) implemented(path string) bool {
	for _, r := range s.mux.Routes() {
		if r.Path == path {
			return r.Op.Implemented()
		}
	}
	return false
}

// ServerID is this host's stable FastX server id.
func (s *Server) ServerID() string { return s.serverID }

// Serve answers on ln (plain HTTP) and, when tlsLn is not nil, on tlsLn with HTTPS (the certificate
// of TLS()), until ctx is cancelled; then it lets in-flight requests finish within the grace period.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsLn ...net.Listener) error {
	if len(tlsLn) > 0 && tlsLn[0] != nil && s.tls == nil {
		return errors.New("serve: an HTTPS listener needs the TLS configuration (Config.TLS.Listen)")
	}
	if s.cfg.LXD.Enabled {
		// LXD desktops are adopted after a restart: their servers' links come first.
		if err := s.lxd.Start(ctx); err != nil {
			return fmt.Errorf("connecting to the LXD servers: %w", err)
		}
	}
	if err := s.sessions.Resume(ctx); err != nil {
		return fmt.Errorf("resuming sessions: %w", err)
	}
	defer s.closeSessions()
	if err := s.infra.Start(ctx); err != nil {
		return fmt.Errorf("resuming infrastructure operations: %w", err)
	}
	defer s.closeInfra()
	go s.runImageRetention(ctx)
	// No ReadTimeout: it would cut websockets and event streams. Headers have ReadHeaderTimeout, bodies
	// the per-request deadline of Handler (Config.BodyTimeout), keep-alive connections IdleTimeout.
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	serving := 1
	go func() { errc <- hs.Serve(ln) }()
	if len(tlsLn) > 0 && tlsLn[0] != nil {
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{s.tls.TLS}, MinVersion: tls.VersionTLS12}
		serving++
		go func() { errc <- hs.ServeTLS(tlsLn[0], "", "") }()
	}
	select {
	case err := <-errc:
		_ = hs.Close()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", s.cfg.ShutdownGrace, err)
	}
	for ; serving > 0; serving-- {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// TLS is the HTTPS certificate (nil when Config.TLS.Listen is empty).
func (s *Server) TLS() *tlscert.Cert { return s.tls }

// loadTLS loads or generates the HTTPS certificate when an HTTPS listener is configured.
func (s *Server) loadTLS() error {
	c := s.cfg
	if c.TLS.Listen == "" {
		return nil
	}
	hosts := []string{c.Hostname}
	if h, _, err := net.SplitHostPort(c.TLS.Listen); err == nil {
		hosts = append(hosts, h)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	for _, raw := range []string{c.PublicURL, c.ImageServerURL} {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	cert, err := tlscert.Load(c.DataDir, c.TLS.CertFile, c.TLS.KeyFile, hosts)
	if err != nil {
		return err
	}
	s.tls = cert
	return nil
}

// loadServerID reads this host's server id from the data dir, creating it on first run.
func loadServerID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server-id")
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if _, perr := uuid.Parse(id); perr == nil {
			return id, nil
		}
		return "", fmt.Errorf("server id file %s is damaged (want a UUID); remove it to make a new one", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading server id: %w", err)
	}
	id := uuid.NewString()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing server id: %w", err)
	}
	return id, nil
}

// setupSessions builds the provider, the display relay and the session service.
func (s *Server) setupSessions(opts Options) error {
	cfg := opts.Config
	s.prov = opts.Provider
	if s.prov == nil {
		var host provider.Provider
		p, err := local.New(local.Options{StateDir: filepath.Join(cfg.DataDir, "sessions"), Log: s.log,
			AgentCommand: cfg.Sessions.AgentCommand, GLX: cfg.Sessions.GLX,
			NoCompareFB: !cfg.Sessions.CompareFB})
		if err != nil {
			s.log.Error("desktops cannot run on this host; everything else is served", "error", err)
			u := provider.NewUnavailable(err)
			u.Host = &local.HostLoad{} // the system views still show this host's figures
			host = u
		} else {
			host = p
		}
		s.prov = host
		if cfg.LXD.Enabled {
			lp, err := s.lxdProvider(cfg)
			if err != nil {
				_ = host.Close()
				return err
			}
			s.lxdDesks = lp
			s.prov = multi.New(s.serverID, s.hostname, host, multi.Backend{Provider: lp, Serves: func(id string) bool {
				_, ok := provider.ParseStoredServerID(id)
				return ok
			}})
		}
	}
	s.secrets = display.NewSecrets(30*time.Second, nil)
	s.revoke = revoke.New(revoke.Options{Store: s.store, Log: s.log, Now: s.auth.Now})
	s.desktop = desktoptoken.New(desktoptoken.Options{Store: s.store, Revoke: s.revoke, Now: s.auth.Now, MaxTTL: cfg.DesktopTokenTTL})
	var svc *session.Service
	s.relay = display.NewRelay(display.Options{
		Log:            s.log,
		Revoke:         s.revoke,
		OriginPatterns: corsOriginPatterns(cfg.CORSOrigins),
		Dial:           func(ctx context.Context, id string) (net.Conn, error) { return s.prov.DialRFB(ctx, id) },
		OnChange: func(id string, _ int, connected bool, at time.Time) {
			svc.SetClients(id, connected, at)
		},
	})
	homes := cfg.Sessions.HomeRoot
	if homes == "" {
		homes = filepath.Join(cfg.DataDir, "homes")
	}
	if err := os.MkdirAll(homes, 0o711); err != nil {
		return fmt.Errorf("home root: %w", err)
	}
	ids, err := unixid.New(cfg.Sessions.UserPrefix, homes)
	if err != nil {
		return err
	}
	s.identities = ids
	var suggestions []session.Bookmark
	for i, sg := range cfg.Sessions.Suggestions {
		name, cmd, _ := strings.Cut(sg, "=")
		suggestions = append(suggestions, session.Bookmark{ID: fmt.Sprintf("s-%d", i+1), Name: name, Command: cmd, Tags: []string{}})
	}
	svc = session.New(session.Options{Store: s.store, Provider: s.prov, Relay: s.relay, Secrets: s.secrets, Log: s.log,
		ServerID: s.serverID, Hostname: s.hostname, Port: cfg.Port(), DefaultGeometry: cfg.Display.Geometry, Depth: cfg.Display.ColorDepth,
		FrameRate: cfg.Display.FrameRate, MaxPerUser: cfg.Sessions.MaxPerUser, MaxPerServer: cfg.Sessions.MaxPerServer,
		FreezeIdle: cfg.Sessions.FreezeIdle, ListCache: cfg.StoreCache, Registerer: s.registry,
		TrimIdle:  cfg.Sessions.TrimIdle,
		Placement: placementStrategy(cfg.Sessions.Placement), Identities: ids,
		Suggestions: suggestions, Revoke: s.revoke})
	s.sessions = svc
	return nil
}

// closeSessions stops watching desktops and drops display clients (desktops keep running).
// closeInfra ends the event streams and stops following LXD servers.
func (s *Server) closeInfra() {
	s.hub.Close()
	s.infra.Close()
	s.lxd.Close()
}

func (s *Server) closeSessions() {
	s.relay.Close()
	s.revoke.Close()
	s.sessions.Close()
	_ = s.prov.Close()
}

// placementStrategy is the strategy of --placement (validated by config).
func placementStrategy(name string) placement.Strategy {
	st, ok := placement.ByName(name)
	if !ok {
		return placement.FewestSessions
	}
	return st
}

// lxdProvider builds the provider of desktops in LXD instances (--lxd-desktops).
func (s *Server) lxdProvider(cfg config.Config) (*lxd.Provider, error) {
	lc := cfg.LXD
	img := lxd.Image{Alias: lc.Image}
	if isFingerprint(lc.Image) {
		img = lxd.Image{Fingerprint: lc.Image}
	}
	switch where := lc.ImageServer; {
	case where == "local":
	case where == "own" || where == "" && cfg.Features.SimplestreamEnabled && s.tls != nil:
		if !cfg.Features.SimplestreamEnabled || s.tls == nil {
			return nil, errors.New("--lxd-image-server own: deskhub serves no images over HTTPS (--simplestream and --tls-listen are needed)")
		}
		img.Server, img.Certificate = cfg.ImageServer(), string(s.tls.PEM)
	case where != "":
		img.Server = where
	}
	pw, ph, _, _ := fastx.ParseGeometry(cfg.Display.Geometry)
	share := ""
	if lc.ShareBinary {
		if exe, err := os.Executable(); err == nil && !strings.HasSuffix(exe, ".test") {
			if exe, err = filepath.EvalSymlinks(exe); err == nil {
				share = exe
			}
		}
	}
	return lxd.New(lxd.Options{ShareBinary: share, Conns: s.lxd, Store: s.store, Log: s.log, BrokerID: s.serverID,
		StateDir: filepath.Join(cfg.DataDir, "lxd"), Image: img, Profiles: lc.Profiles, Per: lc.InstancePer,
		HomeVolumes: lc.HomeVolumes, Transport: lc.Transport, StartTimeout: lc.StartTimeout, ShareAdminServers: lc.Shared,
		StoragePool: lc.StoragePool, PoolSize: lc.PoolSize, TrimSpares: cfg.Sessions.TrimIdle > 0, PoolWidth: pw, PoolHeight: ph, BaseInstances: lc.BaseInstances})
}

// isFingerprint tells an image fingerprint (12 to 64 hex digits) from an alias.
func isFingerprint(s string) bool {
	if len(s) < 12 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
