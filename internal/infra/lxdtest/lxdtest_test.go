package lxdtest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/infra/lxdtest"
)

func TestMain(m *testing.M) { os.Exit(lxdtest.Main(m)) }

func TestEnv(t *testing.T) {
	env := lxdtest.Get(t)
	if !strings.HasPrefix(env.Project, "dhtest-") || len(env.Project) != len("dhtest-")+8 {
		t.Errorf("Project = %q, want dhtest-<8 hex>", env.Project)
	}
	if env.CertPrefix != env.Project {
		t.Errorf("CertPrefix = %q, want %q", env.CertPrefix, env.Project)
	}
	if env.Host != "127.0.0.1" || env.Port != 8443 {
		t.Errorf("HTTPS endpoint = %s:%d, want 127.0.0.1:8443", env.Host, env.Port)
	}
	if len(env.Password) < 16 {
		t.Errorf("Password = %q, too short", env.Password)
	}
	if lxdtest.Get(t) != env {
		t.Error("second Get returned a different Env")
	}

	c := env.Client(t)
	img, _, err := c.GetImage(env.ImageFingerprint)
	if err != nil {
		t.Fatalf("GetImage(%s) in project %s: %v", env.ImageFingerprint, env.Project, err)
	}
	if img.Properties["os"] != "busybox" || img.Properties["release"] != "deskhub-test" {
		t.Errorf("image properties = %v", img.Properties)
	}
	alias, _, err := c.GetImageAlias(env.ImageAlias)
	if err != nil {
		t.Fatalf("GetImageAlias(%s): %v", env.ImageAlias, err)
	}
	if alias.Target != env.ImageFingerprint {
		t.Errorf("alias %s -> %s, want %s", env.ImageAlias, alias.Target, env.ImageFingerprint)
	}

	// The image lives in the run's project only.
	if _, _, err := c.UseProject("default").GetImage(env.ImageFingerprint); err == nil {
		t.Errorf("image %s is visible in the default project", env.ImageFingerprint)
	}

	prof, _, err := c.GetProfile("default")
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range prof.Devices {
		if d["type"] == "nic" {
			t.Errorf("project default profile has NIC %s", name)
		}
	}
	if prof.Devices["root"]["pool"] != "default" {
		t.Errorf("project default profile devices = %v, want a root disk on pool default", prof.Devices)
	}
}

func TestInstanceLifecycle(t *testing.T) {
	env := lxdtest.Get(t)
	c := env.Client(t)
	const name = "life"
	env.CreateInstance(t, name, true)
	env.CheckNoNIC(t, name)

	st, _, err := c.GetInstanceState(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "Running" {
		t.Fatalf("status after CreateInstance(start) = %s, want Running", st.Status)
	}
	for dev := range st.Network {
		if dev != "lo" {
			t.Errorf("instance has network interface %s", dev)
		}
	}

	var stdout, stderr bytes.Buffer
	out, code := execIn(t, c, name, []string{"/bin/sh", "-c", "echo hello; cat /etc/deskhub-image-id 2>/dev/null; exit 3"}, &stdout, &stderr)
	if code != 3 || out != "hello\n" {
		t.Errorf("exec: code %d, stdout %q, stderr %q", code, out, stderr.String())
	}
	if _, code := execIn(t, c, name, []string{"/bin/busybox", "true"}, nil, nil); code != 0 {
		t.Errorf("exec /bin/busybox true: code %d", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	op, err := c.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Timeout: 10}, "")
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("clean stop took %s", time.Since(t0).Round(time.Millisecond))
	if st, _, _ := c.GetInstanceState(name); st == nil || st.Status != "Stopped" {
		t.Fatalf("status after stop = %v, want Stopped", st)
	}
	op, err = c.DeleteInstance(name)
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, _, err := c.GetInstance(name); !api.StatusErrorCheck(err, 404) {
		t.Fatalf("GetInstance after delete: %v, want 404", err)
	}

	// Left for Main's cleanup: a created (stopped) and a running container.
	env.CreateInstance(t, "leftover-stopped", false)
	env.CreateInstance(t, "leftover-running", true)
}

// execIn runs command in the instance and returns its stdout and exit code.
func execIn(t *testing.T, c incus.InstanceServer, name string, command []string, stdout, stderr *bytes.Buffer) (string, int) {
	t.Helper()
	return lxdtest.ExecIn(t, c, name, command, stdout, stderr)
}

func TestNewImage(t *testing.T) {
	env := lxdtest.Get(t)
	fp := env.NewImage(t, "extra")
	if fp == "" || fp == env.ImageFingerprint {
		t.Fatalf("NewImage fingerprint %q (base image %q)", fp, env.ImageFingerprint)
	}
	fp2 := env.NewImage(t, "extra2")
	if fp2 == fp {
		t.Fatalf("two NewImage calls gave the same fingerprint %s", fp)
	}
	c := env.Client(t)
	alias, _, err := c.GetImageAlias("extra")
	if err != nil || alias.Target != fp {
		t.Fatalf("alias extra: %v %v", alias, err)
	}
	// Delete one of them, as image.delete tests will; the other is left to Main's cleanup.
	op, err := c.DeleteImage(fp2)
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		t.Fatalf("DeleteImage: %v", err)
	}
}

