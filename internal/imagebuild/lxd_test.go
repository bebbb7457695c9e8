package imagebuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// The LXD side of internal/infra/lxdtest, kept to what this test needs (lxdtest.Main would hold the
// LXD lock for this package's whole run, builds included): the same lock, so that no other test binary
// kills or restarts the daemon meanwhile, and a throwaway project named and described as lxdtest's, so
// that its sweep deletes it should this test die before its cleanup.
const (
	lxdSocket             = "/var/lib/lxd/unix.socket"
	lxdTestLock           = "/run/lock/deskhub-lxdtest.lock"
	lxdProjectDescription = "deskhub lxdtest run (throwaway; deleted at the end of the run)"
)

// TestLXDImport (b): `lxc image import` of the built image into the real LXD daemon (in a throwaway
// project) succeeds, the fingerprint is the tarball's SHA-256, and LXD reads the metadata.
func TestLXDImport(t *testing.T) {
	rep, _ := coldBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	unlock, err := flock(ctx, lxdTestLock, func() { t.Logf("waiting for %s (another test binary is using LXD)", lxdTestLock) })
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "lxd.sh")
	if out, err := exec.Command(script, "start").CombinedOutput(); err != nil {
		t.Fatalf("LXD is not usable: scripts/lxd.sh start: %v\n%s\n(scripts/deps.sh installs the Debian package lxd)", err, out)
	}
	c, err := incus.ConnectIncusUnix(lxdSocket, &incus.ConnectionArgs{SkipGetServer: true, SkipGetEvents: true, UserAgent: "deskhub-imagebuild-test"})
	if err != nil {
		t.Fatal(err)
	}
	project := "dhtest-" + randomHex(4)
	err = c.CreateProject(api.ProjectsPost{Name: project, ProjectPut: api.ProjectPut{
		Description: lxdProjectDescription, Config: map[string]string{"features.images": "true"}}})
	if err != nil {
		t.Fatalf("create project %s: %v", project, err)
	}
	pc := c.UseProject(project)
	t.Cleanup(func() {
		fps, _ := pc.GetImageFingerprints()
		for _, fp := range fps {
			if op, err := pc.DeleteImage(fp); err == nil {
				_ = op.Wait()
			}
		}
		if err := c.DeleteProject(project); err != nil {
			t.Errorf("delete project %s: %v", project, err)
		}
	})

	// The command docs/IMAGES.md gives.
	cmd := exec.CommandContext(ctx, "lxc", "image", "import", rep.Output, "--alias", "deskhub-desktop", "--project", project)
	cmd.Env = append(os.Environ(), "LXD_CONF="+t.TempDir(), "LXD_DIR=/var/lib/lxd")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lxc image import: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`fingerprint: ([0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("lxc image import did not print a fingerprint:\n%s", out)
	}
	if fp := string(m[1]); fp != rep.SHA256 {
		t.Fatalf("LXD fingerprint %s, image SHA-256 %s", fp, rep.SHA256)
	}
	img, _, err := pc.GetImage(rep.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	arch := DebianArch(runtime.GOARCH)
	if img.Architecture != lxdArch[arch] || img.Properties["serial"] != rep.Serial || img.Properties["os"] != "debian" ||
		img.Properties["deskhub.version"] != testVersion || img.Type != "container" {
		t.Errorf("LXD reads the image as %s %s %v", img.Type, img.Architecture, img.Properties)
	}
	alias, _, err := pc.GetImageAlias("deskhub-desktop")
	if err != nil || alias.Target != rep.SHA256 {
		t.Errorf("alias deskhub-desktop: %+v %v", alias, err)
	}

	// An instance of it (no profile, a root disk, no NIC): LXD unpacks the rootfs and, at the first
	// start, renders the templates. /sbin/init is `deskhub agent init`; whether it keeps running or
	// exits does not matter here.
	const name = "desk"
	op, err := pc.CreateInstance(api.InstancesPost{Name: name, Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{Type: "image", Alias: "deskhub-desktop"},
		InstancePut: api.InstancePut{Profiles: []string{},
			Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}}})
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("create an instance of the image: %v", err)
	}
	t.Cleanup(func() {
		// The instance may still be stopping (its init exited): retry for a while.
		deadline := time.Now().Add(time.Minute)
		for {
			err := deleteInstance(pc, name)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("delete instance %s: %v", name, err)
				return
			}
			time.Sleep(time.Second)
		}
	})
	inst, _, err := pc.GetInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	for dev, d := range inst.ExpandedDevices {
		if d["type"] == "nic" {
			t.Fatalf("instance has a network device %s: tests never give instances a NIC", dev)
		}
	}
	op, err = pc.UpdateInstanceState(name, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	for _, f := range []struct{ path, want string }{{"/etc/hostname", name + "\n"}, {"/etc/hosts", "127.0.1.1\t" + name + "\n"}} {
		r, _, err := pc.GetInstanceFile(name, f.path)
		if err != nil {
			t.Errorf("read %s: %v", f.path, err)
			continue
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if !strings.Contains(string(b), f.want) {
			t.Errorf("%s of the instance is %q: the template was not rendered with the instance's name", f.path, b)
		}
	}
}

// deleteInstance stops (forcibly) and deletes an instance; one that does not exist is no error.
func deleteInstance(c incus.InstanceServer, name string) error {
	inst, _, err := c.GetInstance(name)
	if api.StatusErrorCheck(err, 404) {
		return nil
	}
	if err != nil {
		return err
	}
	if inst.StatusCode != api.Stopped {
		op, err := c.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, "")
		if err == nil {
			err = op.Wait()
		}
		if err != nil {
			return fmt.Errorf("stop: %w", err)
		}
	}
	op, err := c.DeleteInstance(name)
	if err == nil {
		err = op.Wait()
	}
	return err
}
