package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/store"
)

// lxdHarness is a harness whose server follows LXD servers. Its SDK clients (h.client) talk to a
// loopback listener, so event streams work.
type lxdHarness struct {
	*harness
	env *lxdtest.Env
}

func newLXDHarness(t *testing.T, opts ...harnessOpt) *lxdHarness { return newLXDHarnessTB(t, opts...) }

func newLXDHarnessTB(t testing.TB, opts ...harnessOpt) *lxdHarness {
	t.Helper()
	env := lxdtest.Get(t)
	opts = append([]harnessOpt{func(c *config.Config, _ *Options) {
		c.Infra.CertName = env.CertPrefix + "-deskhub"
		c.Infra.OpTimeout = 90 * time.Second
	}}, opts...)
	h := newHarness(t, opts...)
	if err := h.s.infra.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.s.closeInfra)
	return &lxdHarness{harness: h, env: env}
}

// addServer adds the test LXD server by its trust password and returns its id.
func (h *lxdHarness) addServer(c *client.Client) int64 {
	h.t.Helper()
	doc, err := c.AddServer(context.Background(), h.serverBody(h.env.Password))
	must(h.t, err)
	id, err := strconv.ParseInt(doc.Data.ID, 10, 64)
	if err != nil {
		h.t.Fatalf("server.add: id %q", doc.Data.ID)
	}
	return id
}

// serverBody is server.add's body for the test server with password (a trust password or token).
func (h *lxdHarness) serverBody(password string) vmm.ServerAddRequest {
	return vmm.ServerAddRequest{ServerHost: h.env.Host, ServerPort: vmm.FlexInt(h.env.Port), ServerProtocol: "lxd",
		ServerPassword: password, ServerProject: h.env.Project}
}

// eventStream is an open event stream (SDK Subscribe: event.subscribe bound with event.auth), whose
// events are read in the background.
type eventStream struct {
	mu     sync.Mutex
	seen   []vmm.Event
	end    error // why the stream ended, once done is closed
	notify chan struct{}
	done   chan struct{}
}

// evStr shows an event as its JSON (Data is raw JSON).
func evStr(e vmm.Event) string {
	b, _ := json.Marshal(e)
	return string(b)
}

// openStream opens a stream for c's account and waits until it is bound.
func (h *lxdHarness) openStream(c *client.Client) *eventStream {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	es, err := c.Subscribe(ctx)
	must(h.t, err)
	s := &eventStream{notify: make(chan struct{}, 1), done: make(chan struct{})}
	rctx, stop := context.WithCancel(context.Background())
	go func() {
		defer close(s.done)
		defer es.Close()
		for {
			ev, err := es.NextEvent(rctx)
			if err != nil {
				s.mu.Lock()
				s.end = err
				s.mu.Unlock()
				return
			}
			s.mu.Lock()
			s.seen = append(s.seen, ev)
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	h.t.Cleanup(func() { stop(); <-s.done })
	return s
}

// wait returns the first event (seen so far or arriving within timeout) that match accepts.
func (s *eventStream) wait(t testing.TB, timeout time.Duration, what string, match func(vmm.Event) bool) vmm.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, e := range s.seen {
			if match(e) {
				s.mu.Unlock()
				return e
			}
		}
		n := len(s.seen)
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-s.done:
			t.Fatalf("stream ended (%v) while waiting for %s (%d events seen)", s.end, what, n)
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			seen := make([]string, len(s.seen))
			for i, e := range s.seen {
				seen[i] = evStr(e)
			}
			t.Fatalf("no %s event within %s; seen: %s", what, timeout, strings.Join(seen, "\n"))
		}
	}
}

// has tells whether an event that match accepts has arrived.
func (s *eventStream) has(match func(vmm.Event) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.seen {
		if match(e) {
			return true
		}
	}
	return false
}

// opResult waits for the final event of the operation with the request id.
func (s *eventStream) opResult(t testing.TB, requestID string, timeout time.Duration) vmm.Event {
	t.Helper()
	return s.wait(t, timeout, "operation "+requestID, func(e vmm.Event) bool {
		return e.Type == "operation" && e.RequestID == requestID && (e.Status == vmm.OperationSuccess || e.Status == vmm.OperationFailure)
	})
}

// lifecycle waits for an instance lifecycle event.
func (s *eventStream) lifecycle(t testing.TB, name, action string) vmm.Event {
	t.Helper()
	return s.wait(t, 30*time.Second, "instance "+name+" "+action, func(e vmm.Event) bool {
		var d struct {
			InstanceName string `json:"instance_name"`
		}
		_ = json.Unmarshal(e.Data, &d)
		return e.Type == "instance" && e.Status == action && d.InstanceName == name
	})
}

