// Package lxdtest gives tests a real LXD daemon: Debian's lxd 5.0 running on this machine, started by
// scripts/lxd.sh, reached over its unix socket (admin) and over HTTPS on loopback (127.0.0.1:8443).
//
// Every test binary that uses it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(lxdtest.Main(m)) }
//
// Main serialises test binaries that use LXD (an exclusive flock on /run/lock/deskhub-lxdtest.lock for
// the whole run, because tests may kill and restart the daemon and the trust password is daemon-wide),
// and deletes at the end everything the run created. Tests call Get for the run's environment: a
// throwaway project "dhtest-<8 hex>" with its own images, profiles and storage volumes, a minimal busybox
// container image, and a trust password set for the run.
//
// Safety: instances never get a network device (the project's default profile has only a root disk and
// CreateInstance checks the expanded devices), no network is ever created, and the daemon's HTTPS
// listener must be on loopback (Get refuses to run otherwise). Tests must send traffic only to the unix
// socket and to Env.Host:Env.Port.
//
// LXD is required: when it is unavailable Get fails the test with instructions (scripts/deps.sh installs
// the Debian packages lxd and busybox-static; scripts/lxd.sh start runs the daemon). It never skips.
package lxdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

const (
	// DefaultSocket is the LXD daemon's unix socket (Debian's lxd package, LXD_DIR=/var/lib/lxd).
	DefaultSocket = "/var/lib/lxd/unix.socket"
	// HTTPSAddress is where scripts/lxd.sh makes the daemon listen for HTTPS: loopback only.
	HTTPSAddress = "127.0.0.1:8443"

	lockPath      = "/run/lock/deskhub-lxdtest.lock"
	projectPrefix = "dhtest-"
	// projectDescription marks projects made by this package; a later run deletes such projects left
	// behind by a run that died before its cleanup (panic, test timeout, SIGKILL).
	projectDescription = "deskhub lxdtest run (throwaway; deleted at the end of the run)"
	storagePool        = "default"
	imageAlias         = "busybox"
	opTimeout          = 2 * time.Minute
)

// Env is the LXD environment of one test run.
type Env struct {
	Socket           string // the daemon's unix socket: /var/lib/lxd/unix.socket
	Host             string // HTTPS API host: "127.0.0.1"
	Port             int    // HTTPS API port: 8443
	Project          string // throwaway project of this run: "dhtest-<8 random hex>"
	Password         string // the trust password now set on the daemon (core.trust_password)
	ImageAlias       string // alias of a minimal busybox container image in Project
	ImageFingerprint string
	CertPrefix       string // name prefix for certificates the run adds to LXD's trust store (= Project)
}

// run is the state of this test binary's run.
var run struct {
	mu          sync.Mutex
	inMain      bool   // Main is running (holds the lock and will clean up)
	project     string // chosen by Main
	env         *Env
	err         error // sticky setup failure
	touched     bool  // setup changed something in LXD: cleanup has work to do
	passwordSet bool
}

// Main runs a test binary's tests with LXD: call from TestMain as os.Exit(lxdtest.Main(m)).
// It takes an exclusive flock on /run/lock/deskhub-lxdtest.lock for the whole run (so test packages
// that use LXD — which may kill and restart the daemon — never overlap), and after m.Run deletes
// everything the run created (instances stopped+deleted, images, profiles, custom volumes, the project,
// and LXD trust-store certificates whose name starts with the run's CertPrefix) and unsets
// core.trust_password. A failed cleanup turns a passing run into a failing one.
func Main(m *testing.M) int {
	// go test -fuzz runs the fuzz target in worker processes of the test binary (-test.fuzzworker),
	// while the coordinating process, which ran TestMain first, holds the lock: a worker only runs the
	// fuzz target, never LXD, and must not wait for the lock (it would wait for the whole run).
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run()
	}
	unlock, err := lock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lxdtest: %v\n", err)
		return 1
	}
	defer unlock()

	run.mu.Lock()
	run.inMain = true
	run.project = projectPrefix + randomHex(4)
	run.mu.Unlock()

	code := m.Run()
	if desktop.dir != "" {
		_ = os.RemoveAll(desktop.dir)
	}

	run.mu.Lock()
	defer run.mu.Unlock()
	if run.touched {
		start := time.Now()
		if err := cleanup(); err != nil {
			fmt.Fprintf(os.Stderr, "lxdtest: cleanup of run %s failed: %v\n", run.project, err)
			if code == 0 {
				code = 1
			}
		} else if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "lxdtest: cleaned up run %s in %s\n", run.project, time.Since(start).Round(time.Millisecond))
		}
	}
	return code
}

