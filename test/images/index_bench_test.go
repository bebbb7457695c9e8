package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/imagestore/imagetest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// BenchmarkIndex100 measures the simplestreams documents LXD reads first — streams/v1/index.json and
// streams/v1/images.json — from the real deskhub binary over loopback, with 100 products of one
// version each. Reports p50/p99 per document and the size of images.json.
func BenchmarkIndex100(b *testing.B) {
	data, err := servetest.NewDataDir()
	if err != nil {
		b.Fatal(err)
	}
	if err := servetest.AddUser(data, "admin", adminPW, true); err != nil {
		b.Fatal(err)
	}
	srv, err := servetest.Start(data, servetest.Options{Flags: []string{"--log-level", "error"}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	admin, err := client.New(srv.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := admin.UserLogin(ctx, "admin", adminPW); err != nil {
		b.Fatal(err)
	}
	serial := time.Now().UTC().Format("20060102_1504")
	for i := range 100 {
		p, err := admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: fmt.Sprintf("r%03d", i),
			ProductArch: "amd64", ProductVariant: "desktop", ProductAliases: fmt.Sprintf("bench/%03d", i)})
		if err != nil {
			b.Fatal(err)
		}
		img := imagetest.Tarball(b, imagetest.Tar{Metadata: imagetest.Meta("x86_64"), Rootfs: true, Compression: "gzip",
			Files: map[string]string{"templates/n.tpl": fmt.Sprint(i)}})
		if _, err := admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: p.Data.Attributes.ProductID,
			ProductVersionSerial: serial}, "lxd_combined.tar.gz", bytes.NewReader(img), int64(len(img))); err != nil {
			b.Fatal(err)
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(path string) int {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET %s: %s", path, resp.Status)
		}
		return int(n)
	}
	var lat = map[string][]time.Duration{}
	size := 0
	docs := []string{"/simplestreams/streams/v1/index.json", "/simplestreams/streams/v1/images.json"}
	for _, d := range docs {
		get(d) // warm the connection and the cache
	}
	b.ResetTimer()
	for b.Loop() {
		for _, d := range docs {
			t0 := time.Now()
			n := get(d)
			lat[d] = append(lat[d], time.Since(t0))
			if d == docs[1] {
				size = n
			}
		}
	}
	b.StopTimer()
	for _, d := range docs {
		l := lat[d]
		slices.Sort(l)
		name := "index"
		if d == docs[1] {
			name = "images"
		}
		b.ReportMetric(float64(l[len(l)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), name+"-p99-µs")
	}
	b.ReportMetric(float64(size), "images.json-bytes")
}
