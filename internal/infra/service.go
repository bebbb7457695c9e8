// Package infra serves the infrastructure surface's LXD side: servers added with server.add and what
// lives on them (instances, images, profiles, networks, pools, volumes, certificates), asynchronous
// instance operations, and the relay of LXD lifecycle events to deskhub's event stream. It talks to
// LXD 5.0 and Incus through the incus Go client over the links internal/lxdconn keeps.
//
// Like every domain package it returns internal/fault errors and imports neither net/http nor
// internal/httpapi (imports_test.go checks it); LXD's HTTP API is spoken in internal/lxdconn.
package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/deskhub/deskhub/internal/account"
	"log/slog"
	"os"
	"sync"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/events"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/store"
)

// Options configure a Service; zero fields take the defaults New gives them.
type Options struct {
	Store store.Store
	Hub   *events.Hub
	Log   *slog.Logger
	// Conns keeps the links to the servers (with deskhub's client identity); the service follows the
	// server records it adds and deletes, and the owner of Conns closes it.
	Conns *lxdconn.Registry
	// CertName is the name deskhub's certificate gets in a server's trust store (default
	// "deskhub-<hostname>").
	CertName string
	// OpTimeout bounds an asynchronous operation: one that has not ended by then is reported failed
	// (default 5 min).
	OpTimeout time.Duration
	// CacheTTL is how long an instance list read from a server is reused (default 2 s; lifecycle
	// events and deskhub's own operations drop it sooner).
	CacheTTL time.Duration
	// ImageServers are the image servers instances can be created from (image.serverList), deskhub's
	// own first when it serves images.
	ImageServers []ImageServer
	// OwnImages lists the images of deskhub's own image server as LXD sees them.
	OwnImages func(ctx context.Context) ([]api.Image, error)
	// Forget, when set, is called by server.delete once the deletion is decided (no operation, no
	// session on the server) and before deskhub's certificate is withdrawn: what else deskhub keeps on
	// the server (the LXD desktops' spares and base instances) is removed then.
	Forget func(ctx context.Context, id int64)
}

// Service is the LXD side of the infrastructure surface.
type Service struct {
	opts Options
	st   store.Store
	hub  *events.Hub
	log  *slog.Logger
	lxd  *lxdconn.Registry
	id   lxdconn.Identity

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	caches map[int64]*instanceCache
}

