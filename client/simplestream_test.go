package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/imagestore/imagetest"
)

// TestSimplestream: an administrator adds a product and streams an image to `deskhub serve`; anyone
// lists it, and the simplestreams tree serves it under both bases.
func TestSimplestream(t *testing.T) {
	ctx := context.Background()
	alice := infraLogin(t, "alice", alicePW)
	bob := infraLogin(t, "bob", bobPW)
	anon, _ := client.New(srv.URL, nil)

	_, err := bob.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "sdk", ProductRelease: "1", ProductArch: "amd64"})
	wantStatus(t, "SimplestreamAdd by a user", err, client.SurfaceInfra, http.StatusForbidden)
	p, err := alice.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "sdk", ProductRelease: "1", ProductArch: "amd64",
		ProductReleaseTitle: "SDK one", ProductAliases: "sdk/1"})
	if err != nil || p.Data.ID != "sdk:1:amd64:default" || p.Data.Attributes.ProductVariant != "default" {
		t.Fatalf("SimplestreamAdd: %+v, %v", p, err)
	}
	_, err = alice.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "sdk", ProductRelease: "../1", ProductArch: "amd64"})
	if e := wantStatus(t, "a release with ..", err, client.SurfaceInfra, http.StatusBadRequest); !strings.Contains(e.Message, "product_release") {
		t.Fatalf("the 400 does not name the member: %+v", e)
	}

	img := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("x86_64"), Rootfs: true, Compression: "gzip"})
	sum := sha256.Sum256(img)
	payload := vmm.SimplestreamUploadPayload{ProductID: p.Data.ID, ProductVersionSerial: "20261201_1200", FileSHA256: hex.EncodeToString(sum[:])}
	_, err = bob.SimplestreamUploadFile(ctx, payload, "img.tar.gz", bytes.NewReader(img), int64(len(img)))
	wantStatus(t, "SimplestreamUploadFile by a user", err, client.SurfaceInfra, http.StatusForbidden)
	up, err := alice.SimplestreamUploadFile(ctx, payload, "img.tar.gz", bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	a := up.Data.Attributes
	if a.FileType != "lxd_combined.tar.gz" || a.FileSize != int64(len(img)) || a.FileSHA256 != payload.FileSHA256 ||
		a.FilePath != "images/sdk/1/amd64/default/20261201_1200/img.tar.gz" || len(a.FileFingerprints) != 1 || a.FileFingerprints[0] != a.FileSHA256 {
		t.Fatalf("uploaded %+v", a)
	}
	_, err = alice.SimplestreamUploadFile(ctx, payload, "img.tar.gz", bytes.NewReader(img), -1)
	wantStatus(t, "the same file again", err, client.SurfaceInfra, http.StatusConflict)

	list, err := anon.SimplestreamList(ctx)
	if err != nil || len(list.Data) != 1 || strings.Join(list.Data[0].Attributes.ProductVersions, ",") != "20261201_1200" {
		t.Fatalf("SimplestreamList: %+v, %v", list, err)
	}
	files, err := anon.SimplestreamImages(ctx)
	if err != nil || len(files.Data) != 1 || files.Data[0].Attributes.FileName != "img.tar.gz" {
		t.Fatalf("SimplestreamImages: %+v, %v", files, err)
	}

	for _, base := range []string{"/simplestreams", "/api/v1/simplestream.list"} {
		index := get(t, srv.URL+base+"/streams/v1/index.json")
		if !strings.Contains(string(index), `"products":["sdk:1:amd64:default"]`) {
			t.Fatalf("%s index.json: %s", base, index)
		}
		if got := get(t, srv.URL+base+"/"+a.FilePath); !bytes.Equal(got, img) {
			t.Fatalf("%s: the file served is not the one uploaded", base)
		}
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, b)
	}
	return b
}
