package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/deskhub/deskhub/internal/account"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/events"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/infra"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/revoke"
)

// setupLXD builds the registry of links to LXD servers (deskhub's client identity, loaded or created),
// which the LXD side of the infrastructure surface and the LXD desktops share.
func (s *Server) setupLXD(ctx context.Context, cfg config.Config) error {
	secret, err := loadSecretKey(cfg)
	if err != nil {
		return err
	}
	id, err := lxdconn.LoadIdentity(ctx, s.store, secret, certName(cfg))
	if err != nil {
		return fmt.Errorf("infra: %w", err)
	}
	s.lxd, err = lxdconn.New(lxdconn.Options{Identity: id, Store: s.store, Log: s.log})
	return err
}

// certName is the name deskhub's certificate gets in LXD trust stores.
func certName(cfg config.Config) string {
	if cfg.Infra.CertName != "" {
		return cfg.Infra.CertName
	}
	h, _ := os.Hostname()
	return "deskhub-" + h
}

// setupInfra builds the event hub and the LXD side of the infrastructure surface on the registry.
func (s *Server) setupInfra(ctx context.Context, cfg config.Config) error {
	s.hub = events.New(events.Options{BindTimeout: cfg.Infra.StreamBindTimeout, Heartbeat: cfg.Infra.Heartbeat,
		Log: s.log, Registerer: s.registry, OriginPatterns: corsOriginPatterns(cfg.CORSOrigins)})
	var err error
	s.infra, err = infra.New(infra.Options{Store: s.store, Hub: s.hub, Log: s.log, Conns: s.lxd,
		CertName: certName(cfg), OpTimeout: cfg.Infra.OpTimeout, ImageServers: s.imageServers(cfg),
		OwnImages: s.ownImages, Forget: func(ctx context.Context, id int64) {
			if s.lxdDesks != nil { // the warm pool's spares and the base instances go with the server
				s.lxdDesks.ForgetServer(ctx, id)
			}
		}})
	return err
}

// loadSecretKey is DESKHUB_SECRET_KEY, or the key in the secret key file, created on first use.
func loadSecretKey(cfg config.Config) ([]byte, error) {
	if cfg.Infra.SecretKey != "" {
		return []byte(cfg.Infra.SecretKey), nil
	}
	path := cfg.Infra.SecretKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "secret.key")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		b = []byte(hex.EncodeToString(key) + "\n")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secret key file %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return loadSecretKey(cfg) // created meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("creating the secret key file %s: %w", path, err)
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("writing the secret key file %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading the secret key file %s: %w", path, err)
	}
	key := strings.TrimSpace(string(b))
	if len(key) < 16 {
		return nil, fmt.Errorf("secret key file %s: the key is shorter than 16 characters", path)
	}
	return []byte(key), nil
}

func infraCaller(c *httpapi.Call) account.Caller {
	return who(c)
}

// internalProvider answers calls about provider "internal" resources of a kind deskhub keeps only on
// LXD servers: there are none.
func internalNone[A any](p vmm.Provider) (jsonapi.Many[A], bool) {
	return jsonapi.Many[A]{Data: []jsonapi.Resource[A]{}}, p == vmm.ProviderInternal
}

func noInternal(p vmm.Provider, what string) error {
	if p == vmm.ProviderInternal {
		return httpapi.NotFound("deskhub itself has no %s: use provider \"lxd\"", what)
	}
	return nil
}

func many[A any](typ string, views []infra.ResourceView[A]) jsonapi.Many[A] {
	out := jsonapi.Many[A]{Data: make([]jsonapi.Resource[A], 0, len(views))}
	for _, v := range views {
		out.Data = append(out.Data, jsonapi.Resource[A]{Type: typ, ID: v.ID, Attributes: v.Attrs})
	}
	return out
}

func serverRelationship(serverID int64) map[string]jsonapi.Relationship {
	return map[string]jsonapi.Relationship{"server": {Data: jsonapi.Identifier{Type: vmm.TypeServer, ID: fmt.Sprint(serverID)}}}
}