// New makes the service on o.Conns' links. Start connects to the servers.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Hub == nil || o.Conns == nil {
		return nil, errors.New("infra: a store, an event hub and an LXD connection registry are needed")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.CertName == "" {
		h, _ := os.Hostname()
		o.CertName = "deskhub-" + h
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 5 * time.Minute
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 2 * time.Second
	}
	s := &Service{opts: o, st: o.Store, hub: o.Hub, log: o.Log.With("component", "infra"), lxd: o.Conns,
		id: o.Conns.Identity(), caches: map[int64]*instanceCache{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	o.Conns.OnState(s.serverState)
	o.Conns.OnLifecycle(s.lifecycle)
	return s, nil
}

// Fingerprint is the SHA-256 fingerprint of deskhub's client certificate.
func (s *Service) Fingerprint() string { return s.id.Fingerprint }

// Start watches every LXD server in the store and resumes operations a previous run left unfinished.
func (s *Service) Start(ctx context.Context) error {
	if err := s.lxd.Start(ctx); err != nil {
		return err
	}
	return s.resumeOperations(ctx)
}

// Close waits for background work (operations left unfinished are resumed by the next Start). The
// links to the servers are the registry's: its owner closes it.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// ---- servers ------------------------------------------------------------------------------------------

// AddParams is what server.add and server.verify take.
type AddParams struct {
	Host     string
	Port     int
	Path     string
	Protocol string
	Password string
	Project  string
}

// serverNotFound is the one answer for a missing server and someone else's.
func serverNotFound(id int64) error { return fault.NotFoundf("no server with server_id %d", id) }

// visibleServer returns the server row if the caller may see it.
// CheckServer answers whether the caller may see server id (a not-found fault if not).
func (s *Service) CheckServer(ctx context.Context, c account.Caller, id int64) error {
	_, err := s.visibleServer(ctx, c, id)
	return err
}

func (s *Service) visibleServer(ctx context.Context, c account.Caller, id int64) (store.Server, error) {
	row, err := s.st.GetServer(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (row.Provider != string(vmm.ProviderLXD) || !mayUseServer(c, row))) {
		return store.Server{}, serverNotFound(id)
	}
	return row, err
}

func mayUseServer(c account.Caller, row store.Server) bool {
	return c.Admin || (c.UserID != 0 && row.OwnerID == c.UserID)
}

// probe reaches the server described by p, makes it trust deskhub if it does not yet (and keep is
// true; with keep false, a trust made only to check the password is withdrawn again), and reads what
// it reports.
func (s *Service) probe(ctx context.Context, c account.Caller, p AddParams, keep bool) (lxdconn.Target, lxdconn.Info, error) {
	t := lxdconn.Target{Host: p.Host, Port: p.Port, Path: p.Path, Project: p.Project}
	if t.Project == "" {
		t.Project = "default"
	}
	if p.Path != "" {
		if !c.Admin {
			return t, lxdconn.Info{}, fault.New(fault.Forbidden, "only administrators may add a server by its unix socket (server_path): the socket gives full control of the host")
		}
		t.Host, t.Port = "", 0
	} else {
		pem, err := lxdconn.FetchServerCert(ctx, p.Host, p.Port)
		if err != nil {
			return t, lxdconn.Info{}, &fault.Error{Kind: fault.BadGateway, Msg: fmt.Sprintf("cannot reach the server at %s: %v", t, err), Err: err}
		}
		t.ServerCert = pem
	}
	cl, err := s.lxd.Connect(ctx, t, false)
	if err != nil {
		return t, lxdconn.Info{}, &fault.Error{Kind: fault.BadGateway, Msg: fmt.Sprintf("cannot connect to the server at %s: %v", t, err), Err: err}
	}
	info, err := lxdconn.GetInfo(cl)
	if err != nil {
		msg := fmt.Sprintf("cannot reach the server at %s: %v", t, err)
		if lxdconn.Status(err) != 0 {
			msg = fmt.Sprintf("the server at %s does not answer as LXD or Incus: %v", t, err)
		}
		return t, lxdconn.Info{}, &fault.Error{Kind: fault.BadGateway, Msg: msg, Err: err}
	}
	if info.Trusted() {
		return t, info, s.checkProject(cl, t)
	}
	if tok, ok := lxdconn.ParseTrustToken(p.Password); ok {
		if fp, _ := lxdconn.CertFingerprint(t.ServerCert); fp != "" && tok.Fingerprint != fp {
			return t, info, fault.Invalidf("server_password", "the trust token was made by another server (certificate %.12s, this server has %.12s)", tok.Fingerprint, fp)
		}
		if !tok.ExpiresAt.IsZero() && time.Now().After(tok.ExpiresAt) {
			return t, info, fault.Invalidf("server_password", "the trust token expired at %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if !keep {
			// A token works once: using it to check it would spend it.
			return t, info, nil
		}
	}
	if p.Password == "" {
		return t, info, fault.Invalidf("server_password", "the server does not trust deskhub yet: give its trust password or a trust token")
	}
	if err := lxdconn.RequestTrust(cl, s.opts.CertName, p.Password); err != nil {
		if lxdconn.IsRefused(err) {
			return t, info, &fault.Error{Kind: fault.Forbidden, Field: "server_password",
				Msg: fmt.Sprintf("the server refused the trust password or token: %v", err), Err: err}
		}
		return t, info, &fault.Error{Kind: fault.BadGateway, Msg: fmt.Sprintf("the server could not add deskhub's certificate: %v", err), Err: err}
	}
	if info, err = lxdconn.GetInfo(cl); err != nil || !info.Trusted() {
		return t, info, &fault.Error{Kind: fault.BadGateway, Msg: "the server accepted the trust password but still does not trust deskhub's certificate", Err: err}
	}
	perr := s.checkProject(cl, t)
	if !keep || perr != nil {
		// server.verify, or a server.add that cannot go on: withdraw the trust just made.
		if err := cl.DeleteCertificate(s.id.Fingerprint); err != nil {
			s.log.Warn("withdrawing a trust made only to check it", "server", t.String(), "err", err)
		}
	}
	return t, info, perr
}

// checkProject makes sure the project deskhub is to use exists on the server.
func (s *Service) checkProject(cl incus.InstanceServer, t lxdconn.Target) error {
	if _, _, err := cl.GetProject(t.Project); err != nil {
		if lxdconn.IsNotFound(err) {
			return fault.Invalidf("server_project", "the server has no project %q", t.Project)
		}
		return &fault.Error{Kind: fault.BadGateway, Msg: fmt.Sprintf("reading project %q: %v", t.Project, err), Err: err}
	}
	return nil
}

// AddServer is server.add: the server trusts deskhub from now on and is recorded as the caller's. The
// password is used once and never stored.
func (s *Service) AddServer(ctx context.Context, c account.Caller, p AddParams) (vmm.ServerAttributes, int64, error) {
	t, info, err := s.probe(ctx, c, p, true)
	if err != nil {
		return vmm.ServerAttributes{}, 0, err
	}
	cfg := lxdconn.Config{Project: t.Project, ServerCert: t.ServerCert, ServerName: info.Environment.ServerName,
		Version: info.Environment.ServerVersion, Driver: info.Environment.Driver}
	cfgJSON, _ := json.Marshal(cfg)
	row := store.Server{
		OwnerID: c.UserID, Name: t.String() + "/" + t.Project, Provider: string(vmm.ProviderLXD), Protocol: p.Protocol,
		Host: t.Host, Port: t.Port, Path: t.Path, CertFingerprint: info.Environment.CertificateFingerprint,
		State: stateOnline, Config: string(cfgJSON),
	}
	if row.CertFingerprint == "" && t.ServerCert != "" {
		row.CertFingerprint, _ = lxdconn.CertFingerprint(t.ServerCert)
	}
	if err := s.st.CreateServer(ctx, &row); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return vmm.ServerAttributes{}, 0, fault.Conflictf("the server %s (project %s) has been added already", t, t.Project)
		}
		return vmm.ServerAttributes{}, 0, err
	}
	s.forget(row.ID)
	first := s.lxd.Watch(row)
	select {
	case <-first:
	case <-time.After(lxdconn.DialTimeout):
	}
	attrs, err := s.serverAttributes(ctx, row, true)
	return attrs, row.ID, err
}