// lock takes the exclusive lock that serialises test binaries using LXD.
func lock() (func(), error) {
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "lxdtest: waiting for %s (another test binary is using LXD)\n", lockPath)
		t0 := time.Now()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		fmt.Fprintf(os.Stderr, "lxdtest: got %s after %s\n", lockPath, time.Since(t0).Round(time.Millisecond))
	}
	return func() { _ = f.Close() }, nil
}

// Get returns the run's environment, setting it up on first call (see the package documentation).
// If the daemon does not answer it runs scripts/lxd.sh start; if LXD still is not usable the test
// fails with the reason and how to get LXD — whether or not DESKHUB_REQUIRE_LXD=1 is set.
func Get(t testing.TB) *Env {
	t.Helper()
	run.mu.Lock()
	defer run.mu.Unlock()
	if !run.inMain {
		t.Fatal("lxdtest: Get needs the test binary's TestMain to call os.Exit(lxdtest.Main(m)) (it serialises LXD use and cleans up)")
	}
	if run.err != nil {
		t.Fatal(unavailable(fmt.Errorf("(setup failed earlier in this run) %w", run.err)))
	}
	if run.env != nil {
		// An earlier test may have killed the daemon (fault tests): bring it back.
		if err := ensureDaemon(); err != nil {
			t.Fatal(unavailable(err))
		}
		return run.env
	}
	t0 := time.Now()
	env, err := setup(t)
	if err != nil {
		run.err = err
		t.Fatal(unavailable(err))
	}
	run.env = env
	t.Logf("lxdtest: project %s ready in %s (image %s = %.12s)", env.Project, time.Since(t0).Round(time.Millisecond), env.ImageAlias, env.ImageFingerprint)
	return env
}

// unavailable words a setup failure for the test log.
func unavailable(err error) string {
	msg := fmt.Sprintf("lxdtest: LXD is not usable: %v\n"+
		"The LXD tests need a real LXD daemon (Debian 12, as root): run scripts/deps.sh (installs the Debian "+
		"packages lxd and busybox-static), then scripts/lxd.sh start (log: /var/log/lxd/lxd.log).", err)
	if os.Getenv("DESKHUB_REQUIRE_LXD") == "1" {
		msg += "\nDESKHUB_REQUIRE_LXD=1: LXD is required in this run."
	}
	return msg
}

