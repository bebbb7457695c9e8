package images

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/imagebuild"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// BenchmarkPull compares, in one run, two ways the real LXD gets the desktop image (built offline by
// internal/imagebuild from the package cache, with this deskhub binary inside): pulled from deskhub's
// image server over HTTPS on loopback (what instance.add with image_server_host does), and `lxc image
// import` of the same file from disk. Each iteration does both, deleting the image after each. Reports
// p50 of each in seconds, the ratio pull/import, and the image's size.
func BenchmarkPull(b *testing.B) {
	env := lxdtest.Get(b)
	d := startDeskhubTB(b, env)
	bin, err := servetest.Binary()
	if err != nil {
		b.Fatal(err)
	}
	rep, err := imagebuild.Build(context.Background(), imagebuild.Options{Offline: true, Binary: bin,
		Output: filepath.Join(b.TempDir(), "desktop.tar.xz")})
	if err != nil {
		b.Fatalf("image build (offline; scripts/image-cache.sh fills the cache): %v", err)
	}
	file, err := os.ReadFile(rep.Output)
	if err != nil {
		b.Fatal(err)
	}
	alias := env.Project + "/desktop"
	d.publish(b, productReq("desktop", alias), rep.Serial, file)
	lxd := env.Client(b)
	pem, err := os.ReadFile(filepath.Join(d.srv.Data, "tls", "cert.pem"))
	if err != nil {
		b.Fatal(err)
	}
	drop := func() {
		if _, _, err := lxd.GetImage(rep.SHA256); err == nil {
			op, err := lxd.DeleteImage(rep.SHA256)
			if err == nil {
				err = op.Wait()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	drop()
	var pulls, imports []time.Duration
	for b.Loop() {
		t0 := time.Now()
		op, err := lxd.CreateImage(api.ImagesPost{Source: &api.ImagesPostSource{Type: "image", Mode: "pull",
			ImageSource: api.ImageSource{Server: "https://" + d.tlsAddr + "/simplestreams", Protocol: "simplestreams",
				Alias: alias, Certificate: string(pem)}}}, nil)
		if err == nil {
			err = op.Wait()
		}
		if err != nil {
			b.Fatalf("pull from deskhub: %v", err)
		}
		pulls = append(pulls, time.Since(t0))
		drop()

		t0 = time.Now()
		cmd := exec.Command("lxc", "image", "import", rep.Output, "--project", env.Project)
		cmd.Env = append(os.Environ(), "LXD_DIR=/var/lib/lxd")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("lxc image import: %v\n%s", err, out)
		}
		imports = append(imports, time.Since(t0))
		drop()
	}
	p50 := func(l []time.Duration) float64 {
		s := slices.Clone(l)
		slices.Sort(s)
		return s[len(s)/2].Seconds()
	}
	b.ReportMetric(p50(pulls), "pull-p50-s")
	b.ReportMetric(p50(imports), "import-p50-s")
	b.ReportMetric(p50(pulls)/p50(imports), "pull/import")
	b.ReportMetric(float64(rep.Size)/(1<<20), "image-MiB")
}