// ---- servers ------------------------------------------------------------------------------------------

func addParams(r *vmm.ServerAddRequest) infra.AddParams {
	return infra.AddParams{Host: r.ServerHost, Port: int(r.ServerPort), Path: r.ServerPath, Protocol: r.ServerProtocol,
		Password: r.ServerPassword, Project: r.ServerProject}
}

func (s *Server) serverAdd(c *httpapi.Call, r *vmm.ServerAddRequest) (jsonapi.One[vmm.ServerAttributes], error) {
	var none jsonapi.One[vmm.ServerAttributes]
	if s.cfg.Features.DisableServerAdd {
		return none, errForbiddenFeature("adding servers")
	}
	attrs, id, err := s.infra.AddServer(c.Ctx, infraCaller(c), addParams(r))
	if err != nil {
		return none, err
	}
	s.audit(c, "server.add", fmt.Sprint(id), map[string]any{"host": r.ServerHost, "port": r.ServerPort, "path": r.ServerPath})
	return jsonapi.NewOne(vmm.TypeServer, fmt.Sprint(id), attrs), nil
}

func (s *Server) serverVerify(c *httpapi.Call, r *vmm.ServerVerifyRequest) (jsonapi.One[vmm.ServerAttributes], error) {
	add := vmm.ServerAddRequest(*r)
	attrs, err := s.infra.VerifyServer(c.Ctx, infraCaller(c), addParams(&add))
	if err != nil {
		return jsonapi.One[vmm.ServerAttributes]{}, err
	}
	return jsonapi.NewOne(vmm.TypeServer, "verify", attrs), nil
}

func (s *Server) serverList(c *httpapi.Call, r *vmm.ServerListRequest) (jsonapi.Many[vmm.ServerAttributes], error) {
	if out, ok := internalNone[vmm.ServerAttributes](r.Provider); ok {
		return out, nil
	}
	// No provider (ui-vmm's panel sends {}): every provider's servers, which today are LXD's.
	list, err := s.infra.ListServers(c.Ctx, infraCaller(c), int64(r.ServerID))
	if err != nil {
		return jsonapi.Many[vmm.ServerAttributes]{}, err
	}
	out := jsonapi.Many[vmm.ServerAttributes]{Data: make([]jsonapi.Resource[vmm.ServerAttributes], 0, len(list))}
	for _, v := range list {
		out.Data = append(out.Data, jsonapi.Resource[vmm.ServerAttributes]{Type: vmm.TypeServer, ID: fmt.Sprint(v.ID), Attributes: v.Attrs})
	}
	return out, nil
}

func (s *Server) serverGet(c *httpapi.Call, r *vmm.ServerGetRequest) (jsonapi.One[vmm.ServerAttributes], error) {
	var none jsonapi.One[vmm.ServerAttributes]
	if err := noInternal(r.Provider, "servers"); err != nil {
		return none, err
	}
	id := int64(r.ServerID)
	attrs, pools, err := s.infra.GetServer(c.Ctx, infraCaller(c), id)
	if err != nil {
		return none, err
	}
	out := jsonapi.NewOne(vmm.TypeServer, fmt.Sprint(id), attrs)
	out.Included = []jsonapi.Resource[any]{}
	out.Data.Relationships = map[string]jsonapi.Relationship{}
	include(&out, "pools", vmm.TypePool, pools)
	// What the server holds, in included as ui-vmm's panel shows it (profiles, certificates, volumes):
	// only from a server that answers; a failure leaves that part out rather than the whole answer.
	if attrs.ServerState == "online" {
		caller := infraCaller(c)
		if v, err := s.infra.ListProfiles(c.Ctx, caller, id); err == nil {
			include(&out, "profiles", vmm.TypeProfile, v)
		}
		if v, err := s.infra.ListCertificates(c.Ctx, caller, id); err == nil {
			include(&out, "certificates", vmm.TypeCertificate, v)
		}
		if v, err := s.infra.ListVolumes(c.Ctx, caller, id); err == nil {
			include(&out, "volumes", vmm.TypeVolume, v)
		}
	}
	return out, nil
}

