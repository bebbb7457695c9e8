// Package images tests deskhub's image server end to end: the real deskhub binary serving HTTPS with
// its self-signed certificate, and the real LXD daemon (lxdtest's throwaway project, no network device
// in any instance) pulling images from it.
package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

func TestMain(m *testing.M) {
	code := lxdtest.Main(m)
	servetest.Cleanup()
	os.Exit(code)
}

const adminPW = "pull-test-password-1"

// deskhub is a running `deskhub serve` with HTTPS, an admin client and the test LXD server added.
type deskhub struct {
	srv      *servetest.Server
	admin    *client.Client
	serverID int64
	tlsAddr  string
}

func startDeskhub(t *testing.T, env *lxdtest.Env) *deskhub { return startDeskhubTB(t, env) }

func startDeskhubTB(t testing.TB, env *lxdtest.Env) *deskhub {
	t.Helper()
	data, err := servetest.NewDataDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := servetest.AddUser(data, "admin", adminPW, true); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := ln.Addr().String()
	ln.Close()
	srv, err := servetest.Start(data, servetest.Options{Flags: []string{"--tls-listen", tlsAddr,
		"--lxd-cert-name", env.CertPrefix + "-deskhub", "--op-timeout", "5m"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	admin, err := client.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.UserLogin(ctx, "admin", adminPW); err != nil {
		t.Fatal(err)
	}
	doc, err := admin.AddServer(ctx, vmm.ServerAddRequest{ServerHost: env.Host, ServerPort: vmm.FlexInt(env.Port),
		ServerProtocol: "lxd", ServerPassword: env.Password, ServerProject: env.Project})
	if err != nil {
		t.Fatalf("server.add: %v\n%s", err, srv.Logs())
	}
	id, err := strconv.ParseInt(doc.Data.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return &deskhub{srv: srv, admin: admin, serverID: id, tlsAddr: tlsAddr}
}

// publish adds a product and uploads one unified image file as its version serial.
func (d *deskhub) publish(t testing.TB, req vmm.SimplestreamAddRequest, serial string, file []byte) string {
	t.Helper()
	ctx := context.Background()
	p, err := d.admin.SimplestreamAdd(ctx, req)
	if err != nil {
		t.Fatalf("simplestream.add: %v", err)
	}
	sum := sha256.Sum256(file)
	fp := hex.EncodeToString(sum[:])
	up, err := d.admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: p.Data.Attributes.ProductID,
		ProductVersionSerial: serial, FileSHA256: fp}, "lxd_combined.tar.gz", bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatalf("simplestream.upload: %v", err)
	}
	if up.Data.Attributes.FileSHA256 != fp {
		t.Fatalf("simplestream.upload answered %+v, want sha256 %s", up.Data.Attributes, fp)
	}
	return fp
}

// productReq is a product of this machine's architecture, named os, launched by alias.
func productReq(os, alias string) vmm.SimplestreamAddRequest {
	return vmm.SimplestreamAddRequest{ProductOS: os, ProductRelease: "test", ProductArch: lxdtest.DebianArch(),
		ProductVariant: "default", ProductAliases: alias}
}

// addInstance asks deskhub for an instance of an image of its own image server, and waits until LXD
// has it running (or the operation failed).
func (d *deskhub) addInstance(t *testing.T, env *lxdtest.Env, name, alias string, timeout time.Duration) {
	t.Helper()
	d.addInstanceOpts(t, env, name, alias, true, timeout)
}

// addInstanceOpts is addInstance, the instance started or not.
func (d *deskhub) addInstanceOpts(t *testing.T, env *lxdtest.Env, name, alias string, start bool, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	servers, err := d.admin.ListImageServers(ctx, vmm.ProviderLXD, d.serverID)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers.Data) == 0 || servers.Data[0].Attributes.Provider != vmm.ProviderInternal {
		t.Fatalf("image.serverList does not start with deskhub's own server: %+v", servers)
	}
	own := servers.Data[0].Attributes.ImageServerHost
	if want := "https://" + d.tlsAddr + "/simplestreams"; own != want {
		t.Fatalf("deskhub's image server is %q, want %q", own, want)
	}
	stream, err := d.admin.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	reqID := "pull-" + name
	if _, err := d.admin.AddInstance(ctx, vmm.InstanceAddRequest{ServerID: d.serverID, InstanceName: name, ImageAlias: alias,
		ImageServerHost: own, RequestID: reqID, Provider: vmm.ProviderLXD, InstanceStart: &start}); err != nil {
		t.Fatalf("instance.add: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		e, err := stream.NextEvent(wctx)
		if err != nil {
			t.Fatalf("waiting for instance.add %s: %v\n%s", name, err, d.srv.Logs())
		}
		if e.Type == "operation" && e.RequestID == reqID {
			switch e.Status {
			case vmm.OperationSuccess:
				env.CheckNoNIC(t, name)
				return
			case vmm.OperationFailure:
				t.Fatalf("instance.add %s failed: %+v\n%s", name, e, d.srv.Logs())
			}
		}
	}
}

// TestLXDPullsFromDeskhub: deskhub serves a unified image over HTTPS with a self-signed certificate; the
// real LXD daemon, told by instance.add to take the image from deskhub's image server, pulls it (with
// deskhub's certificate pinned), checks it against the index and runs an instance of it; image.list
// shows the pulled copy on that server and the catalog of deskhub's server shows the product.
func TestLXDPullsFromDeskhub(t *testing.T) {
	env := lxdtest.Get(t)
	d := startDeskhub(t, env)
	img, err := lxdtest.UnifiedImage(map[string]string{"etc/deskhub-test": "pulled from deskhub\n"})
	if err != nil {
		t.Fatal(err)
	}
	alias := env.Project + "/busybox"
	fp := d.publish(t, productReq("busybox", alias), time.Now().UTC().Format("20060102_1504"), img)

	ctx := context.Background()
	cat, err := d.admin.ListCatalogImages(ctx, vmm.ProviderLXD, d.serverID, "https://"+d.tlsAddr+"/simplestreams")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cat.Data, func(r jsonapi.Resource[vmm.ImageAttributes]) bool {
		return r.Attributes.ImageFingerprint == fp && slices.Contains(r.Attributes.ImageAliases, alias)
	}) {
		t.Fatalf("image.list of deskhub's image server lacks %s (%s): %+v", alias, fp, cat)
	}

	d.addInstance(t, env, "pulled", alias, 3*time.Minute)
	lxd := env.Client(t)
	out := env.Exec(t, "pulled", "cat", "/etc/deskhub-test")
	if strings.TrimSpace(out) != "pulled from deskhub" {
		t.Fatalf("the instance does not run the published image: %q", out)
	}
	inst, _, err := lxd.GetInstance("pulled")
	if err != nil {
		t.Fatal(err)
	}
	if inst.Config["volatile.base_image"] != fp {
		t.Fatalf("the instance's base image is %q, want deskhub's %s", inst.Config["volatile.base_image"], fp)
	}
	images, err := d.admin.ListImages(ctx, vmm.ProviderLXD, d.serverID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(images.Data, func(r jsonapi.Resource[vmm.ImageAttributes]) bool {
		return r.Attributes.ImageFingerprint == fp && r.Attributes.ImageCached
	}) {
		t.Fatalf("image.list of the LXD server lacks the pulled copy %s: %+v", fp, images)
	}
	fmt.Fprintf(os.Stderr, "pulled %s (%d bytes) from deskhub\n", fp[:12], len(img))
}