// VerifyServer is server.verify: it reaches the server and checks the credentials, recording nothing.
func (s *Service) VerifyServer(ctx context.Context, c account.Caller, p AddParams) (vmm.ServerAttributes, error) {
	t, info, err := s.probe(ctx, c, p, false)
	if err != nil {
		return vmm.ServerAttributes{}, err
	}
	fp := info.Environment.CertificateFingerprint
	if fp == "" && t.ServerCert != "" {
		fp, _ = lxdconn.CertFingerprint(t.ServerCert)
	}
	return vmm.ServerAttributes{
		ServerName: info.Environment.ServerName, ServerHost: t.Host, ServerPort: vmm.FlexInt(t.Port),
		ServerProtocol: p.Protocol, ServerPath: t.Path, ServerProject: t.Project, ServerOwner: c.Login,
		ServerAddresses: nonNil(info.Environment.Addresses), ServerCertificateFingerprint: fp,
		ServerKernel: info.Kernel(), ServerDriver: info.Environment.Driver, ServerVersion: info.Environment.ServerVersion,
		ServerInstanceTypes: nonNil(info.InstanceTypes()), ServerState: stateOnline, Provider: vmm.ProviderLXD,
	}, nil
}

// ServerView is one server as the caller sees it.
type ServerView struct {
	ID    int64
	Attrs vmm.ServerAttributes
}

// ListServers is server.list: the caller's servers (an administrator's: all); id 0 lists every one.
func (s *Service) ListServers(ctx context.Context, c account.Caller, id int64) ([]ServerView, error) {
	var rows []store.Server
	if id != 0 {
		row, err := s.visibleServer(ctx, c, id)
		if err != nil {
			return nil, err
		}
		rows = []store.Server{row}
	} else {
		owner := c.UserID
		if c.Admin {
			owner = 0
		}
		all, err := s.st.ListServers(ctx, owner)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			if r.Provider == string(vmm.ProviderLXD) {
				rows = append(rows, r)
			}
		}
	}
	out := make([]ServerView, 0, len(rows))
	for _, r := range rows {
		a, err := s.serverAttributes(ctx, r, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ServerView{ID: r.ID, Attrs: a})
	}
	return out, nil
}