// act runs instance.action and answers its operation.
func act(c *client.Client, id int64, action, requestID string) (jsonapi.One[vmm.OperationAttributes], error) {
	return c.InstanceAction(context.Background(), vmm.InstanceActionRequest{InstanceID: vmm.FlexInt(id), InstanceStatus: action,
		RequestID: requestID, Provider: vmm.ProviderLXD})
}

// action runs instance.action and waits for its outcome on the stream.
func (h *lxdHarness) action(s *eventStream, c *client.Client, id int64, action string) vmm.Event {
	h.t.Helper()
	rid := fmt.Sprintf("%s-%d", action, time.Now().UnixNano())
	op, err := act(c, id, action, rid)
	must(h.t, err)
	if a := op.Data.Attributes; a.RequestID != rid || a.Status != vmm.OperationPending {
		h.t.Fatalf("instance.action answer: %+v", op)
	}
	return s.opResult(h.t, rid, 60*time.Second)
}

func (h *lxdHarness) instanceState(name string) string {
	h.t.Helper()
	st, _, err := h.env.Client(h.t).GetInstanceState(name)
	if err != nil {
		return "absent"
	}
	return st.Status
}

// TestLXDInfrastructure walks the LXD side of the infrastructure surface on a real LXD daemon: add a
// server by trust password, list everything, run an instance through its life with the events on the
// stream, profiles, images and certificates, and the access rules.
func TestLXDInfrastructure(t *testing.T) {
	h := newLXDHarness(t)
	ctx := context.Background()
	aliceTok := h.user("alice", false)
	admin := h.client(h.user("admin", true))
	alice := h.client(aliceTok)
	bob := h.client(h.user("bob", false))
	lxd := h.env.Client(t)
	const lxdP = vmm.ProviderLXD

	// server.verify with a wrong password: a clear error, nothing trusted.
	_, err := alice.VerifyServer(ctx, vmm.ServerVerifyRequest(h.serverBody("not-the-password")))
	wantErr(t, err, 403, "refused the trust password")
	_, err = alice.AddServer(ctx, h.serverBody("not-the-password"))
	wantErr(t, err, 403, "refused the trust password")
	trusted := func() bool {
		certs, err := lxd.GetCertificates()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			if c.Fingerprint == h.s.infra.Fingerprint() {
				return true
			}
		}
		return false
	}
	// server.verify with the right one: the server's facts, and still nothing trusted.
	v, err := alice.VerifyServer(ctx, vmm.ServerVerifyRequest(h.serverBody(h.env.Password)))
	must(t, err)
	if a := v.Data.Attributes; a.ServerState != "online" || len(a.ServerCertificateFingerprint) != 64 {
		t.Fatalf("server.verify: %+v", v)
	}
	if trusted() {
		t.Fatal("server.verify left deskhub's certificate trusted")
	}

	// Malformed input is refused before LXD is called.
	for _, bad := range []struct {
		body  vmm.ServerAddRequest
		field string
	}{
		{vmm.ServerAddRequest{ServerHost: "https://127.0.0.1", ServerPort: 8443, ServerProtocol: "lxd", ServerPassword: "x"}, "server_host"},
		{vmm.ServerAddRequest{ServerHost: "127.0.0.1", ServerPort: 0, ServerProtocol: "lxd", ServerPassword: "x"}, "server_port"},
		{vmm.ServerAddRequest{ServerHost: "127.0.0.1", ServerPort: 8443, ServerProtocol: "docker", ServerPassword: "x"}, "server_protocol"},
	} {
		_, err := alice.AddServer(ctx, bad.body)
		wantErr(t, err, 400, bad.field)
	}
	// A port that is not a number: raw, as the SDK's FlexInt cannot carry a non-numeric string.
	h.call("POST", "/api/v1/server.add", aliceTok, `{"server_host": "127.0.0.1", "server_port": "https", "server_protocol": "lxd", "server_password": "x"}`).
		wantErr(t, 400, "server_port")
	// Only administrators may add a server by its unix socket.
	_, err = alice.AddServer(ctx, vmm.ServerAddRequest{ServerProtocol: "lxd", ServerPath: h.env.Socket})
	wantErr(t, err, 403, "administrators")

	// disable_server_add is honoured.
	h.s.cfg.Features.DisableServerAdd = true
	_, err = alice.AddServer(ctx, h.serverBody(h.env.Password))
	wantErr(t, err, 403, "disabled")
	h.s.cfg.Features.DisableServerAdd = false

	sid := h.addServer(alice)
	if !trusted() {
		t.Fatal("server.add did not make LXD trust deskhub's certificate")
	}
	_, err = alice.AddServer(ctx, h.serverBody(h.env.Password))
	wantErr(t, err, 409, "added already")

	// Lists: alice and the admin see the server, bob does not.
	for _, c := range []struct {
		who string
		c   *client.Client
		n   int
	}{{"alice", alice, 1}, {"admin", admin, 1}, {"bob", bob, 0}} {
		l, err := c.c.ListServers(ctx, lxdP, 0)
		must(t, err)
		if len(l.Data) != c.n {
			t.Fatalf("server.list of %s sees %d servers, want %d: %+v", c.who, len(l.Data), c.n, l)
		}
	}
	g, err := alice.GetServer(ctx, lxdP, sid)
	must(t, err)
	a := g.Data.Attributes
	if a.ServerOwner != "alice" || a.ServerVersion == "" || a.ServerCPU < 1 || a.ServerMemory <= 0 ||
		a.ServerKernel == "" || !slices.Contains(a.ServerInstanceTypes, vmm.InstanceTypeContainer) || a.Provider != lxdP {
		t.Fatalf("server.get: %+v", g)
	}
	if len(g.Included) == 0 || g.Included[0].Type != vmm.TypePool {
		t.Fatalf("server.get has no pools included: %+v", g)
	}
	_, err = bob.GetServer(ctx, lxdP, sid)
	wantErr(t, err, 404, "no server")
	_, err = alice.GetServer(ctx, lxdP, 999)
	wantErr(t, err, 404, "no server")

	// Resource lists.
	images, err := alice.ListImages(ctx, lxdP, sid)
	must(t, err)
	if !slices.ContainsFunc(images.Data, func(r jsonapi.Resource[vmm.ImageAttributes]) bool {
		return r.Attributes.ImageFingerprint == h.env.ImageFingerprint && slices.Contains(r.Attributes.ImageAliases, h.env.ImageAlias)
	}) {
		t.Fatalf("image.list lacks the test image: %+v", images)
	}
	imageServers, err := alice.ListImageServers(ctx, lxdP, sid)
	must(t, err)
	if len(imageServers.Data) == 0 || imageServers.Data[0].Type != vmm.TypeImage ||
		imageServers.Data[0].Attributes.Provider != vmm.ProviderInternal || imageServers.Data[0].Attributes.ImageServerProtocol != "simplestreams" {
		t.Fatalf("image.serverList does not start with deskhub's own image server: %+v", imageServers)
	}
	profiles, err := alice.ListProfiles(ctx, lxdP, sid)
	must(t, err)
	if len(profiles.Data) == 0 || profiles.Data[0].Attributes.ProfileName == "" ||
		!slices.ContainsFunc(profiles.Data, func(r jsonapi.Resource[vmm.ProfileAttributes]) bool { return r.Attributes.ProfileName == "default" }) {
		t.Fatalf("profile.list: %+v", profiles)
	}
	pools, err := alice.ListPools(ctx, lxdP, sid)
	must(t, err)
	if len(pools.Data) == 0 || pools.Data[0].Attributes.PoolDriver == "" || pools.Data[0].Attributes.PoolSpaceTotal <= 0 {
		t.Fatalf("pool.list: %+v", pools)
	}
	_, err = alice.ListNetworks(ctx, lxdP, sid)
	must(t, err)
	_, err = alice.ListVolumes(ctx, lxdP, sid)
	must(t, err)
	certs, err := alice.ListCertificates(ctx, lxdP, sid)
	must(t, err)
	if !slices.ContainsFunc(certs.Data, func(r jsonapi.Resource[vmm.CertificateAttributes]) bool {
		return r.Attributes.CertificateFingerprint == h.s.infra.Fingerprint() && r.Attributes.CertificateDeskhub
	}) {
		t.Fatalf("certificate.list does not mark deskhub's certificate: %+v", certs)
	}
	_, err = bob.ListPools(ctx, lxdP, sid)
	wantErr(t, err, 404, "no server")

	// The stream: alice's and bob's.
	as := h.openStream(alice)
	bs := h.openStream(bob)

	// instance.add: answered at once, created and started in the background, outcome on the stream.
	addReq := func(name, alias string) vmm.InstanceAddRequest {
		return vmm.InstanceAddRequest{ServerID: vmm.FlexInt(sid), InstanceName: name, ImageAlias: alias, Provider: lxdP}
	}
	_, err = alice.AddInstance(ctx, addReq("1bad", h.env.ImageAlias))
	wantErr(t, err, 400, "instance_name")
	_, err = alice.AddInstance(ctx, addReq("dh-one", "no-such-image"))
	wantErr(t, err, 400, "no image alias")
	if !slices.Contains(a.ServerInstanceTypes, vmm.InstanceTypeVirtualMachine) {
		vm := addReq("dh-vm", h.env.ImageAlias)
		vm.InstanceType = vmm.InstanceTypeVirtualMachine
		_, err = alice.AddInstance(ctx, vm)
		wantErr(t, err, 400, "cannot run instances of type")
	}
	_, err = bob.AddInstance(ctx, addReq("dh-one", h.env.ImageAlias))
	wantErr(t, err, 404, "no server")
	one := addReq("dh-one", h.env.ImageAlias)
	one.RequestID = "add-1"
	add, err := alice.AddInstance(ctx, one)
	must(t, err)
	if add.Data.Type != vmm.TypeOperation || add.Data.Attributes.Status != vmm.OperationPending || add.Data.Attributes.RequestID != "add-1" {
		t.Fatalf("instance.add answer: %+v", add)
	}
	res := as.opResult(t, "add-1", 60*time.Second)
	if res.Status != vmm.OperationSuccess {
		t.Fatalf("instance.add failed: %s", evStr(res))
	}
	as.lifecycle(t, "dh-one", "created")
	as.lifecycle(t, "dh-one", "started")
	h.env.CheckNoNIC(t, "dh-one")
	if st := h.instanceState("dh-one"); st != "Running" {
		t.Fatalf("instance after instance.add: %s", st)
	}
	_, err = alice.AddInstance(ctx, addReq("dh-one", h.env.ImageAlias))
	wantErr(t, err, 409, "already has an instance")

	il, err := alice.ListInstances(ctx, vmm.InstanceListRequest{Provider: lxdP})
	must(t, err)
	if len(il.Data) == 0 || il.Data[0].Attributes.InstanceName != "dh-one" || il.Data[0].Attributes.InstanceStatus != "running" ||
		il.Data[0].Attributes.InstanceOwner != "alice" {
		t.Fatalf("instance.list: %+v", il)
	}
	iid := il.Data[0].Attributes.InstanceID
	ig, err := alice.GetInstance(ctx, vmm.InstanceGetRequest{Provider: lxdP, ServerID: vmm.FlexInt(sid), InstanceName: "dh-one"})
	must(t, err)
	if ig.Data.Attributes.InstanceID != iid {
		t.Fatalf("instance.get: %+v", ig)
	}
	if r, err := bob.ListInstances(ctx, vmm.InstanceListRequest{Provider: lxdP}); err != nil || len(r.Data) != 0 {
		t.Fatalf("bob sees alice's instances: %+v %v", r, err)
	}
	_, err = bob.GetInstance(ctx, vmm.InstanceGetRequest{Provider: lxdP, InstanceName: "dh-one"})
	wantErr(t, err, 404, "no instance")
	_, err = act(bob, iid, "stop", "")
	wantErr(t, err, 404, "no instance")
	_, err = act(alice, 98765, "stop", "")
	wantErr(t, err, 404, "no instance")
	_, err = act(alice, iid, "explode", "")
	wantErr(t, err, 400, "instance_status")

	// Its life, each step's outcome and LXD's lifecycle event on the stream.
	for _, step := range []struct{ action, state, event string }{
		{"freeze", "Frozen", "paused"}, {"unfreeze", "Running", "resumed"}, {"restart-force", "Running", "restarted"},
		{"stop-force", "Stopped", "stopped"}, {"start", "Running", "started"}, {"stop", "Stopped", "shutdown"},
	} {
		if res := h.action(as, alice, iid, step.action); res.Status != vmm.OperationSuccess {
			t.Fatalf("%s: %s", step.action, evStr(res))
		}
		if st := h.instanceState("dh-one"); st != step.state {
			t.Fatalf("after %s the instance is %s, want %s", step.action, st, step.state)
		}
		as.lifecycle(t, "dh-one", step.event)
	}
	// An action LXD refuses ends in failure with LXD's words.
	if res := h.action(as, alice, iid, "unfreeze"); res.Status != vmm.OperationFailure || res.Error == "" {
		t.Fatalf("unfreeze of a stopped instance: %s", evStr(res))
	}
	// An action asked while LXD still runs another on the instance waits for it to end, rather than
	// failing with LXD's "Instance is busy running a stop operation": LXD shows a stopped instance a
	// moment before its stop operation ends (seen in CI: a start 0.6 s too early failed). A clean stop is
	// asked of LXD directly; once the instance shows Stopped, while that stop still runs, deskhub is
	// asked to start it. Tried until the two overlap (the stop may end before the start is asked).
	overlapped := false
	for try := 0; try < 5 && !overlapped; try++ {
		if res := h.action(as, alice, iid, "start"); res.Status != vmm.OperationSuccess {
			t.Fatalf("start: %s", evStr(res))
		}
		sop, err := lxd.UpdateInstanceState("dh-one", api.InstanceStatePut{Action: "stop", Timeout: 30}, "")
		must(t, err)
		for deadline := time.Now().Add(30 * time.Second); h.instanceState("dh-one") != "Stopped"; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("LXD's stop did not stop the instance within 30 s")
			}
		}
		o, _, err := lxd.GetOperation(sop.Get().ID)
		overlapped = err == nil && !o.StatusCode.IsFinal()
		res := h.action(as, alice, iid, "start")
		if err := sop.Wait(); err != nil {
			t.Fatalf("LXD's stop: %v", err)
		}
		if res.Status != vmm.OperationSuccess {
			t.Fatalf("start asked while LXD's stop ran (overlap %v): %s", overlapped, evStr(res))
		}
		if st := h.instanceState("dh-one"); st != "Running" {
			t.Fatalf("after a stop and then a start, the instance is %s", st)
		}
		t.Logf("try %d: start asked after the instance showed Stopped; LXD's stop still running: %v", try, overlapped)
	}
	if !overlapped {
		t.Error("in 5 tries, LXD's stop never still ran once the instance showed Stopped: the case was not tried")
	}
	if res := h.action(as, alice, iid, "stop-force"); res.Status != vmm.OperationSuccess {
		t.Fatalf("stop-force: %s", evStr(res))
	}
	if bs.has(func(e vmm.Event) bool { return e.Type == "operation" || e.Type == "instance" }) {
		t.Fatal("bob's stream got events about alice's instance")
	}

	// Profiles: invalid YAML changes nothing; a valid body updates and renames.
	_, err = alice.ListProfiles(ctx, lxdP, sid)
	must(t, err)
	if _, _, err := lxd.GetProfile("dh-prof"); err == nil {
		t.Fatal("profile exists already")
	}
	if err := lxd.CreateProfile(api.ProfilesPost{Name: "dh-prof", ProfilePut: api.ProfilePut{Description: "before",
		Config: map[string]string{"limits.cpu": "1"}}}); err != nil {
		t.Fatal(err)
	}
	upd := func(body, rename string) (jsonapi.One[vmm.ProfileAttributes], error) {
		return alice.UpdateProfile(ctx, vmm.ProfileUpdateRequest{Provider: lxdP, ServerID: vmm.FlexInt(sid),
			ProfileName: "dh-prof", ProfileBody: body, ProfileRename: rename})
	}
	for _, bad := range []string{"config: [unclosed", "config:\n  limits.cpu: 2\nbogus: 1\n", "devices:\n  d1:\n    path: /x\n", ""} {
		_, err := upd(bad, "")
		wantErr(t, err, 400, "profile_body")
	}
	_, err = upd("description: after\nconfig:\n  limits.cpu: \"2\"\n", "dh-prof")
	must(t, err)
	p, _, err := lxd.GetProfile("dh-prof")
	if err != nil || p.Description != "after" || p.Config["limits.cpu"] != "2" {
		t.Fatalf("profile after update: %+v %v", p, err)
	}
	_, err = upd("description: bad\nconfig:\n  limits.cpu: lots\n", "")
	wantErr(t, err, 400, "refused")
	if p, _, _ := lxd.GetProfile("dh-prof"); p.Description != "after" {
		t.Fatalf("a refused update changed the profile: %+v", p)
	}
	r, err := upd(`{"description": "renamed", "config": {}}`, "dh-prof2")
	must(t, err)
	if r.Data.Attributes.ProfileName != "dh-prof2" || r.Data.Attributes.ProfileDescription != "renamed" {
		t.Fatalf("profile.update with rename: %+v", r)
	}
	delProfile := func(name string) error {
		_, err := alice.DeleteProfile(ctx, vmm.ProfileDeleteRequest{Provider: lxdP, ServerID: vmm.FlexInt(sid), ProfileName: name})
		return err
	}
	must(t, delProfile("dh-prof2"))
	wantErr(t, delProfile("dh-prof2"), 404, "no profile")
	wantErr(t, delProfile("default"), 400, "default")

	// Images.
	fp := h.env.NewImage(t, "dh-delete-me")
	delImage := func(c *client.Client, fp string) error {
		_, err := c.DeleteImage(ctx, vmm.ImageDeleteRequest{Provider: lxdP, ServerID: vmm.FlexInt(sid), ImageFingerprint: fp})
		return err
	}
	wantErr(t, delImage(alice, "zz"), 400, "image_fingerprint")
	wantErr(t, delImage(alice, strings.Repeat("ab", 32)), 404, "no image")
	wantErr(t, delImage(bob, fp), 404, "no server")
	must(t, delImage(alice, fp))
	if _, _, err := lxd.GetImage(fp); err == nil {
		t.Fatal("image.delete left the image")
	}

	// Delete the instance.
	if res := h.action(as, alice, iid, "delete"); res.Status != vmm.OperationSuccess {
		t.Fatalf("delete: %s", evStr(res))
	}
	as.lifecycle(t, "dh-one", "deleted")
	if st := h.instanceState("dh-one"); st != "absent" {
		t.Fatalf("instance after delete: %s", st)
	}

	// Certificates: deskhub's own needs force; another is revoked.
	revoke := func(c *client.Client, fp string, force bool) error {
		_, err := c.RevokeCertificate(ctx, vmm.CertificateRevokeRequest{Provider: lxdP, ServerID: vmm.FlexInt(sid),
			CertificateFingerprint: fp, CertificateForce: force})
		return err
	}
	wantErr(t, revoke(alice, h.s.infra.Fingerprint(), false), 409, "deskhub's own certificate")
	other := addTestCertificate(t, h.env)
	must(t, revoke(alice, other, false))
	wantErr(t, revoke(alice, other, false), 404, "no certificate")
	if !trusted() {
		t.Fatal("deskhub's certificate was revoked")
	}
	if r, err := h.client("").Ready(ctx); err != nil || r.Status != "ok" || len(r.Servers) == 0 || r.Servers[0].ServerState != "online" {
		t.Fatalf("health.ready: %+v %v", r, err)
	}
	// With force, deskhub's own certificate goes, and the server is reported untrusted.
	must(t, revoke(admin, h.s.infra.Fingerprint(), true))
	if trusted() {
		t.Fatal("forced revoke left deskhub's certificate")
	}
}