// include adds resources to a document's included, with a to-many relationship of the primary data
// naming them.
func include[A, B any](doc *jsonapi.One[A], rel, typ string, views []infra.ResourceView[B]) {
	ids := make([]jsonapi.Identifier, 0, len(views))
	for _, v := range views {
		ids = append(ids, jsonapi.Identifier{Type: typ, ID: v.ID})
		doc.Included = append(doc.Included, jsonapi.Resource[any]{Type: typ, ID: v.ID, Attributes: v.Attrs})
	}
	doc.Data.Relationships[rel] = jsonapi.Relationship{Data: ids}
}

func (s *Server) serverDelete(c *httpapi.Call, r *vmm.ServerDeleteRequest) (jsonapi.Meta, error) {
	if err := noInternal(r.Provider, "servers"); err != nil {
		return jsonapi.Meta{}, err
	}
	removed, err := s.infra.DeleteServer(c.Ctx, infraCaller(c), int64(r.ServerID), r.ServerKeepTrust)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c, "server.delete", fmt.Sprint(int64(r.ServerID)), map[string]any{"trust_removed": removed})
	return done(vmm.TypeServer, fmt.Sprint(int64(r.ServerID)), "server.delete", "server_id", int64(r.ServerID), "trust_removed", removed), nil
}

// ---- resources on a server ----------------------------------------------------------------------------

// serverResources builds a list handler of one kind of resource on a server.
func serverResources[Req any, A any](typ string, get func(*Req) (vmm.Provider, int64),
	list func(ctx context.Context, c account.Caller, serverID int64) ([]infra.ResourceView[A], error)) func(*httpapi.Call, *Req) (jsonapi.Many[A], error) {
	return func(c *httpapi.Call, r *Req) (jsonapi.Many[A], error) {
		p, id := get(r)
		if out, ok := internalNone[A](p); ok {
			return out, nil
		}
		views, err := list(c.Ctx, infraCaller(c), id)
		if err != nil {
			return jsonapi.Many[A]{}, err
		}
		return many(typ, views), nil
	}
}

// done acknowledges an action on the resource typ/id with what it was about.
func done(typ, id, what string, kv ...any) jsonapi.Meta {
	m := map[string]any{"status": "ok", "action": what}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return jsonapi.Ack(typ, id, m)
}

func (s *Server) imageDelete(c *httpapi.Call, r *vmm.ImageDeleteRequest) (jsonapi.Meta, error) {
	if err := noInternal(r.Provider, "images"); err != nil {
		return jsonapi.Meta{}, err
	}
	if err := s.infra.DeleteImage(c.Ctx, infraCaller(c), int64(r.ServerID), r.ImageFingerprint); err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c, "image.delete", r.ImageFingerprint, map[string]any{"server_id": int64(r.ServerID)})
	return done(vmm.TypeImage, r.ImageFingerprint, "image.delete", "image_fingerprint", r.ImageFingerprint), nil
}

func (s *Server) profileUpdate(c *httpapi.Call, r *vmm.ProfileUpdateRequest) (jsonapi.One[vmm.ProfileAttributes], error) {
	if err := noInternal(r.Provider, "profiles"); err != nil {
		return jsonapi.One[vmm.ProfileAttributes]{}, err
	}
	v, err := s.infra.UpdateProfile(c.Ctx, infraCaller(c), int64(r.ServerID), r.ProfileName, r.ProfileBody, r.ProfileRename)
	if err != nil {
		return jsonapi.One[vmm.ProfileAttributes]{}, err
	}
	s.audit(c, "profile.update", r.ProfileName, map[string]any{"server_id": int64(r.ServerID), "rename": r.ProfileRename})
	out := jsonapi.NewOne(vmm.TypeProfile, v.ID, v.Attrs)
	out.Data.Relationships = serverRelationship(int64(r.ServerID))
	return out, nil
}

