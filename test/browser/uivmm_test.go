//go:build uivmm

// This file exists only with the build tag uivmm: its test needs ui-vmm's own panel, whose files
// (the ui-vmm/demo repository) carry no licence and so are not in this repository. scripts/test.sh
// runs it when DESKHUB_UIVMM_DEMO names a copy of them, and says that it did not run otherwise:
//
//	DESKHUB_UIVMM_DEMO=/path/to/ui-vmm/demo go test -tags uivmm -run TestUIVMMPanel ./test/browser/

package browser

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

type uivmmRun struct {
	Flows []struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		MS    int    `json:"ms"`
	} `json:"flows"`
	Calls []struct {
		Endpoint string `json:"endpoint"`
		Status   int    `json:"status"`
	} `json:"calls"`
	PageErrors []string `json:"pageErrors"`
}

// TestUIVMMPanel drives ui-vmm's own panel (the ui-vmm/demo build, its missing vendor chunk rebuilt
// from npm by panel/build.mjs) in headless Chromium against a real deskhub and the real LXD daemon,
// through every flow of the panel (see uivmm.mjs). The panel is served as a deployment would serve
// it: its files at /demo/ of deskhub's public origin, everything else proxied to deskhub.
func TestUIVMMPanel(t *testing.T) {
	demo := os.Getenv("DESKHUB_UIVMM_DEMO")
	if demo == "" {
		t.Fatal("DESKHUB_UIVMM_DEMO must name a checkout (or a bare git directory) of the ui-vmm/demo repository")
	}
	browserDeps(t)
	env := lxdtest.Get(t)

	// The panel, built outside the repository; the npm packages are cached between runs.
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "deskhub-uivmm")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	build := exec.CommandContext(ctx, "node", "panel/build.mjs", demo, out, cache)
	build.Stdout, build.Stderr = &stdout, &stderr
	if err := build.Run(); err != nil {
		t.Fatalf("panel/build.mjs: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var built struct {
		Dir     string   `json:"dir"`
		Modules int      `json:"modules"`
		Patched []string `json:"patched"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n") // its answer is the last line
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &built); err != nil {
		t.Fatalf("panel/build.mjs said %q: %v", stdout.String(), err)
	}
	t.Logf("panel built in %s: %d vendor modules rebuilt; demo switches turned off: %s", built.Dir, built.Modules, strings.Join(built.Patched, "; "))

	// The panel's origin: its files at /demo/ (an unknown path there is the single-page app's
	// index.html), the rest proxied to deskhub. deskhub's public URL is this origin (WebAuthn, mails).
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://localhost:" + strings.TrimPrefix(front.Addr().String(), "127.0.0.1:")
	// A real `deskhub serve` (the panel's account an administrator: it publishes the image the panel
	// launches), with HTTPS so that LXD can pull from deskhub's image server.
	const login, password = "operator", "operator password long enough"
	data, err := servetest.NewDataDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if err := servetest.AddUser(data, login, password, true); err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := tlsLn.Addr().String()
	tlsLn.Close()
	srv, err := servetest.Start(data, servetest.Options{Flags: []string{"--public-url", origin, "--tls-listen", tlsAddr,
		"--lxd-cert-name", env.CertPrefix + "-uivmm", "--op-timeout", "5m", "--log-format", "text"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("deskhub serve log:\n%s", srv.Logs())
		}
	})
	dataDir, listen := data, srv.Addr

	// The image the panel launches, on deskhub's own image server (the panel lists its catalog).
	admin, err := client.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UserLogin(ctx, login, password); err != nil {
		t.Fatal(err)
	}
	img, err := lxdtest.UnifiedImage(map[string]string{"etc/deskhub-test": "launched by ui-vmm's panel\n"})
	if err != nil {
		t.Fatal(err)
	}
	product, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "busybox", ProductRelease: "panel",
		ProductArch: lxdtest.DebianArch(), ProductVariant: "default", ProductAliases: env.Project + "/panel"})
	if err != nil {
		t.Fatalf("simplestream.add: %v", err)
	}
	sum := sha256.Sum256(img)
	if _, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: product.Data.Attributes.ProductID,
		ProductVersionSerial: "20260101_0000", FileSHA256: hex.EncodeToString(sum[:])}, "lxd_combined.tar.gz", bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatalf("simplestream.upload: %v", err)
	}
	// The panel's server.add names no project: its instances land in LXD's default project, which the
	// run's cleanup does not purge; this one does, and checks that the instance got no network device.
	instance := env.Project + "-c1"
	lxd := env.Client(t).UseProject("default")
	if p, _, err := lxd.GetProfile("default"); err != nil {
		t.Fatal(err)
	} else {
		for name, d := range p.Devices {
			if d["type"] == "nic" {
				t.Fatalf("LXD's default profile has the network device %s: the panel's instance would get it (tests give instances no network)", name)
			}
		}
	}
	t.Cleanup(func() {
		if op, err := lxd.UpdateInstanceState(instance, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, ""); err == nil {
			_ = op.Wait()
		}
		if op, err := lxd.DeleteInstance(instance); err == nil {
			_ = op.Wait()
		}
		if _, _, err := lxd.GetInstance(instance); err == nil {
			t.Errorf("instance %s is left in LXD's default project", instance)
		}
		if op, err := lxd.DeleteImage(hex.EncodeToString(sum[:])); err == nil { // LXD's cached copy
			_ = op.Wait()
		}
	})

	target, _ := url.Parse("http://" + listen)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // the event stream
	files := http.StripPrefix("/demo/", http.FileServer(http.Dir(built.Dir)))
	fs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/demo" && !strings.HasPrefix(r.URL.Path, "/demo/") {
			proxy.ServeHTTP(w, r)
			return
		}
		if st, err := os.Stat(filepath.Join(built.Dir, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/demo/")))); err != nil || st.IsDir() {
			http.ServeFile(w, r, filepath.Join(built.Dir, "index.html"))
			return
		}
		files.ServeHTTP(w, r)
	})}
	go fs.Serve(front)
	t.Cleanup(func() { fs.Close() })

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	cfg, _ := json.Marshal(map[string]any{
		"base": origin, "outbox": filepath.Join(dataDir, "outbox"), "artifacts": t.ArtifactDir(),
		"login": login, "password": password,
		"lxd": map[string]any{"host": env.Host, "port": env.Port, "password": env.Password, "token": env.TrustToken(t), "tokenHost": "localhost",
			"imageServer": "https://" + tlsAddr + "/simplestreams", "image": "busybox panel"},
		"instance": instance,
		"sshKey":   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " panel@test",
	})
	cfgFile := filepath.Join(t.TempDir(), "uivmm.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	cmd := exec.CommandContext(ctx, "node", "uivmm.mjs", cfgFile)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var run uivmmRun
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &run); err != nil || runErr != nil || len(run.Flows) == 0 {
		t.Fatalf("uivmm.mjs: %v %v\nstdout: %s\nstderr:\n%s", runErr, err, stdout.String(), stderr.String())
	}
	failed := 0
	for _, f := range run.Flows {
		if f.OK {
			t.Logf("ok    %6d ms  %s", f.MS, f.Name)
		} else {
			failed++
			t.Errorf("FAIL  %6d ms  %s: %s", f.MS, f.Name, f.Error)
		}
	}
	for _, c := range run.Calls {
		if c.Status >= 500 {
			t.Errorf("the panel's %s got a %d", c.Endpoint, c.Status)
		}
	}
	// What LXD holds after the panel's instance flows: the instance, from deskhub's image, stopped last.
	if inst, _, err := lxd.GetInstance(instance); err != nil {
		t.Errorf("the panel's instance %s is not in LXD: %v", instance, err)
	} else {
		if inst.Config["volatile.base_image"] != hex.EncodeToString(sum[:]) {
			t.Errorf("the panel's instance runs image %q, not the published one", inst.Config["volatile.base_image"])
		}
		for name, d := range inst.ExpandedDevices {
			if d["type"] == "nic" {
				t.Errorf("the panel's instance has the network device %s", name)
			}
		}
	}
	if failed > 0 || t.Failed() {
		t.Logf("uivmm.mjs stderr:\n%s", stderr.String())
	}
	t.Logf("%d flows, %d failed; %d API calls; screenshots in %s", len(run.Flows), failed, len(run.Calls), t.ArtifactDir())
}
