package server

import (
	"bufio"
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
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/store"
)

// lxdHarness is a harness whose server follows LXD servers, served on loopback too (for event streams).
type lxdHarness struct {
	*harness
	env *lxdtest.Env
	url string
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
	ts := httptest.NewServer(h.s.Handler())
	t.Cleanup(func() {
		h.s.closeInfra()
		ts.Close()
	})
	return &lxdHarness{harness: h, env: env, url: ts.URL}
}

// addServer adds the test LXD server by its trust password and returns its id.
func (h *lxdHarness) addServer(tok string) int {
	h.t.Helper()
	r := h.call("POST", "/api/v1/server.add", tok, h.serverBody(h.env.Password)).want(h.t, 200)
	id, err := strconv.Atoi(r.str("data", "id"))
	if err != nil {
		h.t.Fatalf("server.add: %s", r.Raw)
	}
	return id
}

func (h *lxdHarness) serverBody(password string) map[string]any {
	return map[string]any{"server_host": h.env.Host, "server_port": h.env.Port, "server_protocol": "lxd",
		"server_password": password, "server_project": h.env.Project}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Name string
	Data map[string]any
}

func (e sseEvent) str(k string) string { s, _ := e.Data[k].(string); return s }

// eventStream is an open event.subscribe stream, read in the background.
type eventStream struct {
	id     string
	mu     sync.Mutex
	seen   []sseEvent
	notify chan struct{}
	done   chan struct{}
}

// openStream opens a stream with an id from config.get and binds it to tok with event.auth.
func (h *lxdHarness) openStream(tok string) *eventStream {
	h.t.Helper()
	id := h.call("POST", "/api/v1/config.get", "", nil).want(h.t, 200).str("data", "attributes", "stream")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/api/v1/event.subscribe?stream="+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		h.t.Fatalf("event.subscribe: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &eventStream{id: id, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data)
			case line == "" && ev.Name != "":
				s.mu.Lock()
				s.seen = append(s.seen, ev)
				s.mu.Unlock()
				select {
				case s.notify <- struct{}{}:
				default:
				}
				ev = sseEvent{}
			}
		}
	}()
	h.t.Cleanup(func() { cancel(); <-s.done })
	s.wait(h.t, 5*time.Second, "open", func(e sseEvent) bool { return e.Name == "open" })
	h.call("POST", "/api/v1/event.auth", tok, map[string]any{"stream": id}).want(h.t, 200)
	s.wait(h.t, 5*time.Second, "bound", func(e sseEvent) bool { return e.Name == "bound" })
	return s
}

// wait returns the first event (seen so far or arriving within timeout) that match accepts.
func (s *eventStream) wait(t testing.TB, timeout time.Duration, what string, match func(sseEvent) bool) sseEvent {
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
			t.Fatalf("stream ended while waiting for %s (%d events seen)", what, n)
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("no %s event within %s; seen: %v", what, timeout, s.seen)
		}
	}
}