func (s *Server) profileDelete(c *httpapi.Call, r *vmm.ProfileDeleteRequest) (jsonapi.Meta, error) {
	if err := noInternal(r.Provider, "profiles"); err != nil {
		return jsonapi.Meta{}, err
	}
	if err := s.infra.DeleteProfile(c.Ctx, infraCaller(c), int64(r.ServerID), r.ProfileName); err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c, "profile.delete", r.ProfileName, map[string]any{"server_id": int64(r.ServerID)})
	return done(vmm.TypeProfile, fmt.Sprintf("%d/%s", int64(r.ServerID), r.ProfileName), "profile.delete", "profile_name", r.ProfileName), nil
}

func (s *Server) certificateRevoke(c *httpapi.Call, r *vmm.CertificateRevokeRequest) (jsonapi.Meta, error) {
	if err := noInternal(r.Provider, "certificates"); err != nil {
		return jsonapi.Meta{}, err
	}
	if err := s.infra.RevokeCertificate(c.Ctx, infraCaller(c), int64(r.ServerID), r.CertificateFingerprint, r.CertificateForce); err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c, "certificate.revoke", r.CertificateFingerprint, map[string]any{"server_id": int64(r.ServerID)})
	return done(vmm.TypeCertificate, r.CertificateFingerprint, "certificate.revoke", "certificate_fingerprint", r.CertificateFingerprint), nil
}

// ---- instances ----------------------------------------------------------------------------------------

// panelInstance fills in the members of an instance as ui-vmm's panel reads them.
func panelInstance(a *vmm.InstanceAttributes) {
	a.InstanceStatus = strings.ToLower(a.InstanceStatus)
	a.InstanceArchShort = a.InstanceArch
	if a.InstanceProfiles == nil {
		a.InstanceProfiles = vmm.CommaList{}
	}
	if a.InstanceDevices == nil {
		a.InstanceDevices = map[string]map[string]string{}
	}
}

func (s *Server) instanceList(c *httpapi.Call, r *vmm.InstanceListRequest) (jsonapi.Many[vmm.InstanceAttributes], error) {
	if out, ok := internalNone[vmm.InstanceAttributes](r.Provider); ok {
		return out, nil
	}
	list, err := s.infra.ListInstances(c.Ctx, infraCaller(c), int64(r.ServerID), int64(r.InstanceID))
	if err != nil {
		return jsonapi.Many[vmm.InstanceAttributes]{}, err
	}
	out := many(vmm.TypeInstance, list.Instances)
	servers := map[int64]bool{}
	for i := range out.Data {
		panelInstance(&out.Data[i].Attributes)
		sid := out.Data[i].Attributes.ServerID
		out.Data[i].Relationships = serverRelationship(sid)
		servers[sid] = true
	}
	// The servers the instances link to, in included: a list's relationship must be resolvable there
	// (ui-vmm's panel looks every one up).
	out.Included = []jsonapi.Resource[any]{}
	if len(servers) > 0 {
		all, err := s.infra.ListServers(c.Ctx, infraCaller(c), 0)
		if err != nil {
			return jsonapi.Many[vmm.InstanceAttributes]{}, err
		}
		for _, v := range all {
			if servers[v.ID] {
				out.Included = append(out.Included, jsonapi.Resource[any]{Type: vmm.TypeServer, ID: fmt.Sprint(v.ID), Attributes: v.Attrs})
				delete(servers, v.ID)
			}
		}
		// A server the caller sees instances of but not the server itself (instances deskhub made for
		// them on another user's server): its id alone.
		for sid := range servers {
			out.Included = append(out.Included, jsonapi.Resource[any]{Type: vmm.TypeServer, ID: fmt.Sprint(sid),
				Attributes: map[string]any{"server_id": sid, "provider": vmm.ProviderLXD}})
		}
	}
	if len(list.Unreachable) > 0 {
		out.Meta = map[string]any{"unreachable_servers": list.Unreachable}
	}
	return out, nil
}