func TestTrustPassword(t *testing.T) {
	env := lxdtest.Get(t)
	certPEM, keyPEM := selfSigned(t)
	remote, err := incus.ConnectIncus("https://"+env.Host+":"+strconv.Itoa(env.Port), &incus.ConnectionArgs{
		TLSClientCert:      string(certPEM),
		TLSClientKey:       string(keyPEM),
		InsecureSkipVerify: true,
		SkipGetServer:      true,
		SkipGetEvents:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if auth := serverAuth(t, remote); auth != "untrusted" {
		t.Fatalf("auth before adding the certificate = %q, want untrusted", auth)
	}
	// LXD 5.0 takes the trust password as "password"; the incus client's CertificatesPost has no such
	// field, hence the raw query.
	body := map[string]any{"type": "client", "name": env.CertPrefix + "-pw", "password": env.Password}
	if _, _, err := remote.RawQuery("POST", "/1.0/certificates", body, ""); err != nil {
		t.Fatalf("add certificate with the trust password: %v", err)
	}
	if auth := serverAuth(t, remote); auth != "trusted" {
		t.Fatalf("auth after adding the certificate = %q, want trusted", auth)
	}
	body["password"] = "wrong"
	body["name"] = env.CertPrefix + "-wrong"
	certPEM2, keyPEM2 := selfSigned(t)
	remote2, err := incus.ConnectIncus("https://"+env.Host+":"+strconv.Itoa(env.Port), &incus.ConnectionArgs{
		TLSClientCert: string(certPEM2), TLSClientKey: string(keyPEM2), InsecureSkipVerify: true, SkipGetServer: true, SkipGetEvents: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := remote2.RawQuery("POST", "/1.0/certificates", body, ""); err == nil {
		t.Fatal("adding a certificate with a wrong password succeeded")
	}
}

func serverAuth(t *testing.T, c incus.InstanceServer) string {
	t.Helper()
	resp, _, err := c.RawQuery("GET", "/1.0", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := resp.MetadataAsStruct(&m); err != nil {
		t.Fatal(err)
	}
	s, _ := m["auth"].(string)
	return s
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "deskhub-lxdtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestDaemonKillRestart(t *testing.T) {
	env := lxdtest.Get(t)
	c := env.Client(t)
	const name = "survivor"
	env.CreateInstance(t, name, true)
	before, _, err := c.GetInstanceState(name)
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	env.KillDaemon(t)
	if _, _, err := c.GetInstanceState(name); err == nil {
		t.Fatal("LXD answered right after KillDaemon")
	}
	env.StartDaemon(t)
	t.Logf("kill + start took %s", time.Since(t0).Round(time.Millisecond))

	// The same client works again, and the container kept running through the daemon's death.
	after, _, err := c.GetInstanceState(name)
	if err != nil {
		t.Fatalf("GetInstanceState after restart: %v", err)
	}
	if after.Status != "Running" {
		t.Fatalf("status after daemon restart = %s, want Running", after.Status)
	}
	if after.Pid != before.Pid {
		t.Errorf("init pid changed across the daemon restart: %d -> %d (the container was restarted)", before.Pid, after.Pid)
	}
	if _, code := execIn(t, c, name, []string{"/bin/busybox", "true"}, nil, nil); code != 0 {
		t.Errorf("exec after restart: code %d", code)
	}

	// Get brings the daemon back when a test leaves it down.
	env.KillDaemon(t)
	if lxdtest.Get(t) != env {
		t.Fatal("Get returned a different Env")
	}
	if _, _, err := c.GetInstanceState(name); err != nil {
		t.Fatalf("LXD not answering after Get: %v", err)
	}
}