func setup(t testing.TB) (*Env, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the LXD tests must run as root (they use LXD's admin unix socket)")
	}
	if err := ensureDaemon(); err != nil {
		return nil, err
	}
	busybox, err := staticBusybox()
	if err != nil {
		return nil, err
	}
	c, err := connect(DefaultSocket)
	if err != nil {
		return nil, err
	}

	host, port, err := httpsAddress(c)
	if err != nil {
		return nil, err
	}

	if err := sweepStale(t, c); err != nil {
		return nil, fmt.Errorf("removing leftovers of earlier runs: %w", err)
	}

	env := &Env{
		Socket:     DefaultSocket,
		Host:       host,
		Port:       port,
		Project:    run.project,
		ImageAlias: imageAlias,
		CertPrefix: run.project,
	}

	run.touched = true
	err = c.CreateProject(api.ProjectsPost{
		Name: env.Project,
		ProjectPut: api.ProjectPut{
			Description: projectDescription,
			Config: map[string]string{
				"features.images":          "true",
				"features.profiles":        "true",
				"features.storage.volumes": "true",
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create project %s: %w", env.Project, err)
	}
	pc := c.UseProject(env.Project)

	// The project's default profile: a root disk on pool "default" and nothing else (no NIC, ever).
	prof, etag, err := pc.GetProfile("default")
	if err != nil {
		return nil, fmt.Errorf("get default profile of %s: %w", env.Project, err)
	}
	put := prof.Writable()
	put.Devices = map[string]map[string]string{
		"root": {"type": "disk", "path": "/", "pool": storagePool},
	}
	if err := pc.UpdateProfile("default", put, etag); err != nil {
		return nil, fmt.Errorf("set root disk in default profile of %s (is there a storage pool %q? scripts/lxd.sh start creates it): %w", env.Project, storagePool, err)
	}

	env.ImageFingerprint, err = importImage(pc, busybox, imageAlias, nil)
	if err != nil {
		return nil, err
	}

	env.Password = randomHex(16)
	run.passwordSet = true
	if err := setTrustPassword(c, env.Password); err != nil {
		return nil, fmt.Errorf("set core.trust_password: %w", err)
	}
	return env, nil
}

// Client is an admin client over the unix socket, using the run's project.
func (e *Env) Client(t testing.TB) incus.InstanceServer {
	t.Helper()
	c, err := connect(e.Socket)
	if err != nil {
		t.Fatalf("lxdtest: connect to %s: %v", e.Socket, err)
	}
	return c.UseProject(e.Project)
}

// NewImage builds and imports another small busybox image with unique content (a file
// /etc/deskhub-image-id holding a random value), under the given alias in the run's project, and
// returns its fingerprint.
func (e *Env) NewImage(t testing.TB, alias string) string {
	t.Helper()
	busybox, err := staticBusybox()
	if err != nil {
		t.Fatalf("lxdtest: %v", err)
	}
	id := randomHex(16)
	fp, err := importImage(e.Client(t), busybox, alias, map[string]string{"etc/deskhub-image-id": id + "\n"})
	if err != nil {
		t.Fatalf("lxdtest: %v", err)
	}
	return fp
}

// CreateInstance creates a container from ImageAlias in the project, with NO network device, and
// starts it when start is true, waiting for each operation.
func (e *Env) CreateInstance(t testing.TB, name string, start bool) {
	t.Helper()
	c := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	op, err := c.CreateInstance(api.InstancesPost{
		Name: name,
		Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{
			Type:  "image",
			Alias: e.ImageAlias,
		},
		InstancePut: api.InstancePut{
			Profiles: []string{"default"},
			Devices:  map[string]map[string]string{},
		},
	})
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("lxdtest: create instance %s: %v", name, err)
	}
	if err := checkNoNIC(c, name); err != nil {
		if op, derr := c.DeleteInstance(name); derr == nil {
			_ = op.WaitContext(ctx)
		}
		t.Fatalf("lxdtest: %v", err)
	}
	if !start {
		return
	}
	op, err = c.UpdateInstanceState(name, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("lxdtest: start instance %s: %v", name, err)
	}
}

// CheckNoNIC fails the test if instance name in the run's project has a network device (tests must
// never give instances a NIC: their traffic must stay on loopback and unix sockets).
func (e *Env) CheckNoNIC(t testing.TB, name string) {
	t.Helper()
	if err := checkNoNIC(e.Client(t), name); err != nil {
		t.Fatalf("lxdtest: %v", err)
	}
}

func checkNoNIC(c incus.InstanceServer, name string) error {
	inst, _, err := c.GetInstance(name)
	if err != nil {
		return fmt.Errorf("get instance %s: %w", name, err)
	}
	for dev, d := range inst.ExpandedDevices {
		if d["type"] == "nic" || d["type"] == "infiniband" {
			return fmt.Errorf("instance %s has network device %q (%v): tests must never give instances a NIC", name, dev, d)
		}
	}
	return nil
}

// KillDaemon SIGKILLs the LXD daemon (scripts/lxd.sh kill). Containers keep running. For fault tests;
// call StartDaemon to bring it back (Get also does if a test leaves it down).
func (e *Env) KillDaemon(t testing.TB) {
	t.Helper()
	if out, err := lxdScript("kill"); err != nil {
		t.Fatalf("lxdtest: scripts/lxd.sh kill: %v\n%s", err, out)
	}
	if ping(e.Socket, time.Second) == nil {
		t.Fatal("lxdtest: LXD still answers after scripts/lxd.sh kill")
	}
}

// StartDaemon starts the LXD daemon (scripts/lxd.sh start) and waits until it answers.
func (e *Env) StartDaemon(t testing.TB) {
	t.Helper()
	if out, err := lxdScript("start"); err != nil {
		t.Fatalf("lxdtest: scripts/lxd.sh start: %v\n%s", err, out)
	}
	if err := waitAnswering(e.Socket, 30*time.Second); err != nil {
		t.Fatalf("lxdtest: %v", err)
	}
}

// ensureDaemon makes sure the daemon answers on its socket, running scripts/lxd.sh start if not.
func ensureDaemon() error {
	if ping(DefaultSocket, 5*time.Second) == nil {
		return nil
	}
	out, err := lxdScript("start")
	if err != nil {
		return fmt.Errorf("the daemon does not answer on %s and scripts/lxd.sh start failed: %v\n%s", DefaultSocket, err, out)
	}
	return waitAnswering(DefaultSocket, 30*time.Second)
}

func waitAnswering(socket string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ping(socket, 5*time.Second)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("LXD does not answer on %s: %v", socket, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ping asks the daemon whether it is ready (GET /internal/ready, what `lxd waitready` uses).
func ping(socket string, timeout time.Duration) error {
	hc := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
			DisableKeepAlives: true,
		},
	}
	resp, err := hc.Get("http://lxd/internal/ready")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /internal/ready: %s", resp.Status)
	}
	return nil
}

// connect opens an admin client on the unix socket. LXD 5.0 notes: SkipGetServer, because the incus
// client cannot decode LXD's GET /1.0 once core.trust_password is set (LXD reports it as a boolean in a
// map[string]string); SkipGetEvents, so operations are waited for with /operations/<id>/wait instead of
// an events websocket that a daemon kill would break.
func connect(socket string) (incus.InstanceServer, error) {
	c, err := incus.ConnectIncusUnix(socket, &incus.ConnectionArgs{
		SkipGetServer: true,
		SkipGetEvents: true,
		UserAgent:     "deskhub-lxdtest",
	})
	if err != nil {
		return nil, fmt.Errorf("connect to LXD on %s: %w", socket, err)
	}
	return c, nil
}

// serverConfig reads the daemon's config (GET /1.0) without decoding it into the incus API types.
func serverConfig(c incus.InstanceServer) (map[string]any, error) {
	resp, _, err := c.RawQuery("GET", "/1.0", nil, "")
	if err != nil {
		return nil, err
	}
	var srv struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(resp.Metadata, &srv); err != nil {
		return nil, fmt.Errorf("decode GET /1.0: %w", err)
	}
	return srv.Config, nil
}

// httpsAddress returns the daemon's HTTPS listener and refuses anything but loopback.
func httpsAddress(c incus.InstanceServer) (string, int, error) {
	cfg, err := serverConfig(c)
	if err != nil {
		return "", 0, fmt.Errorf("read server config: %w", err)
	}
	addr, _ := cfg["core.https_address"].(string)
	if addr == "" {
		return "", 0, fmt.Errorf("core.https_address is not set (want %s; scripts/lxd.sh start sets it)", HTTPSAddress)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("core.https_address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", 0, fmt.Errorf("core.https_address is %q, not loopback: refusing to run tests against it (scripts/lxd.sh start sets %s)", addr, HTTPSAddress)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, fmt.Errorf("core.https_address %q: bad port", addr)
	}
	return host, port, nil
}

// setTrustPassword sets (or, with "", unsets) core.trust_password with a PATCH of /1.0, which leaves the
// other server keys alone (a GET+PUT through the incus client is impossible; see connect).
func setTrustPassword(c incus.InstanceServer, password string) error {
	body := map[string]any{"config": map[string]any{"core.trust_password": password}}
	_, _, err := c.RawQuery("PATCH", "/1.0", body, "")
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// TrustToken makes the LXD daemon issue a trust token ("lxc config trust add"), encoded as the lxc
// client shows it: what a user pastes into server.add. It uses LXD's own API, not deskhub's.
func (e *Env) TrustToken(t testing.TB) string {
	t.Helper()
	resp, _, err := e.Client(t).RawQuery("POST", "/1.0/certificates", map[string]any{"name": e.CertPrefix + "-token",
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
	m := op.Metadata
	tok := api.CertificateAddToken{ClientName: e.CertPrefix + "-token", Fingerprint: m.Fingerprint,
		Addresses: m.Addresses, Secret: m.Secret}
	return tok.String()
}
