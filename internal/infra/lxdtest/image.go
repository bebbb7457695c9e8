package lxdtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// busyboxPath is /bin/busybox of the Debian package busybox-static: a static binary, so the image needs
// no libraries.
const busyboxPath = "/bin/busybox"

// busyboxLinks are the applets linked in /bin besides /sbin/init.
var busyboxLinks = []string{"sh", "init", "sleep", "ls", "cat"}

// staticBusybox returns the content of /bin/busybox, which must be statically linked.
func staticBusybox() ([]byte, error) {
	const hint = "install the Debian package busybox-static (scripts/deps.sh)"
	f, err := elf.Open(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; %s", busyboxPath, err, hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; %s", busyboxPath, hint)
		}
	}
	return os.ReadFile(busyboxPath)
}

// machine returns the kernel's architecture name (uname -m), e.g. x86_64.
func machine() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "x86_64"
	}
	var b strings.Builder
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// buildImage returns the two tarballs of a split LXD container image: metadata (metadata.yaml) and
// rootfs (/bin/busybox and its links, /sbin/init -> busybox, empty /etc, /proc, /sys, /dev, /tmp, /root
// and /run), plus extra regular files (path relative to / → content).
func buildImage(busybox []byte, extra map[string]string) (meta, rootfs []byte, err error) {
	now := time.Now()
	meta, err = targz(func(tw *tar.Writer) error { return writeMetadata(tw, now) })
	if err != nil {
		return nil, nil, err
	}
	rootfs, err = targz(func(tw *tar.Writer) error { return writeRootfs(tw, "", busybox, extra, now) })
	if err != nil {
		return nil, nil, err
	}
	return meta, rootfs, nil
}

// UnifiedImage builds the busybox test image as one unified tarball (metadata.yaml and rootfs/), the
// form `lxc image import FILE` and simplestreams' lxd_combined.tar.gz take, plus extra regular files.
func UnifiedImage(extra map[string]string) ([]byte, error) {
	busybox, err := staticBusybox()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return targz(func(tw *tar.Writer) error {
		if err := writeMetadata(tw, now); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "rootfs/", Mode: 0o755, ModTime: now}); err != nil {
			return err
		}
		return writeRootfs(tw, "rootfs/", busybox, extra, now)
	})
}

func writeMetadata(tw *tar.Writer, now time.Time) error {
	yaml := fmt.Sprintf("architecture: %s\ncreation_date: %d\nproperties:\n  os: busybox\n  release: deskhub-test\n  description: deskhub test image (busybox-static)\n",
		machine(), now.Unix())
	return writeFile(tw, "metadata.yaml", 0o644, []byte(yaml), now)
}

// writeRootfs writes the busybox root file system with every name under prefix.
func writeRootfs(tw *tar.Writer, prefix string, busybox []byte, extra map[string]string, now time.Time) error {
	dirs := []struct {
		name string
		mode int64
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"etc", 0o755}, {"proc", 0o555}, {"sys", 0o555},
		{"dev", 0o755}, {"tmp", 0o1777}, {"root", 0o700}, {"run", 0o755},
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix + d.name + "/", Mode: d.mode, ModTime: now}); err != nil {
			return err
		}
	}
	if err := writeFile(tw, prefix+"bin/busybox", 0o755, busybox, now); err != nil {
		return err
	}
	for _, l := range busyboxLinks {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: prefix + "bin/" + l, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: prefix + "sbin/init", Linkname: "/bin/busybox", Mode: 0o777, ModTime: now}); err != nil {
		return err
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := writeFile(tw, prefix+name, 0o644, []byte(extra[name]), now); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func targz(fill func(*tar.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := fill(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// importImage builds a busybox image, uploads it as a split image into c's project and gives it alias.
// It returns the fingerprint.
func importImage(c incus.InstanceServer, busybox []byte, alias string, extra map[string]string) (string, error) {
	meta, rootfs, err := buildImage(busybox, extra)
	if err != nil {
		return "", fmt.Errorf("build image: %w", err)
	}
	sum := sha256.New()
	sum.Write(meta)
	sum.Write(rootfs)
	want := hex.EncodeToString(sum.Sum(nil))

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	op, err := c.CreateImage(api.ImagesPost{}, &incus.ImageCreateArgs{
		MetaFile:   bytes.NewReader(meta),
		MetaName:   "meta.tar.gz",
		RootfsFile: bytes.NewReader(rootfs),
		RootfsName: "rootfs.tar.gz",
		Type:       string(api.InstanceTypeContainer),
	})
	if err == nil {
		err = op.WaitContext(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("import image %s: %w", alias, err)
	}
	fp, _ := op.Get().Metadata["fingerprint"].(string)
	if fp == "" {
		fp = want
	}
	if fp != want {
		return "", fmt.Errorf("import image %s: LXD says fingerprint %s, expected %s", alias, fp, want)
	}
	err = c.CreateImageAlias(api.ImageAliasesPost{ImageAliasesEntry: api.ImageAliasesEntry{
		Name: alias,
		Type: string(api.InstanceTypeContainer),
		ImageAliasesEntryPut: api.ImageAliasesEntryPut{
			Target:      fp,
			Description: "deskhub lxdtest busybox image",
		},
	}})
	if err != nil {
		return "", fmt.Errorf("create image alias %s -> %.12s: %w", alias, fp, err)
	}
	return fp, nil
}