// has tells whether an event that match accepts has arrived.
func (s *eventStream) has(match func(sseEvent) bool) bool {
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
func (s *eventStream) opResult(t testing.TB, requestID string, timeout time.Duration) sseEvent {
	t.Helper()
	return s.wait(t, timeout, "operation "+requestID, func(e sseEvent) bool {
		return e.Name == "operation" && e.str("request_id") == requestID && (e.str("status") == "success" || e.str("status") == "failure")
	})
}

// lifecycle waits for an instance lifecycle event.
func (s *eventStream) lifecycle(t testing.TB, name, action string) sseEvent {
	t.Helper()
	return s.wait(t, 30*time.Second, "instance "+name+" "+action, func(e sseEvent) bool {
		d, _ := e.Data["data"].(map[string]any)
		return e.Name == "instance" && e.str("status") == action && d["instance_name"] == name
	})
}

// action runs instance.action and waits for its outcome on the stream.
func (h *lxdHarness) action(s *eventStream, tok string, id float64, action string) sseEvent {
	h.t.Helper()
	rid := fmt.Sprintf("%s-%d", action, time.Now().UnixNano())
	r := h.call("POST", "/api/v1/instance.action", tok, map[string]any{"instance_id": id, "instance_status": action,
		"request_id": rid, "provider": "lxd"}).want(h.t, 200)
	if r.str("data", "attributes", "request_id") != rid || r.str("data", "attributes", "status") != "pending" {
		h.t.Fatalf("instance.action answer: %s", r.Raw)
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
	admin := h.user("admin", true)
	alice := h.user("alice", false)
	bob := h.user("bob", false)
	lxd := h.env.Client(t)

	// server.verify with a wrong password: a clear error, nothing trusted.
	h.call("POST", "/api/v1/server.verify", alice, h.serverBody("not-the-password")).wantErr(t, 403, "refused the trust password")
	h.call("POST", "/api/v1/server.add", alice, h.serverBody("not-the-password")).wantErr(t, 403, "refused the trust password")
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
	v := h.call("POST", "/api/v1/server.verify", alice, h.serverBody(h.env.Password)).want(t, 200)
	if v.str("data", "attributes", "server_state") != "online" || len(v.str("data", "attributes", "server_certificate_fingerprint")) != 64 {
		t.Fatalf("server.verify: %s", v.Raw)
	}
	if trusted() {
		t.Fatal("server.verify left deskhub's certificate trusted")
	}

	// Malformed input is refused before LXD is called.
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"server_host": "https://127.0.0.1", "server_port": 8443, "server_protocol": "lxd", "server_password": "x"}, "server_host"},
		{map[string]any{"server_host": "127.0.0.1", "server_port": 0, "server_protocol": "lxd", "server_password": "x"}, "server_port"},
		{map[string]any{"server_host": "127.0.0.1", "server_port": "https", "server_protocol": "lxd", "server_password": "x"}, "server_port"},
		{map[string]any{"server_host": "127.0.0.1", "server_port": 8443, "server_protocol": "docker", "server_password": "x"}, "server_protocol"},
	} {
		h.call("POST", "/api/v1/server.add", alice, bad.body).wantErr(t, 400, bad.field)
	}
	// Only administrators may add a server by its unix socket.
	h.call("POST", "/api/v1/server.add", alice, map[string]any{"server_host": "", "server_port": 0, "server_protocol": "lxd",
		"server_password": "", "server_path": h.env.Socket}).wantErr(t, 403, "administrators")

	// disable_server_add is honoured.
	h.s.cfg.Features.DisableServerAdd = true
	h.call("POST", "/api/v1/server.add", alice, h.serverBody(h.env.Password)).wantErr(t, 403, "disabled")
	h.s.cfg.Features.DisableServerAdd = false

	sid := h.addServer(alice)
	if !trusted() {
		t.Fatal("server.add did not make LXD trust deskhub's certificate")
	}
	h.call("POST", "/api/v1/server.add", alice, h.serverBody(h.env.Password)).wantErr(t, 409, "added already")

	// Lists: alice and the admin see the server, bob does not.
	for tok, n := range map[string]int{alice: 1, admin: 1, bob: 0} {
		r := h.call("POST", "/api/v1/server.list", tok, map[string]any{"provider": "lxd", "server_id": 0}).want(t, 200)
		if got := len(r.get("data").([]any)); got != n {
			t.Fatalf("server.list sees %d servers, want %d: %s", got, n, r.Raw)
		}
	}
	g := h.call("POST", "/api/v1/server.get", alice, map[string]any{"provider": "lxd", "server_id": sid}).want(t, 200)
	a := g.get("data", "attributes").(map[string]any)
	if a["server_owner"] != "alice" || a["server_version"] == "" || a["server_cpu"].(float64) < 1 || a["server_memory"].(float64) <= 0 ||
		a["server_kernel"] == "" || !strings.Contains(fmt.Sprint(a["server_instance_types"]), "container") || a["provider"] != "lxd" {
		t.Fatalf("server.get: %s", g.Raw)
	}
	if inc, _ := g.get("included").([]any); len(inc) == 0 || g.str("included", 0, "type") != "pool" {
		t.Fatalf("server.get has no pools included: %s", g.Raw)
	}
	h.call("POST", "/api/v1/server.get", bob, map[string]any{"provider": "lxd", "server_id": sid}).wantErr(t, 404, "no server")
	h.call("POST", "/api/v1/server.get", alice, map[string]any{"provider": "lxd", "server_id": 999}).wantErr(t, 404, "no server")

	// Resource lists.
	list := func(tok, call string) reply {
		return h.call("POST", "/api/v1/"+call, tok, map[string]any{"provider": "lxd", "server_id": sid}).want(t, 200)
	}
	if r := list(alice, "image.list"); !strings.Contains(r.Raw, h.env.ImageFingerprint) || !strings.Contains(r.Raw, `"`+h.env.ImageAlias+`"`) {
		t.Fatalf("image.list lacks the test image: %s", r.Raw)
	}
	if r := list(alice, "image.serverList"); !strings.Contains(r.Raw, h.env.ImageFingerprint) {
		t.Fatalf("image.serverList lacks the test image: %s", r.Raw)
	}
	if r := list(alice, "profile.list"); r.str("data", 0, "attributes", "profile_name") == "" || !strings.Contains(r.Raw, `"default"`) {
		t.Fatalf("profile.list: %s", r.Raw)
	}
	if r := list(alice, "pool.list"); !strings.Contains(r.Raw, `"pool_driver"`) || r.get("data", 0, "attributes", "pool_space_total").(float64) <= 0 {
		t.Fatalf("pool.list: %s", r.Raw)
	}
	list(alice, "network.list")
	list(alice, "volume.list")
	certs := list(alice, "certificate.list")
	own := false
	for _, c := range certs.get("data").([]any) {
		at := c.(map[string]any)["attributes"].(map[string]any)
		if at["certificate_fingerprint"] == h.s.infra.Fingerprint() && at["certificate_deskhub"] == true {
			own = true
		}
	}
	if !own {
		t.Fatalf("certificate.list does not mark deskhub's certificate: %s", certs.Raw)
	}
	h.call("POST", "/api/v1/pool.list", bob, map[string]any{"provider": "lxd", "server_id": sid}).wantErr(t, 404, "no server")

	// The stream: alice's and bob's.
	as := h.openStream(alice)
	bs := h.openStream(bob)

	// instance.add: answered at once, created and started in the background, outcome on the stream.
	h.call("POST", "/api/v1/instance.add", alice, map[string]any{"server_id": sid, "instance_name": "1bad", "image_alias": h.env.ImageAlias,
		"provider": "lxd"}).wantErr(t, 400, "instance_name")
	h.call("POST", "/api/v1/instance.add", alice, map[string]any{"server_id": sid, "instance_name": "dh-one", "image_alias": "no-such-image",
		"provider": "lxd"}).wantErr(t, 400, "no image alias")
	if !strings.Contains(fmt.Sprint(a["server_instance_types"]), "virtual-machine") {
		h.call("POST", "/api/v1/instance.add", alice, map[string]any{"server_id": sid, "instance_name": "dh-vm", "image_alias": h.env.ImageAlias,
			"instance_type": "virtual-machine", "provider": "lxd"}).wantErr(t, 400, "cannot run instances of type")
	}
	h.call("POST", "/api/v1/instance.add", bob, map[string]any{"server_id": sid, "instance_name": "dh-one", "image_alias": h.env.ImageAlias,
		"provider": "lxd"}).wantErr(t, 404, "no server")
	add := h.call("POST", "/api/v1/instance.add", alice, map[string]any{"server_id": sid, "instance_name": "dh-one",
		"image_alias": h.env.ImageAlias, "request_id": "add-1", "provider": "lxd"}).want(t, 200)
	if add.str("data", "type") != "operation" || add.str("data", "attributes", "status") != "pending" || add.str("data", "attributes", "request_id") != "add-1" {
		t.Fatalf("instance.add answer: %s", add.Raw)
	}
	res := as.opResult(t, "add-1", 60*time.Second)
	if res.str("status") != "success" {
		t.Fatalf("instance.add failed: %v", res.Data)
	}
	as.lifecycle(t, "dh-one", "created")
	as.lifecycle(t, "dh-one", "started")
	h.env.CheckNoNIC(t, "dh-one")
	if st := h.instanceState("dh-one"); st != "Running" {
		t.Fatalf("instance after instance.add: %s", st)
	}
	h.call("POST", "/api/v1/instance.add", alice, map[string]any{"server_id": sid, "instance_name": "dh-one",
		"image_alias": h.env.ImageAlias, "provider": "lxd"}).wantErr(t, 409, "already has an instance")

	il := h.call("POST", "/api/v1/instance.list", alice, map[string]any{"provider": "lxd"}).want(t, 200)
	if il.str("data", 0, "attributes", "instance_name") != "dh-one" || il.str("data", 0, "attributes", "instance_status") != "Running" ||
		il.str("data", 0, "attributes", "instance_owner") != "alice" {
		t.Fatalf("instance.list: %s", il.Raw)
	}
	iid := il.get("data", 0, "attributes", "instance_id").(float64)
	ig := h.call("POST", "/api/v1/instance.get", alice, map[string]any{"provider": "lxd", "server_id": sid, "instance_name": "dh-one"}).want(t, 200)
	if ig.get("data", "attributes", "instance_id").(float64) != iid {
		t.Fatalf("instance.get: %s", ig.Raw)
	}
	if r := h.call("POST", "/api/v1/instance.list", bob, map[string]any{"provider": "lxd"}).want(t, 200); len(r.get("data").([]any)) != 0 {
		t.Fatalf("bob sees alice's instances: %s", r.Raw)
	}
	h.call("POST", "/api/v1/instance.get", bob, map[string]any{"provider": "lxd", "instance_name": "dh-one"}).wantErr(t, 404, "no instance")
	h.call("POST", "/api/v1/instance.action", bob, map[string]any{"instance_id": iid, "instance_status": "stop", "provider": "lxd"}).wantErr(t, 404, "no instance")
	h.call("POST", "/api/v1/instance.action", alice, map[string]any{"instance_id": 98765, "instance_status": "stop", "provider": "lxd"}).wantErr(t, 404, "no instance")
	h.call("POST", "/api/v1/instance.action", alice, map[string]any{"instance_id": iid, "instance_status": "explode", "provider": "lxd"}).wantErr(t, 400, "instance_status")

	// Its life, each step's outcome and LXD's lifecycle event on the stream.
	for _, step := range []struct{ action, state, event string }{
		{"freeze", "Frozen", "paused"}, {"unfreeze", "Running", "resumed"}, {"restart-force", "Running", "restarted"},
		{"stop-force", "Stopped", "stopped"}, {"start", "Running", "started"}, {"stop", "Stopped", "shutdown"},
	} {
		if res := h.action(as, alice, iid, step.action); res.str("status") != "success" {
			t.Fatalf("%s: %v", step.action, res.Data)
		}
		if st := h.instanceState("dh-one"); st != step.state {
			t.Fatalf("after %s the instance is %s, want %s", step.action, st, step.state)
		}
		as.lifecycle(t, "dh-one", step.event)
	}
	// An action LXD refuses ends in failure with LXD's words.
	if res := h.action(as, alice, iid, "unfreeze"); res.str("status") != "failure" || res.str("error") == "" {
		t.Fatalf("unfreeze of a stopped instance: %v", res.Data)
	}
	if bs.has(func(e sseEvent) bool { return e.Name == "operation" || e.Name == "instance" }) {
		t.Fatal("bob's stream got events about alice's instance")
	}

	// Profiles: invalid YAML changes nothing; a valid body updates and renames.
	h.call("POST", "/api/v1/profile.list", alice, map[string]any{"provider": "lxd", "server_id": sid}).want(t, 200)
	if _, _, err := lxd.GetProfile("dh-prof"); err == nil {
		t.Fatal("profile exists already")
	}
	if err := lxd.CreateProfile(api.ProfilesPost{Name: "dh-prof", ProfilePut: api.ProfilePut{Description: "before",
		Config: map[string]string{"limits.cpu": "1"}}}); err != nil {
		t.Fatal(err)
	}
	upd := func(body, rename string) reply {
		return h.call("POST", "/api/v1/profile.update", alice, map[string]any{"provider": "lxd", "server_id": sid,
			"profile_name": "dh-prof", "profile_body": body, "profile_rename": rename})
	}
	for _, bad := range []string{"config: [unclosed", "config:\n  limits.cpu: 2\nbogus: 1\n", "devices:\n  d1:\n    path: /x\n", ""} {
		upd(bad, "").wantErr(t, 400, "profile_body")
	}
	upd("description: after\nconfig:\n  limits.cpu: \"2\"\n", "dh-prof").want(t, 200)
	p, _, err := lxd.GetProfile("dh-prof")
	if err != nil || p.Description != "after" || p.Config["limits.cpu"] != "2" {
		t.Fatalf("profile after update: %+v %v", p, err)
	}
	upd("description: bad\nconfig:\n  limits.cpu: lots\n", "").wantErr(t, 400, "refused")
	if p, _, _ := lxd.GetProfile("dh-prof"); p.Description != "after" {
		t.Fatalf("a refused update changed the profile: %+v", p)
	}
	r := upd(`{"description": "renamed", "config": {}}`, "dh-prof2").want(t, 200)
	if r.str("data", "attributes", "profile_name") != "dh-prof2" || r.str("data", "attributes", "profile_description") != "renamed" {
		t.Fatalf("profile.update with rename: %s", r.Raw)
	}
	h.call("POST", "/api/v1/profile.delete", alice, map[string]any{"provider": "lxd", "server_id": sid, "profile_name": "dh-prof2"}).want(t, 200)
	h.call("POST", "/api/v1/profile.delete", alice, map[string]any{"provider": "lxd", "server_id": sid, "profile_name": "dh-prof2"}).wantErr(t, 404, "no profile")
	h.call("POST", "/api/v1/profile.delete", alice, map[string]any{"provider": "lxd", "server_id": sid, "profile_name": "default"}).wantErr(t, 400, "default")

	// Images.
	fp := h.env.NewImage(t, "dh-delete-me")
	h.call("POST", "/api/v1/image.delete", alice, map[string]any{"provider": "lxd", "server_id": sid, "image_fingerprint": "zz"}).wantErr(t, 400, "image_fingerprint")
	h.call("POST", "/api/v1/image.delete", alice, map[string]any{"provider": "lxd", "server_id": sid, "image_fingerprint": strings.Repeat("ab", 32)}).wantErr(t, 404, "no image")
	h.call("POST", "/api/v1/image.delete", bob, map[string]any{"provider": "lxd", "server_id": sid, "image_fingerprint": fp}).wantErr(t, 404, "no server")
	h.call("POST", "/api/v1/image.delete", alice, map[string]any{"provider": "lxd", "server_id": sid, "image_fingerprint": fp}).want(t, 200)
	if _, _, err := lxd.GetImage(fp); err == nil {
		t.Fatal("image.delete left the image")
	}

	// Delete the instance.
	if res := h.action(as, alice, iid, "delete"); res.str("status") != "success" {
		t.Fatalf("delete: %v", res.Data)
	}
	as.lifecycle(t, "dh-one", "deleted")
	if st := h.instanceState("dh-one"); st != "absent" {
		t.Fatalf("instance after delete: %s", st)
	}

	// Certificates: deskhub's own needs force; another is revoked.
	h.call("POST", "/api/v1/certificate.revoke", alice, map[string]any{"provider": "lxd", "server_id": sid,
		"certificate_fingerprint": h.s.infra.Fingerprint()}).wantErr(t, 409, "deskhub's own certificate")
	other := addTestCertificate(t, h.env)
	h.call("POST", "/api/v1/certificate.revoke", alice, map[string]any{"provider": "lxd", "server_id": sid,
		"certificate_fingerprint": other}).want(t, 200)
	h.call("POST", "/api/v1/certificate.revoke", alice, map[string]any{"provider": "lxd", "server_id": sid,
		"certificate_fingerprint": other}).wantErr(t, 404, "no certificate")
	if !trusted() {
		t.Fatal("deskhub's certificate was revoked")
	}
	if r := h.call("POST", "/api/v1/health.ready", "", nil).want(t, 200); r.str("data", "attributes", "status") != "ok" ||
		r.str("data", "attributes", "servers", 0, "server_state") != "online" {
		t.Fatalf("health.ready: %s", r.Raw)
	}
	// With force, deskhub's own certificate goes, and the server is reported untrusted.
	h.call("POST", "/api/v1/certificate.revoke", admin, map[string]any{"provider": "lxd", "server_id": sid,
		"certificate_fingerprint": h.s.infra.Fingerprint(), "certificate_force": true}).want(t, 200)
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
func (h *lxdHarness) instanceIDs(tok string) map[string]float64 {
	h.t.Helper()
	r := h.call("POST", "/api/v1/instance.list", tok, map[string]any{"provider": "lxd"}).want(h.t, 200)
	out := map[string]float64{}
	for _, d := range r.get("data").([]any) {
		a := d.(map[string]any)["attributes"].(map[string]any)
		out[a["instance_name"].(string)] = a["instance_id"].(float64)
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
	alice := h1.user("alice", false)
	h1.addServer(alice)
	h1.env.CreateInstance(t, "dh-restart", true)
	id := h1.instanceIDs(alice)["dh-restart"]
	if id == 0 {
		t.Fatal("instance.list does not show the instance on alice's server")
	}
	// A clean stop takes busybox's init a few seconds: deskhub stops meanwhile.
	r := h1.call("POST", "/api/v1/instance.action", alice, map[string]any{"instance_id": id, "instance_status": "stop",
		"request_id": "across-restart", "provider": "lxd"}).want(t, 200)
	opID := r.str("data", "id")
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
	s := h2.openStream(alice)
	if res := s.opResult(t, "across-restart", 10*time.Second); res.str("status") != "success" {
		t.Fatalf("replayed outcome: %v", res.Data)
	}
	if op, _ := h2.s.store.GetOperation(context.Background(), opID); op.ReportedAt.IsZero() {
		t.Fatal("the replayed outcome is not marked reported")
	}
	s2 := h2.openStream(alice)
	time.Sleep(300 * time.Millisecond)
	if s2.has(func(e sseEvent) bool { return e.Name == "operation" }) {
		t.Fatal("an outcome was replayed twice")
	}
}

// TestLXDDaemonRestartMidBatch kills the LXD daemon in the middle of a batch of 20 instance actions and
// brings it back: every action ends, in success or with a clear error on the stream, nothing stays
// pending, and health.ready reports the server offline meanwhile and online after.
func TestLXDDaemonRestartMidBatch(t *testing.T) {
	h := newLXDHarness(t, func(c *config.Config, _ *Options) { c.Infra.OpTimeout = 60 * time.Second })
	alice := h.user("alice", false)
	h.addServer(alice)
	names := []string{"dh-f0", "dh-f1", "dh-f2", "dh-f3"}
	for _, n := range names {
		h.env.CreateInstance(t, n, true)
	}
	ids := h.instanceIDs(alice)
	s := h.openStream(alice)
	serverState := func() string {
		r := h.call("POST", "/api/v1/health.ready", "", nil).want(t, 200)
		return r.str("data", "attributes", "servers", 0, "server_state")
	}
	if st := serverState(); st != "online" {
		t.Fatalf("server state before: %s", st)
	}

	actions := []string{"freeze", "unfreeze", "restart-force", "stop-force", "start"}
	var rids []string
	for i := range 20 {
		name := names[i%len(names)]
		rid := fmt.Sprintf("batch-%02d", i)
		h.call("POST", "/api/v1/instance.action", alice, map[string]any{"instance_id": ids[name],
			"instance_status": actions[(i/len(names))%len(actions)], "request_id": rid, "provider": "lxd"}).want(t, 200)
		rids = append(rids, rid)
		if i == 9 {
			h.env.KillDaemon(t)
		}
	}
	waitWithin(t, 10*time.Second, "health.ready reports the server offline", func() bool { return serverState() == "offline" })
	s.wait(t, 10*time.Second, "server offline event", func(e sseEvent) bool { return e.Name == "server" && e.str("status") == "offline" })
	time.Sleep(time.Second)
	h.env.StartDaemon(t)

	var ok, failed int
	for _, rid := range rids {
		res := s.opResult(t, rid, 90*time.Second)
		switch res.str("status") {
		case "success":
			ok++
		case "failure":
			failed++
			t.Logf("%s: %s", rid, res.str("error"))
			if len(res.str("error")) < 10 {
				t.Errorf("%s failed without a clear error: %v", rid, res.Data)
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
	if res := h.action(s, alice, ids["dh-f0"], "stop-force"); res.str("status") != "success" && !strings.Contains(res.str("error"), "already stopped") {
		t.Fatalf("stop-force after the restart: %v", res.Data)
	}
}

// trustToken makes the LXD daemon issue a trust token ("lxc config trust add") and encodes it as
// the lxc client shows it.
func trustToken(t *testing.T, env *lxdtest.Env) string {
	t.Helper()
	resp, _, err := env.Client(t).RawQuery("POST", "/1.0/certificates", map[string]any{"name": env.CertPrefix + "-token",
		"type": "client", "token": true}, "")
	if err != nil {
		t.Fatal(err)
	}
	var op struct {
		Metadata struct {
			Secret      string   `json:"secret"`
			Fingerprint string   `json:"fingerprint"`
			Addresses   []string `json:"addresses"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(resp.Metadata, &op); err != nil || op.Metadata.Secret == "" {
		t.Fatalf("token operation: %s %v", resp.Metadata, err)
	}
	b, _ := json.Marshal(map[string]any{"client_name": env.CertPrefix + "-token", "fingerprint": op.Metadata.Fingerprint,
		"addresses": op.Metadata.Addresses, "secret": op.Metadata.Secret, "expires_at": "0001-01-01T00:00:00Z"})
	return base64.StdEncoding.EncodeToString(b)
}

// TestLXDServerAddOtherWays adds the server by a trust token and, as an administrator, by its unix
// socket; and checks that a user sees (and may act on) an instance deskhub created for them on a
// server that is not theirs, and nothing else there.
func TestLXDServerAddOtherWays(t *testing.T) {
	h := newLXDHarness(t)
	admin := h.user("admin", true)
	bob := h.user("bob", false)
	tok := trustToken(t, h.env)
	// A token made by another server is refused before it is spent.
	forged := map[string]any{}
	raw, _ := base64.StdEncoding.DecodeString(tok)
	_ = json.Unmarshal(raw, &forged)
	forged["fingerprint"] = strings.Repeat("0", 64)
	fb, _ := json.Marshal(forged)
	h.call("POST", "/api/v1/server.add", admin, h.serverBody(base64.StdEncoding.EncodeToString(fb))).wantErr(t, 400, "another server")
	h.call("POST", "/api/v1/server.verify", admin, h.serverBody(tok)).want(t, 200)
	h.addServer(admin) // (trust password) — then the token on a second install below
	h2 := newLXDHarness(t)
	admin2 := h2.user("admin", true)
	r := h2.call("POST", "/api/v1/server.add", admin2, h2.serverBody(tok)).want(t, 200)
	if r.str("data", "attributes", "server_state") != "online" {
		t.Fatalf("server.add by token: %s", r.Raw)
	}
	h2.call("POST", "/api/v1/server.add", admin2, map[string]any{"server_host": "", "server_port": 0, "server_protocol": "lxd",
		"server_password": "", "server_path": "/nonexistent/unix.socket", "server_project": h.env.Project}).wantErr(t, 502, "cannot reach")
	u := h2.call("POST", "/api/v1/server.add", admin2, map[string]any{"server_host": "", "server_port": 0, "server_protocol": "lxd",
		"server_password": "", "server_path": h.env.Socket, "server_project": h.env.Project}).want(t, 200)
	if u.str("data", "attributes", "server_path") != h.env.Socket || u.str("data", "attributes", "server_state") != "online" {
		t.Fatalf("server.add by socket: %s", u.Raw)
	}

	// An instance deskhub created for bob on the admin's server: bob sees it alone, not the server.
	h.env.CreateInstance(t, "dh-bobs", false)
	h.env.CreateInstance(t, "dh-admins", false)
	ids := h.instanceIDs(admin)
	in, err := h.s.store.GetInstance(context.Background(), int64(ids["dh-bobs"]))
	if err != nil {
		t.Fatal(err)
	}
	bobUser, _ := h.s.store.GetUserByLogin(context.Background(), "bob")
	in.OwnerID = bobUser.ID
	if err := h.s.store.UpdateInstance(context.Background(), &in); err != nil {
		t.Fatal(err)
	}
	bl := h.call("POST", "/api/v1/instance.list", bob, map[string]any{"provider": "lxd"}).want(t, 200)
	if n := len(bl.get("data").([]any)); n != 1 || bl.str("data", 0, "attributes", "instance_name") != "dh-bobs" ||
		bl.str("data", 0, "attributes", "instance_owner") != "bob" {
		t.Fatalf("bob's instance.list: %s", bl.Raw)
	}
	h.call("POST", "/api/v1/instance.get", bob, map[string]any{"provider": "lxd", "instance_name": "dh-admins"}).wantErr(t, 404, "no instance")
	h.call("POST", "/api/v1/server.list", bob, map[string]any{"provider": "lxd", "server_id": 0}).want(t, 200)
	h.call("POST", "/api/v1/server.get", bob, map[string]any{"provider": "lxd", "server_id": in.ServerID}).wantErr(t, 404, "no server")
	s := h.openStream(bob)
	if res := h.action(s, bob, ids["dh-bobs"], "start"); res.str("status") != "success" {
		t.Fatalf("bob starting his instance: %v", res.Data)
	}
	h.call("POST", "/api/v1/instance.action", bob, map[string]any{"instance_id": ids["dh-admins"], "instance_status": "start",
		"provider": "lxd"}).wantErr(t, 404, "no instance")

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
	del := func(h *lxdHarness, tok string, id string) reply {
		return h.call("POST", "/api/v1/server.delete", tok, map[string]any{"provider": "lxd", "server_id": mustAtoi(t, id)})
	}
	del(h, bob, fmt.Sprint(in.ServerID)).wantErr(t, 404, "no server")
	if d := del(h2, admin2, r.str("data", "id")).want(t, 200); d.get("meta", "trust_removed") != false || !trusts(h2.s.infra.Fingerprint()) {
		t.Fatalf("deleting one of two records of a server: %s", d.Raw)
	}
	if d := del(h2, admin2, u.str("data", "id")).want(t, 200); d.get("meta", "trust_removed") != true || trusts(h2.s.infra.Fingerprint()) {
		t.Fatalf("deleting the last record of a server: %s", d.Raw)
	}
	if d := del(h, admin, fmt.Sprint(in.ServerID)).want(t, 200); d.get("meta", "trust_removed") != true || trusts(h.s.infra.Fingerprint()) {
		t.Fatalf("deleting the first install's server: %s", d.Raw)
	}
	if l := h.call("POST", "/api/v1/server.list", admin, map[string]any{"provider": "lxd", "server_id": 0}).want(t, 200); len(l.get("data").([]any)) != 0 {
		t.Fatalf("server.list after server.delete: %s", l.Raw)
	}
	if r := h.call("POST", "/api/v1/health.ready", "", nil).want(t, 200); r.get("data", "attributes", "servers") != nil {
		t.Fatalf("health.ready still follows a deleted server: %s", r.Raw)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// TestLXDDaemonStaysDown: with LXD stopped for longer than the operation timeout, an accepted action
// ends in a clear failure instead of staying pending.
func TestLXDDaemonStaysDown(t *testing.T) {
	h := newLXDHarness(t, func(c *config.Config, _ *Options) { c.Infra.OpTimeout = 3 * time.Second })
	alice := h.user("alice", false)
	h.addServer(alice)
	h.env.CreateInstance(t, "dh-down", false)
	id := h.instanceIDs(alice)["dh-down"]
	s := h.openStream(alice)
	h.env.KillDaemon(t)
	defer h.env.StartDaemon(t)
	s.wait(t, 10*time.Second, "server offline event", func(e sseEvent) bool { return e.Name == "server" && e.str("status") == "offline" })
	start := time.Now()
	res := h.action(s, alice, id, "start")
	if res.str("status") != "failure" || !strings.Contains(res.str("error"), "not reachable") && !strings.Contains(res.str("error"), "did not answer") {
		t.Fatalf("action while LXD is down: %v", res.Data)
	}
	t.Logf("failed after %s: %s", time.Since(start).Round(100*time.Millisecond), res.str("error"))
}