func (s *Server) instanceGet(c *httpapi.Call, r *vmm.InstanceGetRequest) (jsonapi.One[vmm.InstanceAttributes], error) {
	if err := noInternal(r.Provider, "instances"); err != nil {
		return jsonapi.One[vmm.InstanceAttributes]{}, err
	}
	v, err := s.infra.GetInstance(c.Ctx, infraCaller(c), int64(r.ServerID), r.InstanceName)
	if err != nil {
		return jsonapi.One[vmm.InstanceAttributes]{}, err
	}
	panelInstance(&v.Attrs)
	out := jsonapi.NewOne(vmm.TypeInstance, v.ID, v.Attrs)
	out.Data.Relationships = serverRelationship(v.Attrs.ServerID)
	return out, nil
}

func opDocument(v infra.ResourceView[vmm.OperationAttributes]) jsonapi.One[vmm.OperationAttributes] {
	return jsonapi.NewOne(vmm.TypeOperation, v.ID, v.Attrs)
}

func (s *Server) instanceAdd(c *httpapi.Call, r *vmm.InstanceAddRequest) (jsonapi.One[vmm.OperationAttributes], error) {
	if err := noInternal(r.Provider, "instances"); err != nil {
		return jsonapi.One[vmm.OperationAttributes]{}, err
	}
	v, err := s.infra.AddInstance(c.Ctx, infraCaller(c), infra.NewInstance{ServerID: int64(r.ServerID), Name: r.InstanceName,
		ImageAlias: r.ImageAlias, ImageFingerprint: r.ImageFingerprint, ImageServer: s.ownImageHost(c, r.ImageServerHost), Profiles: r.Profiles, Type: r.InstanceType,
		Start: r.InstanceStart == nil || *r.InstanceStart, RequestID: r.RequestID, Config: instanceConfig(r)})
	if err != nil {
		return jsonapi.One[vmm.OperationAttributes]{}, err
	}
	s.audit(c, "instance.add", r.InstanceName, map[string]any{"server_id": int64(r.ServerID), "operation": v.ID})
	return opDocument(v), nil
}

// instanceConfig is the LXD configuration of a new instance from the members ui-vmm's panel sends:
// limits, and cloud-init data (user.user-data, user.network-config: the keys LXD 5.0 and Incus both
// take) for the command and the network.
func instanceConfig(r *vmm.InstanceAddRequest) map[string]string {
	cfg := map[string]string{}
	if r.InstanceMemory > 0 {
		cfg["limits.memory"] = fmt.Sprintf("%dMiB", int64(r.InstanceMemory))
	}
	if r.InstanceCPU > 0 {
		cfg["limits.cpu"] = fmt.Sprint(int64(r.InstanceCPU))
	}
	if cmd := strings.TrimSpace(r.InstanceCommand); cmd != "" {
		b, _ := json.Marshal(cmd) // a JSON string is a YAML string
		cfg["user.user-data"] = "#cloud-config\nruncmd:\n  - [sh, -c, " + string(b) + "]\n"
	}
	if r.InstanceInterface != "" && (r.InstanceDHCP || r.InstanceNetwork != "") {
		iface, _ := json.Marshal(r.InstanceInterface)
		nc := "version: 2\nethernets:\n  " + string(iface) + ":\n"
		if r.InstanceDHCP {
			nc += "    dhcp4: true\n"
		} else {
			addr, _ := json.Marshal(r.InstanceNetwork)
			nc += "    dhcp4: false\n    addresses: [" + string(addr) + "]\n"
		}
		if r.InstanceNameserver != "" {
			ns, _ := json.Marshal(r.InstanceNameserver)
			nc += "    nameservers:\n      addresses: [" + string(ns) + "]\n"
		}
		cfg["user.network-config"] = nc
	}
	if len(cfg) == 0 {
		return nil
	}
	return cfg
}