// GetServer is server.get: the server with what it reports live (cpu, memory, storage, kernel…), and
// its storage pools.
func (s *Service) GetServer(ctx context.Context, c account.Caller, id int64) (vmm.ServerAttributes, []ResourceView[vmm.PoolAttributes], error) {
	row, err := s.visibleServer(ctx, c, id)
	if err != nil {
		return vmm.ServerAttributes{}, nil, err
	}
	attrs, err := s.serverAttributes(ctx, row, true)
	if err != nil {
		return attrs, nil, err
	}
	var pools []ResourceView[vmm.PoolAttributes]
	if attrs.ServerState == stateOnline {
		pools, err = s.ListPools(ctx, c, id)
		if err != nil {
			return attrs, nil, err
		}
		for _, p := range pools {
			attrs.ServerStorageTotal += p.Attrs.PoolSpaceTotal
		}
	}
	return attrs, pools, nil
}

// serverAttributes describes a server row; with live set, it asks the server for its details (when it
// answers).
func (s *Service) serverAttributes(ctx context.Context, row store.Server, live bool) (vmm.ServerAttributes, error) {
	cfg := lxdconn.ReadConfig(row)
	owner := ""
	if row.OwnerID != 0 {
		if u, err := s.st.GetUser(ctx, row.OwnerID); err == nil {
			owner = u.Login
		}
	}
	a := vmm.ServerAttributes{
		ServerID: row.ID, UserID: row.OwnerID,
		ServerName: cfg.ServerName, ServerHost: row.Host, ServerPort: vmm.FlexInt(row.Port), ServerProtocol: row.Protocol,
		ServerPath: row.Path, ServerProject: cfg.Project, ServerOwner: owner, ServerAddresses: []string{}, ServerCertificateFingerprint: row.CertFingerprint,
		ServerInstanceTypes: []string{}, ServerSupportedInstanceTypes: vmm.CommaList{}, ServerState: row.State,
		ServerVersion: cfg.Version, ServerServerVersion: cfg.Version, ServerDriver: cfg.Driver, ServerServer: row.Protocol,
		Provider: vmm.ProviderLXD,
	}
	st, _, watched := s.lxd.Status(row.ID)
	if watched {
		a.ServerState = st
	}
	if !live || !watched || a.ServerState != stateOnline {
		return a, nil
	}
	cl := s.lxd.Client(row.ID)
	info, err := lxdconn.GetInfo(cl)
	if err != nil {
		s.lxd.Failed(row.ID, err)
		a.ServerState = stateOffline
		return a, nil
	}
	if !info.Trusted() {
		a.ServerState = stateUntrusted
		return a, nil
	}
	a.ServerName = info.Environment.ServerName
	a.ServerAddresses = nonNil(info.Environment.Addresses)
	a.ServerKernel = info.Kernel()
	a.ServerDriver = info.Environment.Driver
	a.ServerVersion = info.Environment.ServerVersion
	a.ServerInstanceTypes = nonNil(info.InstanceTypes())
	a.ServerSupportedInstanceTypes = a.ServerInstanceTypes
	a.ServerKernelVersion = info.Environment.KernelVersion
	a.ServerKernelArchitecture = info.Environment.KernelArchitecture
	a.ServerDriverVersion = info.Environment.DriverVersion
	a.ServerServerVersion = info.Environment.ServerVersion
	if info.Environment.Server != "" {
		a.ServerServer = info.Environment.Server
	}
	a.ServerStorage = info.Environment.Storage
	a.ServerStorageVersion = info.Environment.StorageVersion
	if res, err := cl.GetServerResources(); err == nil {
		a.ServerCPU = int(res.CPU.Total)
		a.ServerCPUThreads = int(res.CPU.Total)
		a.ServerMemory = int64(res.Memory.Total)
		a.ServerMemoryTotal = int64(res.Memory.Total >> 20)
		a.ServerMemoryUsed = int64(res.Memory.Used >> 20)
		for _, sock := range res.CPU.Sockets {
			a.ServerCPUCores += len(sock.Cores)
			if a.ServerCPUModel == "" {
				a.ServerCPUModel, a.ServerCPUVendor = sock.Name, sock.Vendor
			}
		}
	}
	return a, nil
}

