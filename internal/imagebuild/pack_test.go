package imagebuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPackCompressions packs a small image directory with each compression and reads it back: the
// entries, owners kept numerically, a file capability (an extended attribute) and the byte counts.
func TestPackCompressions(t *testing.T) {
	dir := t.TempDir()
	md := Metadata{Arch: "amd64", CreationDate: time.Now().Unix(), Suite: "bookworm", Serial: "20250101_0000", Version: "v"}
	if err := writeMetadata(dir, md); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"usr/bin", "home/desktop"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(root, "usr/bin/prog")
	if err := os.WriteFile(prog, []byte(strings.Repeat("deskhub ", 4096)), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Lchown(filepath.Join(root, "home/desktop"), DesktopUID, DesktopUID)
	// cap_net_raw+ep, as ping carries it (VFS_CAP_REVISION_2).
	capXattr := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	haveCap := os.Geteuid() == 0 && syscall.Setxattr(prog, "security.capability", capXattr, 0) == nil

	for name, c := range Compressions {
		t.Run(name, func(t *testing.T) {
			if err := haveCompressor(name); err != nil {
				t.Fatalf("%v (scripts/deps.sh installs xz-utils and zstd)", err)
			}
			file := filepath.Join(t.TempDir(), "image"+c.Ext)
			f, err := os.Create(file)
			if err != nil {
				t.Fatal(err)
			}
			var in, out counter
			res, err := pack(context.Background(), dir, name, f, &in, &out)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			sum, size, _ := hashFile(file)
			if sum != res.SHA256 || size != res.Size || res.Uncompressed == 0 || res.Uncompressed != in.n.Load() {
				t.Fatalf("pack says %+v; the file has %s %d", res, sum, size)
			}
			entries, n := readImage(t, file)
			if n != res.Uncompressed {
				t.Errorf("tar stream %d bytes, pack counted %d", n, res.Uncompressed)
			}
			for _, want := range []string{"metadata.yaml", "templates/hostname.tpl", "templates/hosts.tpl", "rootfs/usr/bin/prog", "rootfs/bin"} {
				if entries[want] == nil {
					t.Errorf("%s missing", want)
				}
			}
			if e, _ := resolve(entries, "/bin/prog"); e == nil || e.hdr.Mode&0o111 == 0 {
				t.Errorf("/bin/prog does not resolve to the executable")
			}
			if os.Geteuid() == 0 {
				if e := entries["rootfs/home/desktop"]; e == nil || e.hdr.Uid != DesktopUID || e.hdr.Uname != "" {
					t.Errorf("home owner not kept numerically: %+v", e.hdr)
				}
			}
			if haveCap {
				e := entries["rootfs/usr/bin/prog"]
				if e == nil || e.hdr.PAXRecords["SCHILY.xattr.security.capability"] != string(capXattr) {
					t.Errorf("the file capability was not packed")
				}
			}
		})
	}
}
