package images

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/imagebuild"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// TestDesktopImage is the whole path of issue 11 with real parts: `deskhub image build --publish`
// builds the Debian desktop image offline (debootstrap from the package cache that scripts/image-cache.sh
// fills while the test dependencies are installed) with this very deskhub binary as the image's init, and
// uploads it to a running deskhub; instance.add has the real LXD pull it from deskhub's image server over
// HTTPS; the instance, with no network device, comes up with `deskhub agent init` as PID 1 and Xvnc
// answering RFB on a unix socket inside, which an LXD proxy device brings to a host unix socket.
func TestDesktopImage(t *testing.T) {
	env := lxdtest.Get(t)
	d := startDeskhub(t, env)
	bin, err := servetest.Binary()
	if err != nil {
		t.Fatal(err)
	}

	// Build and publish.
	out := filepath.Join(t.TempDir(), "desktop.tar.xz")
	cmd := exec.Command(bin, "image", "build", "--offline", "--output", out, "--deskhub-binary", bin,
		"--publish", d.srv.URL, "--json")
	cmd.Env = append(os.Environ(), "DESKHUB_TOKEN="+d.admin.Token())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("deskhub image build --publish: %v\n%s\n(the package cache is filled by scripts/image-cache.sh)", err, stderr.String())
	}
	var rep imagebuild.Report
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("build report: %v\n%s", err, stdout)
	}
	if !strings.Contains(stderr.String(), "published as deskhub/") {
		t.Fatalf("the build does not say it published:\n%s", stderr.String())
	}
	t.Logf("image %s: %d bytes compressed, %d uncompressed, cached=%v, %s", rep.SHA256[:12], rep.Size, rep.Uncompressed, rep.Cached, rep.Elapsed)
	ctx := context.Background()
	files, err := d.admin.SimplestreamImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range files.Data {
		found = found || f.Attributes.FileSHA256 == rep.SHA256 && f.Attributes.ProductVersionSerial == rep.Serial
	}
	if !found {
		t.Fatalf("simplestream.images lacks the published file %s (serial %s): %+v", rep.SHA256, rep.Serial, files)
	}
	alias := imagebuild.ProductOf(&rep).Aliases

	// LXD pulls it from deskhub and creates an instance (not started: the proxy device comes first).
	name := "desktop"
	d.addInstanceOpts(t, env, name, alias, false, 5*time.Minute)
	lxd := env.Client(t)
	sockDir := t.TempDir()
	hostSock := filepath.Join(sockDir, "rfb.sock")
	inst, etag, err := lxd.GetInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Config["volatile.base_image"] != rep.SHA256 {
		t.Fatalf("base image %q, want the published %s", inst.Config["volatile.base_image"], rep.SHA256)
	}
	inst.Devices["rfb"] = map[string]string{"type": "proxy", "listen": "unix:" + hostSock, "connect": "unix:/run/deskhub/rfb.sock",
		"bind": "host", "mode": "0600"}
	op, err := lxd.UpdateInstance(name, inst.Writable(), etag)
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		t.Fatalf("adding the proxy device: %v", err)
	}
	op, err = lxd.UpdateInstanceState(name, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		t.Fatalf("starting: %v", err)
	}
	env.CheckNoNIC(t, name)

	// init is PID 1 and says the desktop is ready.
	deadline := time.Now().Add(90 * time.Second)
	var ready string
	for {
		var code int
		ready, code = lxdtest.ExecIn(t, lxd, name, []string{"cat", "/run/deskhub/ready"}, nil, nil)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := lxdtest.ExecIn(t, lxd, name, []string{"cat", "/var/log/deskhub/init.log"}, nil, nil)
			t.Fatalf("no /run/deskhub/ready within 90 s; init.log:\n%s", log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var r struct {
		Display string `json:"display"`
	}
	if err := json.Unmarshal([]byte(ready), &r); err != nil || r.Display == "" {
		t.Fatalf("ready file: %v: %s", err, ready)
	}
	if comm := strings.TrimSpace(env.Exec(t, name, "cat", "/proc/1/cmdline")); !strings.Contains(comm, "agent") || !strings.Contains(comm, "init") {
		t.Fatalf("PID 1 is %q, want deskhub agent init", comm)
	}
	if nets := strings.Fields(env.Exec(t, name, "ls", "/sys/class/net")); len(nets) != 1 || nets[0] != "lo" {
		t.Fatalf("network interfaces inside: %v, want only lo", nets)
	}

	// Xvnc answers RFB on its unix socket inside, through the proxy device, with no network.
	conn, err := net.DialTimeout("unix", hostSock, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	banner, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(banner, "RFB 003.") {
		t.Fatalf("RFB banner through the proxy device: %q, %v", banner, err)
	}

	// The image is in use: deskhub's retention must not remove it.
	images, err := d.admin.ListImages(ctx, vmm.ProviderLXD, d.serverID)
	if err != nil {
		t.Fatal(err)
	}
	cached := false
	for _, im := range images.Data {
		cached = cached || im.Attributes.ImageFingerprint == rep.SHA256 && im.Attributes.ImageCached
	}
	if !cached {
		t.Fatalf("image.list of the LXD server lacks the pulled desktop image: %+v", images)
	}
}
