package lxd_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/lxd"
	"github.com/deskhub/deskhub/internal/servetest"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// The tests run desktops in the real LXD daemon (lxdtest's throwaway project, whose instances never
// get a network device) from deskhub's desktop image, built once per test binary (lxdtest.DesktopImage).

func TestMain(m *testing.M) {
	code := lxdtest.Main(m)
	servetest.Cleanup()
	os.Exit(code)
}

// fixture is a store with one account and the test LXD server added by its unix socket, and the links
// to it.
type fixture struct {
	env    *lxdtest.Env
	st     store.Store
	conns  *lxdconn.Registry
	user   store.User
	server store.Server // by unix socket
	id     lxdconn.Identity
	dir    string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	env := lxdtest.Get(t)
	env.DesktopImage(t)
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := auth.NewLocalUser("alice", "alice@example.org", "alice-password-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	id, err := lxdconn.LoadIdentity(ctx, st, []byte("0123456789abcdef0123456789abcdef"), env.CertPrefix+"-prov")
	if err != nil {
		t.Fatal(err)
	}
	conns, err := lxdconn.New(lxdconn.Options{Identity: id, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conns.Close)
	f := &fixture{env: env, st: st, conns: conns, user: u, id: id, dir: dir}
	f.server = f.addServer(t, store.Server{Name: "local", Path: env.Socket})
	return f
}

// addServer records a server (of env's project) and connects to it.
func (f *fixture) addServer(t *testing.T, row store.Server) store.Server {
	t.Helper()
	cfg, _ := json.Marshal(lxdconn.Config{Project: f.env.Project, ServerCert: row.Config})
	row.Config, row.Provider, row.Protocol, row.OwnerID, row.State = string(cfg), "lxd", "lxd", f.user.ID, "connecting"
	if err := f.st.CreateServer(context.Background(), &row); err != nil {
		t.Fatal(err)
	}
	<-f.conns.Watch(row)
	if _, err := f.conns.Get(row.ID); err != nil {
		t.Fatalf("server %s: %v", row.Name, err)
	}
	return row
}

// addHTTPS trusts the fixture's client certificate on the daemon (named with the run's prefix, so that
// the cleanup withdraws it) and records the server by its loopback HTTPS address: LXD reached as a
// server on another machine would be.
func (f *fixture) addHTTPS(t *testing.T) store.Server {
	t.Helper()
	block, _ := pem.Decode([]byte(f.id.CertPEM))
	err := f.env.Client(t).CreateCertificate(api.CertificatesPost{CertificatePut: api.CertificatePut{Name: f.env.CertPrefix + "-https",
		Type: "client", Certificate: base64.StdEncoding.EncodeToString(block.Bytes)}})
	if err != nil && !strings.Contains(err.Error(), "already") {
		t.Fatal(err)
	}
	cert, err := lxdconn.FetchServerCert(context.Background(), f.env.Host, f.env.Port)
	if err != nil {
		t.Fatal(err)
	}
	return f.addServer(t, store.Server{Name: "https", Host: f.env.Host, Port: f.env.Port, Config: cert})
}

func (f *fixture) provider(t *testing.T, mod func(*lxd.Options)) *lxd.Provider {
	t.Helper()
	o := lxd.Options{Log: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Conns: f.conns, Store: f.st, BrokerID: "test-broker-" + t.Name(), StateDir: filepath.Join(f.dir, "lxd"),
		Image: lxd.Image{Alias: lxdtest.DesktopAlias}, PollInterval: time.Second, StartTimeout: 3 * time.Minute}
	if mod != nil {
		mod(&o)
	}
	p, err := lxd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testLog writes a log to the test's.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (f *fixture) spec(id string, server store.Server, argv ...string) provider.Spec {
	return provider.Spec{ID: id, Login: f.user.Login, UserID: f.user.ID, ServerID: provider.StoredServerID(server.ID),
		Command: argv, Width: 800, Height: 600, Depth: 24}
}

func start(t *testing.T, p *lxd.Provider, s provider.Spec) *provider.Desktop {
	t.Helper()
	t0 := time.Now()
	d, err := p.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start %s: %v", s.ID, err)
	}
	t.Logf("desktop %s started in %s on %s", s.ID, time.Since(t0).Round(time.Millisecond), d.Hostname)
	t.Cleanup(func() { _ = p.Stop(context.Background(), s.ID) })
	return d
}

// instance reads an instance of the run's project (nil when there is none).
func (f *fixture) instance(t *testing.T, name string) *api.Instance {
	t.Helper()
	inst, _, err := f.env.Client(t).GetInstance(name)
	if lxdconn.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// deleteForce does what lxc delete --force does: stop the instance at once, then delete it (retried
// while LXD is busy with the stop).
func (f *fixture) deleteForce(t *testing.T, name string) {
	t.Helper()
	c := f.env.Client(t)
	if op, err := c.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, ""); err == nil {
		_ = op.Wait()
	}
	for i := 0; ; i++ {
		op, err := c.DeleteInstance(name)
		if err == nil {
			err = op.Wait()
		}
		if err == nil {
			return
		}
		if i > 100 || !strings.Contains(err.Error(), "busy") {
			t.Fatalf("delete %s: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rfbBanner reads the RFB version the desktop's server sends, and completes the handshake (Xvnc
// blacklists clients that leave before it).
func rfbBanner(t *testing.T, p provider.Provider, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := p.DialRFB(ctx, id)
	if err != nil {
		t.Fatalf("DialRFB: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	b := make([]byte, 12)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading the RFB banner: %v", err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	n := make([]byte, 1)
	if _, err := io.ReadFull(c, n); err != nil {
		t.Fatal(err)
	}
	types := make([]byte, n[0])
	if _, err := io.ReadFull(c, types); err != nil || !bytes.Contains(types, []byte{1}) {
		t.Fatalf("security types %v %v", types, err)
	}
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	res := make([]byte, 4)
	if _, err := io.ReadFull(c, res); err != nil || !bytes.Equal(res, []byte{0, 0, 0, 0}) {
		t.Fatalf("security result %v %v", res, err)
	}
	return string(b)
}

// agentGet calls the desktop's agent.
func agentGet(t *testing.T, p provider.AgentDialer, id, path string) map[string]any {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return p.DialAgent(ctx, id) }}}
	resp, err := hc.Get("http://agent" + path)
	if err != nil {
		t.Fatalf("agent %s: %v", path, err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("agent %s: %s %v %v", path, resp.Status, v, err)
	}
	return v
}

// windows counts the desktop's top-level windows (the agent's /getwindowslist).
func windows(t *testing.T, p provider.AgentDialer, id string) int {
	t.Helper()
	list, _ := agentGet(t, p, id, "/getwindowslist")["data"].([]any)
	return len(list)
}

func waitEnded(t *testing.T, p provider.Provider, timeout time.Duration) provider.Ended {
	t.Helper()
	select {
	case e := <-p.Ended():
		return e
	case <-time.After(timeout):
		t.Fatal("no desktop ended")
	}
	return provider.Ended{}
}

// TestDesktop: a desktop in an instance with no network device, reached through proxy devices on
// this machine: markers, environment, RFB, agent, screenshot, exec, log, SSH keys, load; Stop deletes
// the instance and the sockets.
func TestDesktop(t *testing.T) {
	f := setup(t)
	p := f.provider(t, nil)
	s := f.spec("desk-one", f.server, "xterm", "-title", "it's a test")
	s.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@test"}
	d := start(t, p, s)
	name := "dh-desk-one"
	if d.Hostname != name || d.ServerID != s.ServerID || d.Display != ":0" || d.User != "desktop" || d.ServerPID == 0 || d.AppPID == 0 {
		t.Errorf("desktop %+v", d)
	}
	f.env.CheckNoNIC(t, name)
	inst := f.instance(t, name)
	for k, want := range map[string]string{lxd.KeySession: "desk-one", lxd.KeyOwner: "alice", lxd.KeyUser: fmt.Sprint(f.user.ID),
		"environment.DESKHUB_GEOMETRY": "800x600", "environment.DESKHUB_COMMAND": `exec 'xterm' '-title' 'it'\''s a test'`,
		"environment.DESKHUB_ON_EXIT": "shutdown"} {
		if inst.Config[k] != want {
			t.Errorf("config %s = %q, want %q", k, inst.Config[k], want)
		}
	}
	if dev := inst.Devices["deskhub-rfb"]; dev["type"] != "proxy" || dev["bind"] != "host" || dev["mode"] != "0600" ||
		dev["connect"] != "unix:/run/deskhub/rfb.sock" {
		t.Errorf("rfb device %v", dev)
	}
	sock := strings.TrimPrefix(inst.Devices["deskhub-rfb"]["listen"], "unix:")
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir %s: %v %v", filepath.Dir(sock), fi.Mode(), err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("rfb socket %s: %v", sock, err)
	}
	if b := rfbBanner(t, p, s.ID); b != "RFB 003.008\n" {
		t.Errorf("RFB banner %q", b)
	}
	if v := agentGet(t, p, s.ID, "/version"); v["code"] != 200.0 {
		t.Errorf("agent /version: %v", v)
	}
	ctx := context.Background()
	img, err := p.Screenshot(ctx, s.ID, provider.ScreenshotOptions{Format: "png"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 800 || cfg.Height != 600 {
		t.Errorf("screenshot: %+v %v", cfg, err)
	}
	before := windows(t, p, s.ID)
	pid, err := p.Exec(ctx, s.ID, []string{"xterm", "-title", "exec'd"})
	if err != nil || pid <= 1 {
		t.Fatalf("Exec: %d %v", pid, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for windows(t, p, s.ID) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the exec'd xterm shows no window (still %d)", before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := p.Exec(ctx, s.ID, []string{"no-such-program"}); !errors.Is(err, provider.ErrBadCommand) {
		t.Errorf("Exec of a missing program: %v", err)
	}
	if log, err := p.Log(ctx, s.ID, 1<<20); err != nil || !bytes.Contains(log, []byte(`"msg":"ready"`)) {
		t.Errorf("Log: %v\n%s", err, log)
	}
	// What an exec'd program writes is in the desktop's log, after a line naming it (as on this host).
	if _, err := p.Exec(ctx, s.ID, []string{"sh", "-c", "echo exec-output-of-the-test; echo its-error >&2"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		log, err := p.Log(ctx, s.ID, 1<<20)
		if err == nil && bytes.Contains(log, []byte(`"proc":"exec","pid":0,"line":"deskhub: exec sh -c echo exec-output-of-the-test`)) &&
			bytes.Contains(log, []byte(`"line":"exec-output-of-the-test"`)) && bytes.Contains(log, []byte(`"line":"its-error"`)) {
			break
		}
		if i > 50 {
			t.Fatalf("the exec'd program's output is not in the log: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	keys := f.env.ExecOut(t, name, "stat", "-c", "%a %u %g", "/home/desktop/.ssh/authorized_keys")
	if strings.TrimSpace(keys) != "600 1000 1000" {
		t.Errorf("authorized_keys: %s", keys)
	}
	if got := f.env.Exec(t, name, "cat", "/home/desktop/.ssh/authorized_keys"); got != s.SSHKeys[0]+"\n" {
		t.Errorf("authorized_keys holds %q", got)
	}
	if ok, err := p.Running(ctx, s.ID); !ok || err != nil {
		t.Errorf("Running: %v %v", ok, err)
	}
	l, err := p.ServerLoad(ctx, s.ServerID)
	if err != nil || l.CPUs < 1 || l.TotalMemory <= 0 || l.FreeMemory <= 0 || l.Sessions != 1 {
		t.Errorf("ServerLoad: %+v %v", l, err)
	}
	if err := p.Stop(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if f.instance(t, name) != nil {
		t.Error("the instance is still there after Stop")
	}
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("socket dir after Stop: %v", err)
	}
	if _, err := p.DialRFB(ctx, s.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("DialRFB after Stop: %v", err)
	}
}

// TestExecBridge: a server reached over LXD's HTTPS API, as one on another machine, with the exec
// transport: RFB, agent and screenshot go through `deskhub agent bridge` in the instance; no socket is
// made on the LXD host.
func TestExecBridge(t *testing.T) {
	f := setup(t)
	srv := f.addHTTPS(t)
	p := f.provider(t, func(o *lxd.Options) { o.Transport = lxd.TransportExec })
	s := f.spec("desk-bridge", srv, "xterm")
	s.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@test"}
	d := start(t, p, s)
	if d.RFB.Network != "lxd-exec" {
		t.Errorf("endpoint %+v", d.RFB)
	}
	if keys := f.env.ExecOut(t, "dh-desk-bridge", "stat", "-c", "%a %u %g", "/home/desktop/.ssh/authorized_keys", "/home/desktop/.ssh"); keys != "600 1000 1000\n700 1000 1000\n" {
		t.Errorf("authorized_keys, .ssh: %q", keys)
	}
	inst := f.instance(t, "dh-desk-bridge")
	for dev, dd := range inst.ExpandedDevices {
		if dd["type"] == "proxy" || dd["type"] == "nic" {
			t.Errorf("device %s: %v", dev, dd)
		}
	}
	for range 3 { // a connection each
		if b := rfbBanner(t, p, s.ID); b != "RFB 003.008\n" {
			t.Errorf("RFB banner %q", b)
		}
	}
	if v := agentGet(t, p, s.ID, "/version"); v["code"] != 200.0 {
		t.Errorf("agent /version: %v", v)
	}
	img, err := p.Screenshot(context.Background(), s.ID, provider.ScreenshotOptions{Format: "jpeg", Width: 400, KeepAspect: true})
	if err != nil || len(img) < 100 || img[0] != 0xff || img[1] != 0xd8 {
		t.Fatalf("screenshot: %d bytes, %v", len(img), err)
	}
	// The bridges end with their connections.
	time.Sleep(time.Second)
	if ps := f.env.Exec(t, "dh-desk-bridge", "sh", "-c", "ps -eo args | grep -cE '[a]gent (bridge|ready)' || true"); strings.TrimSpace(ps) != "0" {
		t.Errorf("bridges left running: %s", ps)
	}
	if err := p.Stop(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	if f.instance(t, "dh-desk-bridge") != nil {
		t.Error("the instance is still there after Stop")
	}
}

// TestReadySteps: a desktop image whose deskhub has no `agent ready` (older than the broker: here, a
// subcommand name it does not know) is readied in steps, as before: the start works, the keys are
// written, a missing program is refused.
func TestReadySteps(t *testing.T) {
	f := setup(t)
	p := f.provider(t, func(o *lxd.Options) {
		o.ReadyCommand = []string{"/usr/local/bin/deskhub", "agent", "ready-of-a-later-deskhub"}
	})
	s := f.spec("desk-steps", f.server, "xterm")
	s.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@test"}
	start(t, p, s)
	if got := f.env.Exec(t, "dh-desk-steps", "cat", "/home/desktop/.ssh/authorized_keys"); got != s.SSHKeys[0]+"\n" {
		t.Errorf("authorized_keys holds %q", got)
	}
	if b := rfbBanner(t, p, s.ID); b != "RFB 003.008\n" {
		t.Errorf("RFB banner %q", b)
	}
	if _, err := p.Start(context.Background(), f.spec("desk-steps-bad", f.server, "no-such-program-here")); !errors.Is(err, provider.ErrBadCommand) {
		t.Errorf("Start of a missing program: %v", err)
	}
}

// TestEnds: a desktop whose command exits ends with the command's reason, and one whose instance is
// deleted behind deskhub's back ends saying so; a command that does not exist is refused and leaves
// nothing.
func TestEnds(t *testing.T) {
	f := setup(t)
	p := f.provider(t, nil)
	ctx := context.Background()
	_, err := p.Start(ctx, f.spec("desk-bad", f.server, "no-such-program-here"))
	if !errors.Is(err, provider.ErrBadCommand) {
		t.Fatalf("Start of a missing program: %v", err)
	}
	if f.instance(t, "dh-desk-bad") != nil {
		t.Error("a refused start left its instance")
	}
	start(t, p, f.spec("desk-short", f.server, "sleep", "3"))
	e := waitEnded(t, p, time.Minute)
	if e.ID != "desk-short" || e.Reason != "the command ended (exit status 0)" {
		t.Errorf("ended: %+v", e)
	}
	for i := 0; f.instance(t, "dh-desk-short") != nil; i++ {
		if i > 100 {
			t.Fatal("the instance of an ended desktop was not deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	start(t, p, f.spec("desk-doomed", f.server, "xterm"))
	f.deleteForce(t, "dh-desk-doomed") // lxc delete --force
	e = waitEnded(t, p, 2*time.Minute) // a bound: deleting takes LXD more than 30 s on a loaded machine
	if e.ID != "desk-doomed" || !strings.Contains(e.Reason, "deleted outside deskhub") {
		t.Errorf("ended: %+v", e)
	}
	if _, err := p.DialRFB(ctx, "desk-doomed"); err == nil {
		t.Error("DialRFB of an ended desktop")
	}
}

// TestAdoptSweep: after a restart, a desktop still running is taken back; an instance no session owns
// is swept; an instance deleted meanwhile is gone.
func TestAdoptSweep(t *testing.T) {
	f := setup(t)
	p1 := f.provider(t, nil)
	a := start(t, p1, f.spec("desk-kept", f.server, "xterm"))
	start(t, p1, f.spec("desk-orphan", f.server, "xterm"))
	p1.Close()

	p2 := f.provider(t, nil)
	ctx := context.Background()
	got, err := p2.Adopt(ctx, provider.Desktop{ID: a.ID, ServerID: a.ServerID, StartedAt: a.StartedAt, Runtime: a.Runtime})
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if got.Hostname != "dh-desk-kept" || got.ServerPID != a.ServerPID {
		t.Errorf("adopted %+v", got)
	}
	if b := rfbBanner(t, p2, a.ID); b != "RFB 003.008\n" {
		t.Errorf("RFB banner %q", b)
	}
	if v := agentGet(t, p2, a.ID, "/version"); v["code"] != 200.0 {
		t.Errorf("agent: %v", v)
	}
	ids, err := p2.Sweep(ctx)
	if err != nil || len(ids) != 1 || ids[0] != "desk-orphan" {
		t.Fatalf("Sweep: %v %v", ids, err)
	}
	if f.instance(t, "dh-desk-orphan") != nil {
		t.Error("the swept instance is still there")
	}
	if f.instance(t, "dh-desk-kept") == nil {
		t.Fatal("Sweep removed an adopted desktop")
	}
	// A third deskhub, after the instance was deleted: gone.
	p2.Close()
	f.deleteForce(t, "dh-desk-kept")
	p3 := f.provider(t, nil)
	if _, err := p3.Adopt(ctx, provider.Desktop{ID: a.ID, ServerID: a.ServerID, Runtime: a.Runtime}); !errors.Is(err, provider.ErrGone) {
		t.Errorf("Adopt of a deleted instance: %v", err)
	}
}

// TestPerUserHome: per-user instances are stopped, not deleted, and reused; a home volume keeps the
// user's files for a per-session instance too.
func TestPerUserHome(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	pu := f.provider(t, func(o *lxd.Options) { o.Per = lxd.PerUser; o.HomeVolumes = true })
	name := pu.InstanceName("any", f.user.ID)
	start(t, pu, f.spec("desk-u1", f.server, "xterm"))
	if _, err := pu.Exec(ctx, "desk-u1", []string{"sh", "-c", "echo kept > $HOME/kept"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.env.ExecOut(t, name, "cat", "/home/desktop/kept"), "kept") {
		if time.Now().After(deadline) {
			t.Fatal("the file was not written")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := pu.Stop(ctx, "desk-u1"); err != nil {
		t.Fatal(err)
	}
	inst := f.instance(t, name)
	if inst == nil || inst.StatusCode != api.Stopped {
		t.Fatalf("the per-user instance after Stop: %+v", inst)
	}
	start(t, pu, f.spec("desk-u2", f.server, "xterm"))
	if got := f.instance(t, name).Config[lxd.KeySession]; got != "desk-u2" {
		t.Errorf("the reused instance runs %q", got)
	}
	if _, err := pu.Start(ctx, f.spec("desk-u3", f.server, "xterm")); err == nil {
		t.Error("a second session in the user's one instance")
	}
	if err := pu.Stop(ctx, "desk-u2"); err != nil {
		t.Fatal(err)
	}
	ps := f.provider(t, func(o *lxd.Options) { o.HomeVolumes = true })
	start(t, ps, f.spec("desk-s1", f.server, "xterm"))
	if got := f.env.ExecOut(t, "dh-desk-s1", "cat", "/home/desktop/kept"); got != "kept\n" {
		t.Errorf("the home volume lost the file: %q", got)
	}
	if err := ps.Stop(ctx, "desk-s1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.env.Client(t).GetStoragePoolVolume("default", "custom", lxd.HomeVolume(f.user.ID)); err != nil {
		t.Errorf("the home volume: %v", err)
	}
}