// addTestCertificate puts a fresh client certificate in the LXD trust store and returns its fingerprint.
func addTestCertificate(t *testing.T, env *lxdtest.Env) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	err = env.Client(t).CreateCertificate(api.CertificatesPost{CertificatePut: api.CertificatePut{Name: env.CertPrefix + "-other",
		Type: "client", Certificate: base64.StdEncoding.EncodeToString(der)}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// instanceIDs maps instance names to ids from instance.list.
func (h *lxdHarness) instanceIDs(c *client.Client) map[string]int64 {
	h.t.Helper()
	l, err := c.ListInstances(context.Background(), vmm.InstanceListRequest{Provider: vmm.ProviderLXD})
	must(h.t, err)
	out := map[string]int64{}
	for _, d := range l.Data {
		out[d.Attributes.InstanceName] = d.Attributes.InstanceID
	}
	return out
}

// TestLXDOperationSurvivesRestart stops deskhub while an instance operation is under way in LXD; the
// next deskhub on the same store follows it to its end and reports the outcome to the user's next
// stream.
func TestLXDOperationSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sameDir := func(c *config.Config, _ *Options) { c.DataDir = dir }
	h1 := newLXDHarness(t, sameDir)
	aliceTok := h1.user("alice", false)
	alice := h1.client(aliceTok)
	h1.addServer(alice)
	h1.env.CreateInstance(t, "dh-restart", true)
	id := h1.instanceIDs(alice)["dh-restart"]
	if id == 0 {
		t.Fatal("instance.list does not show the instance on alice's server")
	}
	// A clean stop takes busybox's init a few seconds: deskhub stops meanwhile.
	r, err := act(alice, id, "stop", "across-restart")
	must(t, err)
	opID := r.Data.ID
	st := h1.s.store
	waitWithin(t, 10*time.Second, "LXD takes the operation", func() bool {
		op, err := st.GetOperation(context.Background(), opID)
		return err == nil && op.LXDOperation != ""
	})
	h1.s.closeInfra()
	if op, _ := st.GetOperation(context.Background(), opID); op.Status != "running" || !op.FinishedAt.IsZero() {
		t.Fatalf("operation after deskhub stopped: %+v", op)
	}

	h2 := newLXDHarness(t, sameDir)
	waitWithin(t, 60*time.Second, "the resumed operation ends", func() bool {
		op, err := h2.s.store.GetOperation(context.Background(), opID)
		return err == nil && !op.FinishedAt.IsZero()
	})
	if op, _ := h2.s.store.GetOperation(context.Background(), opID); op.Status != "success" || !op.ReportedAt.IsZero() {
		t.Fatalf("resumed operation: %+v", op)
	}
	if s := h2.instanceState("dh-restart"); s != "Stopped" {
		t.Fatalf("instance is %s", s)
	}
	// Nobody was listening when it ended: alice's next stream gets the outcome, once.
	// (The same token on the second server: it is on the same store.)
	alice2 := h2.client(aliceTok)
	s := h2.openStream(alice2)
	if res := s.opResult(t, "across-restart", 10*time.Second); res.Status != vmm.OperationSuccess {
		t.Fatalf("replayed outcome: %s", evStr(res))
	}
	if op, _ := h2.s.store.GetOperation(context.Background(), opID); op.ReportedAt.IsZero() {
		t.Fatal("the replayed outcome is not marked reported")
	}
	s2 := h2.openStream(alice2)
	time.Sleep(300 * time.Millisecond)
	if s2.has(func(e vmm.Event) bool { return e.Type == "operation" }) {
		t.Fatal("an outcome was replayed twice")
	}
}

// TestLXDDaemonRestartMidBatch kills the LXD daemon in the middle of a batch of 20 instance actions and
// brings it back: every action ends, in success or with a clear error on the stream, nothing stays
// pending, and health.ready reports the server offline meanwhile and online after.
func TestLXDDaemonRestartMidBatch(t *testing.T) {
	h := newLXDHarness(t, func(c *config.Config, _ *Options) { c.Infra.OpTimeout = 60 * time.Second })
	alice := h.client(h.user("alice", false))
	anon := h.client("")
	h.addServer(alice)
	names := []string{"dh-f0", "dh-f1", "dh-f2", "dh-f3"}
	for _, n := range names {
		h.env.CreateInstance(t, n, true)
	}
	ids := h.instanceIDs(alice)
	s := h.openStream(alice)
	serverState := func() string {
		r, err := anon.Ready(context.Background())
		must(t, err)
		if len(r.Servers) == 0 {
			return ""
		}
		return r.Servers[0].ServerState
	}
	if st := serverState(); st != "online" {
		t.Fatalf("server state before: %s", st)
	}

	actions := []string{"freeze", "unfreeze", "restart-force", "stop-force", "start"}
	var rids []string
	for i := range 20 {
		name := names[i%len(names)]
		rid := fmt.Sprintf("batch-%02d", i)
		_, err := act(alice, ids[name], actions[(i/len(names))%len(actions)], rid)
		must(t, err)
		rids = append(rids, rid)
		if i == 9 {
			h.env.KillDaemon(t)
		}
	}
	waitWithin(t, 10*time.Second, "health.ready reports the server offline", func() bool { return serverState() == "offline" })
	s.wait(t, 10*time.Second, "server offline event", func(e vmm.Event) bool { return e.Type == "server" && e.Status == "offline" })
	time.Sleep(time.Second)
	h.env.StartDaemon(t)

	var ok, failed int
	for _, rid := range rids {
		res := s.opResult(t, rid, 90*time.Second)
		switch res.Status {
		case vmm.OperationSuccess:
			ok++
		case vmm.OperationFailure:
			failed++
			t.Logf("%s: %s", rid, res.Error)
			if len(res.Error) < 10 {
				t.Errorf("%s failed without a clear error: %s", rid, evStr(res))
			}
		}
	}
	t.Logf("after the daemon restart: %d actions succeeded, %d failed with an error", ok, failed)
	if ok == 0 {
		t.Error("no action succeeded")
	}
	waitWithin(t, 30*time.Second, "health.ready reports the server online again", func() bool { return serverState() == "online" })
	// An operation's outcome goes to the stream just before it is stored (finishOp records whether a
	// stream got it), so the last one may reach the store a moment after the test read its event.
	var ops []store.Operation
	allEnded := func() bool {
		var err error
		ops, err = h.s.store.ListOperations(context.Background(), store.OperationFilter{States: []string{"pending", "running"}})
		return err == nil && len(ops) == 0
	}
	deadline := time.Now().Add(5 * time.Second)
	for !allEnded() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(ops) != 0 {
		t.Fatalf("operations still unfinished: %+v", ops)
	}
	// Work goes on after the restart.
	if res := h.action(s, alice, ids["dh-f0"], "stop-force"); res.Status != vmm.OperationSuccess && !strings.Contains(res.Error, "already stopped") {
		t.Fatalf("stop-force after the restart: %s", evStr(res))
	}
}

// TestLXDServerAddOtherWays adds the server by a trust token and, as an administrator, by its unix
// socket; and checks that a user sees (and may act on) an instance deskhub created for them on a
// server that is not theirs, and nothing else there.
func TestLXDServerAddOtherWays(t *testing.T) {
	h := newLXDHarness(t)
	ctx := context.Background()
	admin := h.client(h.user("admin", true))
	bob := h.client(h.user("bob", false))
	tok := h.env.TrustToken(t)
	// A token made by another server is refused before it is spent.
	var forged api.CertificateAddToken
	raw, _ := base64.StdEncoding.DecodeString(tok)
	must(t, json.Unmarshal(raw, &forged))
	forged.Fingerprint = strings.Repeat("0", 64)
	_, err := admin.AddServer(ctx, h.serverBody(forged.String()))
	wantErr(t, err, 400, "another server")
	_, err = admin.VerifyServer(ctx, vmm.ServerVerifyRequest(h.serverBody(tok)))
	must(t, err)
	h.addServer(admin) // (trust password) — then the token on a second install below
	h2 := newLXDHarness(t)
	admin2 := h2.client(h2.user("admin", true))
	r, err := admin2.AddServer(ctx, h2.serverBody(tok))
	must(t, err)
	if r.Data.Attributes.ServerState != "online" {
		t.Fatalf("server.add by token: %+v", r)
	}
	_, err = admin2.AddServer(ctx, vmm.ServerAddRequest{ServerProtocol: "lxd", ServerPath: "/nonexistent/unix.socket",
		ServerProject: h.env.Project})
	wantErr(t, err, 502, "cannot reach")
	u, err := admin2.AddServer(ctx, vmm.ServerAddRequest{ServerProtocol: "lxd", ServerPath: h.env.Socket, ServerProject: h.env.Project})
	must(t, err)
	if u.Data.Attributes.ServerPath != h.env.Socket || u.Data.Attributes.ServerState != "online" {
		t.Fatalf("server.add by socket: %+v", u)
	}

	// An instance deskhub created for bob on the admin's server: bob sees it alone, not the server.
	h.env.CreateInstance(t, "dh-bobs", false)
	h.env.CreateInstance(t, "dh-admins", false)
	ids := h.instanceIDs(admin)
	in, err := h.s.store.GetInstance(ctx, ids["dh-bobs"])
	if err != nil {
		t.Fatal(err)
	}
	bobUser, _ := h.s.store.GetUserByLogin(ctx, "bob")
	in.OwnerID = bobUser.ID
	if err := h.s.store.UpdateInstance(ctx, &in); err != nil {
		t.Fatal(err)
	}
	bl, err := bob.ListInstances(ctx, vmm.InstanceListRequest{Provider: vmm.ProviderLXD})
	must(t, err)
	if len(bl.Data) != 1 || bl.Data[0].Attributes.InstanceName != "dh-bobs" || bl.Data[0].Attributes.InstanceOwner != "bob" {
		t.Fatalf("bob's instance.list: %+v", bl)
	}
	_, err = bob.GetInstance(ctx, vmm.InstanceGetRequest{Provider: vmm.ProviderLXD, InstanceName: "dh-admins"})
	wantErr(t, err, 404, "no instance")
	_, err = bob.ListServers(ctx, vmm.ProviderLXD, 0)
	must(t, err)
	_, err = bob.GetServer(ctx, vmm.ProviderLXD, in.ServerID)
	wantErr(t, err, 404, "no server")
	s := h.openStream(bob)
	if res := h.action(s, bob, ids["dh-bobs"], "start"); res.Status != vmm.OperationSuccess {
		t.Fatalf("bob starting his instance: %s", evStr(res))
	}
	_, err = act(bob, ids["dh-admins"], "start", "")
	wantErr(t, err, 404, "no instance")

	// server.delete (extension): bob cannot; the token install's two records of one server keep the
	// trust until the last goes; the first install's record withdraws its certificate at once.
	trusts := func(fp string) bool {
		certs, err := h.env.Client(t).GetCertificates()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			if c.Fingerprint == fp {
				return true
			}
		}
		return false
	}
	del := func(c *client.Client, id int64) (jsonapi.Meta, error) {
		return c.DeleteServer(ctx, vmm.ServerDeleteRequest{Provider: vmm.ProviderLXD, ServerID: vmm.FlexInt(id)})
	}
	_, err = del(bob, in.ServerID)
	wantErr(t, err, 404, "no server")
	d, err := del(admin2, mustAtoi(t, r.Data.ID))
	must(t, err)
	if d.Meta["trust_removed"] != false || !trusts(h2.s.infra.Fingerprint()) {
		t.Fatalf("deleting one of two records of a server: %+v", d)
	}
	d, err = del(admin2, mustAtoi(t, u.Data.ID))
	must(t, err)
	if d.Meta["trust_removed"] != true || trusts(h2.s.infra.Fingerprint()) {
		t.Fatalf("deleting the last record of a server: %+v", d)
	}
	d, err = del(admin, in.ServerID)
	must(t, err)
	if d.Meta["trust_removed"] != true || trusts(h.s.infra.Fingerprint()) {
		t.Fatalf("deleting the first install's server: %+v", d)
	}
	if l, err := admin.ListServers(ctx, vmm.ProviderLXD, 0); err != nil || len(l.Data) != 0 {
		t.Fatalf("server.list after server.delete: %+v %v", l, err)
	}
	if r, err := h.client("").Ready(ctx); err != nil || r.Servers != nil {
		t.Fatalf("health.ready still follows a deleted server: %+v %v", r, err)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// TestLXDDaemonStaysDown: with LXD stopped for longer than the operation timeout, an accepted action
// ends in a clear failure instead of staying pending.
func TestLXDDaemonStaysDown(t *testing.T) {
	h := newLXDHarness(t, func(c *config.Config, _ *Options) { c.Infra.OpTimeout = 3 * time.Second })
	alice := h.client(h.user("alice", false))
	h.addServer(alice)
	h.env.CreateInstance(t, "dh-down", false)
	id := h.instanceIDs(alice)["dh-down"]
	s := h.openStream(alice)
	h.env.KillDaemon(t)
	defer h.env.StartDaemon(t)
	s.wait(t, 10*time.Second, "server offline event", func(e vmm.Event) bool { return e.Type == "server" && e.Status == "offline" })
	start := time.Now()
	res := h.action(s, alice, id, "start")
	if res.Status != vmm.OperationFailure || !strings.Contains(res.Error, "not reachable") && !strings.Contains(res.Error, "did not answer") {
		t.Fatalf("action while LXD is down: %s", evStr(res))
	}
	t.Logf("failed after %s: %s", time.Since(start).Round(100*time.Millisecond), res.Error)
}
