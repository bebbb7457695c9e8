package imagestore_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/imagestore"
	"github.com/deskhub/deskhub/internal/imagestore/imagetest"
	"github.com/deskhub/deskhub/internal/store"
)

// FuzzClassify: whatever an upload holds (compressed streams, tarballs, metadata.yaml), Classify does
// not panic, refuses with a 400 about "file", and accepts only the four kinds, a tarball's with the
// metadata it requires.
func FuzzClassify(f *testing.F) {
	meta := imagetest.Meta("x86_64")
	for _, seed := range [][]byte{
		imagetest.Tarball(f, imagetest.Tar{Metadata: meta, Rootfs: true}),
		imagetest.Tarball(f, imagetest.Tar{Metadata: meta, Rootfs: true, Compression: "gzip"}),
		imagetest.Tarball(f, imagetest.Tar{Metadata: meta, Compression: "xz"}),
		imagetest.Tarball(f, imagetest.Tar{Metadata: meta, Compression: "zstd"}),
		imagetest.Tarball(f, imagetest.Tar{Metadata: "architecture: [\n", Rootfs: true}),
		imagetest.Tarball(f, imagetest.Tar{Metadata: "a: &a [*a, *a]\n"}),
		imagetest.Tarball(f, imagetest.Tar{Rootfs: true}),
		imagetest.SquashFS(64, 0),
		imagetest.Qcow2(64, 0),
		[]byte("BZh91AY&SY"),
		[]byte{0x1f, 0x8b},
		{},
	} {
		f.Add(seed)
	}
	if bz, err := os.ReadFile("testdata/meta.tar.bz2"); err == nil {
		f.Add(bz)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := imagestore.Classify(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != "file" || fe.Msg == "" {
				t.Fatalf("refusal is not a 400 about the file: %v", err)
			}
			return
		}
		switch c.Type {
		case store.ImageUnified, store.ImageMetadata:
			if c.Metadata == nil || c.Metadata.Architecture == "" || c.Metadata.CreationDate <= 0 {
				t.Fatalf("accepted a tarball without its metadata: %+v", c)
			}
		case store.ImageSquashFS, store.ImageDiskKVM:
		default:
			t.Fatalf("unknown class %+v", c)
		}
	})
}