func kernel(info lxdconn.Info) string {
	if info.Environment.KernelVersion == "" {
		return info.Environment.Kernel
	}
	return info.Environment.Kernel + " " + info.Environment.KernelVersion
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// DeleteServer forgets a server (server.delete): it stops following it, and unless keepTrust is set
// and while no other added record uses the same server, withdraws deskhub's certificate from the
// server's trust store. It refuses while operations on the server are unfinished. trustRemoved tells
// whether the certificate was withdrawn.
func (s *Service) DeleteServer(ctx context.Context, c account.Caller, id int64, keepTrust bool) (trustRemoved bool, err error) {
	row, err := s.visibleServer(ctx, c, id)
	if err != nil {
		return false, err
	}
	ops, err := s.st.ListOperations(ctx, store.OperationFilter{States: []string{store.OperationPending, store.OperationRunning}})
	if err != nil {
		return false, err
	}
	for _, op := range ops {
		if op.ServerID == id {
			return false, fault.Conflictf("operation %s (%s %s) on server %d is not finished yet", op.ID, op.Kind, op.InstanceName, id)
		}
	}
	if live, err := s.st.ListSessions(ctx, store.SessionFilter{ServerID: id, States: []string{store.SessionStarting, store.SessionRunning}}); err != nil {
		return false, err
	} else if len(live) > 0 {
		return false, fault.Conflictf("server %d runs %d desktop sessions (e.g. %s): terminate them first", id, len(live), live[0].ID)
	}
	if s.opts.Forget != nil {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		s.opts.Forget(fctx, id)
		cancel()
	}
	if !keepTrust && !s.sharedServer(ctx, row) {
		if cl := s.lxd.Client(id); cl != nil {
			if err := cl.DeleteCertificate(s.id.Fingerprint); err == nil {
				trustRemoved = true
			} else {
				s.log.Warn("withdrawing deskhub's certificate from a deleted server", "server", row.Name, "err", err)
			}
		}
	}
	s.lxd.Unwatch(id)
	s.forget(id)
	if err := s.st.DeleteServer(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return trustRemoved, err
	}
	data, _ := json.Marshal(map[string]any{"server_id": id, "server_state": "deleted"})
	s.hub.Publish(vmm.Event{Type: "server", Status: "deleted", Resource: vmm.TypeServer, ResourceID: fmt.Sprint(id),
		Data: data, Provider: vmm.ProviderLXD, Time: time.Now().UTC()}, events.Audience{Users: []int64{row.OwnerID}})
	return trustRemoved, nil
}

// sharedServer tells whether another added record reaches the same server (another project on it).
func (s *Service) sharedServer(ctx context.Context, row store.Server) bool {
	all, err := s.st.ListServers(ctx, 0)
	if err != nil {
		return true // when in doubt, keep the trust
	}
	for _, o := range all {
		same := o.Host == row.Host && o.Port == row.Port && o.Path == row.Path
		if row.CertFingerprint != "" && o.CertFingerprint == row.CertFingerprint {
			same = true // the same server reached another way (socket and HTTPS)
		}
		if o.ID != row.ID && o.Provider == row.Provider && same {
			return true
		}
	}
	return false
}

// ServerHealth is one server's reachability, for health.ready.
type ServerHealth struct {
	ID    int64
	State string
	Error string
}

// Health reports every watched server's state.
func (s *Service) Health() []ServerHealth {
	all := s.lxd.Health()
	out := make([]ServerHealth, 0, len(all))
	for _, h := range all {
		out = append(out, ServerHealth{ID: h.ID, State: h.State, Error: h.Error})
	}
	return out
}

// serverClient returns a visible server's row and a client for it, or a 503 when it does not answer.
func (s *Service) serverClient(ctx context.Context, c account.Caller, id int64) (store.Server, incus.InstanceServer, error) {
	row, err := s.visibleServer(ctx, c, id)
	if err != nil {
		return row, nil, err
	}
	cl, err := s.lxd.Get(row.ID)
	return row, cl, err
}

// lxdError turns an error LXD answered into one for the client: LXD's text, of the kind LXD's 4xx
// status says where it has one (404, 409, 400…), else a bad gateway (502).
func lxdError(what string, err error) error {
	kind := fault.BadGateway
	if k, ok := lxdconn.ClientKind(err); ok {
		kind = k
	}
	return &fault.Error{Kind: kind, Msg: fmt.Sprintf("%s: %v", what, err), Err: err}
}