func (s *Server) instanceAction(c *httpapi.Call, r *vmm.InstanceActionRequest) (jsonapi.One[vmm.OperationAttributes], error) {
	if err := noInternal(r.Provider, "instances"); err != nil {
		return jsonapi.One[vmm.OperationAttributes]{}, err
	}
	id := int64(r.InstanceID)
	if r.InstanceName != "" {
		// ui-vmm's panel names the instance (and its server): find its id.
		in, err := s.infra.GetInstance(c.Ctx, infraCaller(c), int64(r.ServerID), r.InstanceName)
		if err != nil {
			return jsonapi.One[vmm.OperationAttributes]{}, err
		}
		id = in.Attrs.InstanceID
	}
	v, err := s.infra.InstanceAction(c.Ctx, infraCaller(c), infra.Action{InstanceID: id, Action: r.InstanceStatus, RequestID: r.RequestID})
	if err != nil {
		return jsonapi.One[vmm.OperationAttributes]{}, err
	}
	s.audit(c, "instance.action", fmt.Sprint(id), map[string]any{"action": r.InstanceStatus, "operation": v.ID})
	return opDocument(v), nil
}

// ---- event stream -------------------------------------------------------------------------------------

// eventSubscribe opens a stream (server-sent events, or a websocket on the same path).
func (s *Server) eventSubscribe(c *httpapi.Call) error {
	var r vmm.EventSubscribeRequest
	if err := httpapi.Decode(c, &r); err != nil {
		return err
	}
	err := s.hub.Serve(c.W, c.R, r.Stream)
	switch {
	case errors.Is(err, events.ErrBadStreamID):
		return fault.Memberf("stream", "must be 8 to 128 letters, digits, '-' or '_' (take one from config.get)")
	case errors.Is(err, events.ErrStreamInUse):
		return httpapi.Errorf(http.StatusConflict, "stream %q is open already", r.Stream)
	case errors.Is(err, events.ErrClosed):
		return httpapi.Errorf(http.StatusServiceUnavailable, "the server is shutting down")
	case err != nil:
		// The stream was under way (or the websocket handshake answered): nothing more to write.
		s.log.Debug("event stream ended", "stream", r.Stream, "err", err)
	}
	return nil
}

// endWithCredentials ends a bound stream when the token or the account that bound it goes.
func (s *Server) endWithCredentials(stream string, deps revoke.Deps) {
	done := s.hub.Done(stream)
	if done == nil {
		return
	}
	stop := s.revoke.Watch(deps, func() { s.hub.End(stream, events.ReasonRevoked) })
	go func() {
		<-done
		stop()
	}()
}

// eventAuth binds an open stream to the caller and replays what the caller missed.
func (s *Server) eventAuth(c *httpapi.Call, r *vmm.EventAuthRequest) (jsonapi.Meta, error) {
	err := s.hub.Bind(r.Stream, c.Principal.UserID, c.Principal.Admin)
	switch {
	case errors.Is(err, events.ErrUnknownStream):
		return jsonapi.Meta{}, httpapi.NotFound("no open stream %q: open it with event.subscribe first", r.Stream)
	case errors.Is(err, events.ErrBoundElsewhere):
		return jsonapi.Meta{}, httpapi.Errorf(http.StatusConflict, "stream %q belongs to another user", r.Stream)
	case err != nil:
		return jsonapi.Meta{}, err
	}
	s.endWithCredentials(r.Stream, revoke.Deps{UserID: c.Principal.UserID, TokenID: c.Principal.TokenID})
	if r.RequestID != "" {
		// ui-vmm's panel waits for its event.auth on the stream itself.
		body, _ := json.Marshal(done("stream", r.Stream, "event.auth", "stream", r.Stream))
		s.hub.SendPanel(r.Stream, events.PanelMessage{Type: "event.auth", RequestID: r.RequestID, Body: string(body)})
	}
	if err := s.infra.Replay(c.Ctx, r.Stream, c.Principal.UserID); err != nil {
		s.log.Warn("replaying operation outcomes", "stream", r.Stream, "err", err)
	}
	return done("stream", r.Stream, "event.auth", "stream", r.Stream), nil
}
