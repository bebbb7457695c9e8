package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/simplestreams"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/imagestore/imagetest"
	"github.com/deskhub/deskhub/internal/store"
)

// The simplestreams image server through HTTP: the four simplestream.* endpoints with the SDK (their
// requests and answers checked against /openapi.json), the tree under both bases as Incus's
// simplestreams client reads it, and refused uploads, each of which leaves the image directory and the
// index as they were.

const testImageMax = 2 << 20

func imagesHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarness(t, append([]harnessOpt{func(c *config.Config, _ *Options) {
		c.Images.MaxSize = testImageMax
	}}, opts...)...)
}

func sha(b ...[]byte) string {
	h := sha256.New()
	for _, x := range b {
		h.Write(x)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// imageState is the image directory's tree (paths and sizes) and the index in the store.
type imageState struct {
	Tree  map[string]int64
	Files []store.ImageFile
	Vers  []store.ImageVersion
}

func (h *harness) imageState() imageState {
	h.t.Helper()
	st := imageState{Tree: map[string]int64{}}
	dir := h.s.images.Dir()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		if d.IsDir() {
			rel += "/"
		}
		st.Tree[rel] = fi.Size()
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	if st.Files, err = h.s.store.ListImageFiles(ctx, ""); err != nil {
		h.t.Fatal(err)
	}
	if st.Vers, err = h.s.store.ListImageVersions(ctx, ""); err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) wantImageState(what string, before imageState) {
	h.t.Helper()
	if after := h.imageState(); !reflect.DeepEqual(after, before) {
		h.t.Fatalf("%s changed the image directory or the index:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// rawGet GETs path of the harness's listener.
func (h *harness) rawGet(path string, headers ...string) (*http.Response, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.url()+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, b
}

// TestSimplestreamLive: products and files through the SDK, the tree through Incus's simplestreams
// client under both bases, and the files it names, checked against their fingerprints.
func TestSimplestreamLive(t *testing.T) {
	h := imagesHarness(t)
	ctx := context.Background()
	admin := h.client(h.user("root", true))
	user := h.client(h.user("bob", false))
	anon := h.client("")

	empty, err := anon.SimplestreamList(ctx)
	if err != nil || len(empty.Data) != 0 {
		t.Fatalf("empty list: %+v, %v", empty, err)
	}
	_, err = user.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64"})
	wantErr(t, err, http.StatusForbidden, "administrators")
	_, err = anon.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64"})
	wantErr(t, err, http.StatusUnauthorized, "token")

	ct, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64",
		ProductVariant: "desktop", ProductReleaseTitle: "Debian 12", ProductAliases: "deb-desk,debian/12/desktop"})
	must(t, err)
	if a := ct.Data.Attributes; ct.Data.ID != "debian:bookworm:amd64:desktop" || a.ProductAliases != "deb-desk,debian/12/desktop" ||
		a.Provider != vmm.ProviderInternal || len(a.ProductVersions) != 0 || a.ProductCreatedAt.IsZero() {
		t.Fatalf("added %+v", ct)
	}
	vm, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "x86_64",
		ProductVariant: "vm", ProductAliases: "deb-vm"})
	must(t, err)
	_, err = admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "trixie", ProductArch: "amd64", ProductAliases: "deb-vm"})
	wantErr(t, err, http.StatusConflict, `alias "deb-vm" belongs to product debian:bookworm:x86_64:vm`)
	_, err = admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64", ProductVariant: "desktop"})
	wantErr(t, err, http.StatusConflict, "exists already")
	for _, rel := range []string{"a/b", "..", "x\x00"} {
		_, err = admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: rel, ProductArch: "amd64"})
		if e := wantErr(t, err, http.StatusBadRequest, `member "product_release"`); !strings.HasSuffix(e.Pointer, "/product_release") {
			t.Fatalf("release %q: pointer %q", rel, e.Pointer)
		}
	}

	// A unified container image, streamed, its sha256 checked; a split VM image: the metadata as JSON
	// (base64), the disk streamed without a Content-Length.
	unified := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("x86_64"), Rootfs: true, Compression: "gzip"})
	up, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: ct.Data.ID, ProductVersionSerial: "20261201_1200",
		FileSHA256: sha(unified)}, "debian.tar.gz", bytes.NewReader(unified), int64(len(unified)))
	must(t, err)
	if a := up.Data.Attributes; a.FileType != "lxd_combined.tar.gz" || a.FileName != "debian.tar.gz" || a.FileSHA256 != sha(unified) ||
		a.FilePath != "images/debian/bookworm/amd64/desktop/20261201_1200/debian.tar.gz" || !slices.Equal(a.FileFingerprints, []string{sha(unified)}) {
		t.Fatalf("uploaded %+v", up)
	}
	meta := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Files: map[string]string{"templates/h.tpl": "x"}, Compression: "xz"})
	disk := imagetest.Qcow2(300<<10, 7)
	m, err := admin.SimplestreamUpload(ctx, vmm.SimplestreamUploadRequest{File: meta,
		Payload: vmm.SimplestreamUploadPayload{ProductID: vm.Data.ID, ProductVersionSerial: "20261202"}})
	must(t, err)
	if m.Data.Attributes.FileName != "lxd.tar.xz" || m.Data.Attributes.FileType != "lxd.tar.xz" || len(m.Data.Attributes.FileFingerprints) != 0 {
		t.Fatalf("metadata %+v", m)
	}
	d, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: vm.Data.ID, ProductVersionSerial: "20261202"},
		"", io.MultiReader(bytes.NewReader(disk)), -1)
	must(t, err)
	if d.Data.Attributes.FileName != "disk.qcow2" || d.Data.Attributes.FileType != "disk-kvm.img" {
		t.Fatalf("disk %+v", d)
	}
	_, err = user.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: vm.Data.ID, ProductVersionSerial: "20261203"},
		"", bytes.NewReader(disk), int64(len(disk)))
	wantErr(t, err, http.StatusForbidden, "administrators")

	list, err := anon.SimplestreamList(ctx)
	must(t, err)
	if len(list.Data) != 2 || list.Data[0].ID != ct.Data.ID || !slices.Equal(list.Data[0].Attributes.ProductVersions, []string{"20261201_1200"}) ||
		!slices.Equal(list.Data[1].Attributes.ProductVersions, []string{"20261202"}) {
		t.Fatalf("list %+v", list)
	}
	files, err := anon.SimplestreamImages(ctx)
	must(t, err)
	if len(files.Data) != 3 {
		t.Fatalf("images %+v", files)
	}
	for _, f := range files.Data {
		if f.Attributes.FileName == "lxd.tar.xz" && !slices.Equal(f.Attributes.FileFingerprints, []string{sha(meta, disk)}) {
			t.Fatalf("the metadata's fingerprints: %+v", f.Attributes)
		}
	}

	// The tree, under both bases, as Incus reads it.
	var first []byte
	for _, base := range []string{treeBase, treeBaseAPI} {
		ss := simplestreams.NewClient(h.url()+base, http.Client{Timeout: 10 * time.Second}, "deskhub-test")
		imgs, err := ss.ListImages()
		must(t, err)
		byFP := map[string]string{}
		for _, im := range imgs {
			byFP[im.Fingerprint] = im.Type + " " + im.Properties["serial"] + " " + im.Architecture
		}
		want := map[string]string{sha(unified): "container 20261201_1200 x86_64", sha(meta, disk): "virtual-machine 20261202 x86_64"}
		if !reflect.DeepEqual(byFP, want) {
			t.Fatalf("%s: Incus sees %v, want %v", base, byFP, want)
		}
		alias, err := ss.GetAlias("container", "deb-desk/amd64")
		if err != nil || alias.Target != sha(unified) {
			t.Fatalf("%s: alias deb-desk/amd64: %+v, %v", base, alias, err)
		}
		// The files Incus would download, checked as it checks them.
		for fp, wantSum := range map[string]string{sha(unified): sha(unified), sha(meta, disk): sha(meta, disk)} {
			dl, err := ss.GetFiles(fp)
			must(t, err)
			h256 := sha256.New()
			for _, part := range []string{"meta", "root"} {
				f, ok := dl[part]
				if !ok {
					continue
				}
				resp, b := h.rawGet(base + "/" + f.Path)
				if resp.StatusCode != 200 || int64(len(b)) != f.Size || sha(b) != f.Sha256 {
					t.Fatalf("%s %s: %d, %d bytes", base, f.Path, resp.StatusCode, len(b))
				}
				h256.Write(b)
			}
			if got := hex.EncodeToString(h256.Sum(nil)); got != wantSum {
				t.Fatalf("%s: the files of %s hash to %s", base, fp, got)
			}
		}
		_, index := h.rawGet(base + "/streams/v1/index.json")
		if first == nil {
			first = index
		} else if !bytes.Equal(first, index) {
			t.Fatal("the two bases serve different index.json")
		}
	}

	// The four endpoints answered 2xx with their requests and answers (the upload's multipart form too)
	// checked against /openapi.json.
	validated.Lock()
	for _, key := range []string{"POST /api/v1/simplestream.add", "GET /api/v1/simplestream.list", "GET /api/v1/simplestream.images",
		"POST /api/v1/simplestream.upload"} {
		if !validated.m[key] {
			t.Errorf("%s was not validated against /openapi.json", key)
		}
	}
	validated.Unlock()

	// HTTP behaviour of the tree: ETag, Last-Modified, Range, HEAD, 404s.
	resp, _ := h.rawGet(treeBase + "/streams/v1/images.json")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("images.json: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := h.rawGet(treeBase+"/streams/v1/images.json", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	path := "/" + up.Data.Attributes.FilePath
	resp, part := h.rawGet(treeBase+path, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, unified[10:20]) || resp.Header.Get("ETag") != `"`+sha(unified)+`"` {
		t.Fatalf("Range: %d %q", resp.StatusCode, part)
	}
	hr, err := http.Head(h.url() + treeBase + path)
	must(t, err)
	hr.Body.Close()
	if hr.StatusCode != 200 || hr.ContentLength != int64(len(unified)) {
		t.Fatalf("HEAD: %d, length %d", hr.StatusCode, hr.ContentLength)
	}
	for _, p := range []string{"/streams/v1/other.json", "/images/debian/bookworm/amd64/desktop/20261201_1200/nope",
		"/images/debian/bookworm/amd64/desktop/20261201_1200/%2e%2e%2f%2e%2e%2fx", "/deskhub.db", "/"} {
		resp, body := h.rawGet(treeBase + p)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}

// multipartBody builds simplestream.upload's form by hand (payload first unless fileFirst).
func multipartBody(t *testing.T, payload string, fileName string, file []byte, fileFirst bool) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	writePayload := func() {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Disposition", `form-data; name="payload"`)
		hdr.Set("Content-Type", "application/json")
		w, _ := mw.CreatePart(hdr)
		_, _ = io.WriteString(w, payload)
	}
	if !fileFirst {
		writePayload()
	}
	w, _ := mw.CreateFormFile("file", fileName)
	_, _ = w.Write(file)
	if fileFirst {
		writePayload()
	}
	_ = mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// rawUpload sends a body over a fresh connection: all of it, or only its first n bytes, then closes
// the writing half; it answers the status and the JSON:API error detail.
func (h *harness) rawUpload(token, contentType string, body []byte, n int) (int, string) {
	h.t.Helper()
	u, _ := url.Parse(h.url())
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /api/v1/simplestream.upload HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		u.Host, token, contentType, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		h.t.Fatal(err)
	}
	_, _ = conn.Write(body[:n])
	if n < len(body) {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("no answer to a cut upload: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Errors []struct {
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) == 0 {
		h.t.Fatalf("answer %d is not a JSON:API error document: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, doc.Errors[0].Detail
}

// TestSimplestreamBadUploads: each refused upload is a clear 4xx in the JSON:API errors envelope and
// leaves the image directory and the index as they were.
func TestSimplestreamBadUploads(t *testing.T) {
	h := imagesHarness(t)
	ctx := context.Background()
	token := h.user("root", true)
	admin := h.client(token)
	p, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64"})
	must(t, err)
	good := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true, Compression: "gzip"})
	_, err = admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: p.Data.ID, ProductVersionSerial: "20261130"},
		"", bytes.NewReader(good), int64(len(good)))
	must(t, err)
	payload := func(serial string) vmm.SimplestreamUploadPayload {
		return vmm.SimplestreamUploadPayload{ProductID: p.Data.ID, ProductVersionSerial: serial}
	}
	before := h.imageState()
	big := make([]byte, testImageMax+1)
	copy(big, "hsqs")
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		detail string
	}{
		{"wrong sha256", func() error {
			pl := payload("20261201")
			pl.FileSHA256 = sha([]byte("something else"))
			_, err := admin.SimplestreamUploadFile(ctx, pl, "", bytes.NewReader(good), int64(len(good)))
			return err
		}, 400, "does not match the file's SHA-256"},
		{"over the max size, announced", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261201"), "", bytes.NewReader(big), int64(len(big)))
			return err
		}, 413, "limit"},
		{"over the max size, chunked", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261201"), "", io.MultiReader(bytes.NewReader(big)), -1)
			return err
		}, 413, "limit"},
		{"unknown product", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: "debian:trixie:amd64:default", ProductVersionSerial: "20261201"},
				"", bytes.NewReader(good), int64(len(good)))
			return err
		}, 404, "no product debian:trixie:amd64:default"},
		{"a product id with ..", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: "debian:..:amd64:default", ProductVersionSerial: "20261201"},
				"", bytes.NewReader(good), int64(len(good)))
			return err
		}, 400, `member "payload.product_id"`},
		{"a serial with /", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261201/../x"), "", bytes.NewReader(good), int64(len(good)))
			return err
		}, 400, `member "payload.product_version_serial" must not contain "/"`},
		{"a serial LXD cannot date", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, payload("v2"), "", bytes.NewReader(good), int64(len(good)))
			return err
		}, 400, "YYYYMMDD"},
		{"a file name with a leading dot", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261201"), ".hidden", bytes.NewReader(good), int64(len(good)))
			return err
		}, 400, "must not start with a dot"},
		{"a tarball without metadata.yaml", func() error {
			b := imagetest.Tarball(t, imagetest.Tar{Rootfs: true, Compression: "xz"})
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261201"), "", bytes.NewReader(b), int64(len(b)))
			return err
		}, 400, "not an image: no metadata.yaml"},
		{"metadata of another architecture", func() error {
			b := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("aarch64"), Rootfs: true})
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261201"), "", bytes.NewReader(b), int64(len(b)))
			return err
		}, 400, `metadata.yaml says architecture "aarch64"`},
		{"an existing version's file again", func() error {
			_, err := admin.SimplestreamUploadFile(ctx, payload("20261130"), "", bytes.NewReader(good), int64(len(good)))
			return err
		}, 409, "immutable"},
		{"JSON with a file that is not base64", func() error {
			r := h.call("POST", "/api/v1/simplestream.upload", token, `{"file":"%%%","payload":{"product_id":"`+p.Data.ID+`","product_version_serial":"20261201"}}`)
			return &client.Error{Status: r.Status, Message: r.detail()}
		}, 400, "base64"},
		{"JSON without a payload", func() error {
			r := h.call("POST", "/api/v1/simplestream.upload", token, `{"file":"aGk="}`)
			return &client.Error{Status: r.Status, Message: r.detail()}
		}, 400, `member "payload" is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantErr(t, err, tc.status, tc.detail)
			h.with(t).wantImageState(tc.name, before)
		})
	}

	// Multipart forms sent by hand, whole or cut short.
	okPayload := `{"product_id":"` + p.Data.ID + `","product_version_serial":"20261201"}`
	for _, tc := range []struct {
		name      string
		payload   string
		fileFirst bool
		cut       int // bytes to leave out at the end (0: none)
		status    int
		detail    string
	}{
		{"the file before the payload", okPayload, true, 0, 400, `member "payload" is required before the file`},
		{"a payload with an unknown member", `{"product_id":"x","product_version_serial":"20261201","x":1}`, false, 0, 400, `member "payload.x" is not known`},
		{"a payload without the serial", `{"product_id":"x"}`, false, 0, 400, `member "payload.product_version_serial" is required`},
		{"a payload that is not JSON", `product_id=x`, false, 0, 400, "not JSON"},
		{"cut in the middle of the file", okPayload, false, len(good) / 2, 400, "did not arrive whole"},
		{"cut before the closing boundary", okPayload, false, 10, 400, "did not arrive whole"},
		{"cut in the payload", okPayload, false, len(good) + 200, 400, "payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := multipartBody(t, tc.payload, "img.tar.gz", good, tc.fileFirst)
			status, detail := h.with(t).rawUpload(token, ct, body, len(body)-tc.cut)
			if status != tc.status || !strings.Contains(detail, tc.detail) {
				t.Fatalf("got %d %q, want %d with %q", status, detail, tc.status, tc.detail)
			}
			h.with(t).wantImageState(tc.name, before)
		})
	}
}

// pausedReader gives its first part, then waits for release before the rest.
type pausedReader struct {
	first, rest []byte
	started     chan struct{}
	release     chan struct{}
}

func (r *pausedReader) Read(p []byte) (int, error) {
	if len(r.first) > 0 {
		n := copy(p, r.first)
		r.first = r.first[n:]
		if len(r.first) == 0 {
			close(r.started)
		}
		return n, nil
	}
	<-r.release
	if len(r.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// TestSimplestreamConcurrentUpload: while one upload of a file runs, a second of the same file gets a
// 409 at once; the first then completes, and the version holds the one file. (The requests go
// through a plain client: the validating one reads a body whole before sending it.)
func TestSimplestreamConcurrentUpload(t *testing.T) {
	h := imagesHarness(t)
	ctx := context.Background()
	token := h.user("root", true)
	admin := h.client(token)
	p, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64"})
	must(t, err)
	plain, err := client.New(h.url(), &client.Options{Token: token})
	must(t, err)
	img := imagetest.SquashFS(256<<10, 3)
	pl := vmm.SimplestreamUploadPayload{ProductID: p.Data.ID, ProductVersionSerial: "20261201"}
	slow := &pausedReader{first: img[:64<<10], rest: img[64<<10:], started: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := plain.SimplestreamUploadFile(ctx, pl, "root.squashfs", slow, int64(len(img)))
		errc <- err
	}()
	<-slow.started
	time.Sleep(100 * time.Millisecond) // the server has read the form's head and claimed the file
	_, err = plain.SimplestreamUploadFile(ctx, pl, "root.squashfs", bytes.NewReader(img), int64(len(img)))
	wantErr(t, err, http.StatusConflict, "being uploaded already")
	close(slow.release)
	must(t, <-errc)
	files, err := admin.SimplestreamImages(ctx)
	must(t, err)
	if len(files.Data) != 1 || files.Data[0].Attributes.FileSHA256 != sha(img) {
		t.Fatalf("files %+v", files)
	}
}

// TestSimplestreamOff: with --simplestream off the calls answer 403 and the tree 404.
func TestSimplestreamOff(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Features.SimplestreamEnabled = false })
	_, err := h.client("").SimplestreamList(context.Background())
	wantErr(t, err, http.StatusForbidden, "disabled")
	if resp, _ := h.rawGet(treeBase + "/streams/v1/index.json"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the tree: %d", resp.StatusCode)
	}
}

// TestSimplestreamRetentionInUse: the server passes its ImagesInUse hook to retention.
func TestSimplestreamRetentionInUse(t *testing.T) {
	var used map[string]bool
	h := imagesHarness(t, func(c *config.Config, o *Options) {
		c.Images.KeepVersions = 1
		o.ImagesInUse = func(context.Context) (map[string]bool, error) { return used, nil }
	})
	ctx := context.Background()
	admin := h.client(h.user("root", true))
	p, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: "bookworm", ProductArch: "amd64"})
	must(t, err)
	var shas []string
	for _, serial := range []string{"20261201", "20261202", "20261203"} {
		img := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true, Files: map[string]string{"s": serial}})
		_, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: p.Data.ID, ProductVersionSerial: serial}, "", bytes.NewReader(img), -1)
		must(t, err)
		shas = append(shas, sha(img))
	}
	used = map[string]bool{shas[0]: true}
	removed, err := h.s.images.Prune(ctx)
	must(t, err)
	if len(removed) != 1 || removed[0].Serial != "20261202" {
		t.Fatalf("removed %+v", removed)
	}
	list, err := admin.SimplestreamList(ctx)
	must(t, err)
	if !slices.Equal(list.Data[0].Attributes.ProductVersions, []string{"20261201", "20261203"}) {
		t.Fatalf("versions %+v", list.Data[0].Attributes.ProductVersions)
	}
}
