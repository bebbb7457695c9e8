package lxdtest

import (
	"bytes"
	"os"
	"testing"
)

// BtrfsPool is the storage pool scripts/lxd.sh makes on a btrfs loop file (LXD makes the file) when
// the kernel has btrfs: instances on it are copy-on-write snapshots of their image.
const BtrfsPool = "deskhub-btrfs"

// KernelHasBtrfs tells whether /proc/filesystems lists btrfs.
func KernelHasBtrfs() bool {
	b, err := os.ReadFile("/proc/filesystems")
	return err == nil && bytes.Contains(b, []byte("\tbtrfs\n"))
}

// CoWPool is BtrfsPool when the kernel has btrfs — then the pool must exist (scripts/lxd.sh start makes
// it; it is run once when the pool is missing, and the test fails when it is still missing) — and ""
// (the project's default dir pool) on a kernel without btrfs.
func (e *Env) CoWPool(t testing.TB) string {
	t.Helper()
	if !KernelHasBtrfs() {
		t.Logf("lxdtest: this kernel has no btrfs: the instances stay on the dir pool %q", storagePool)
		return ""
	}
	c, err := connect(e.Socket)
	if err != nil {
		t.Fatalf("lxdtest: %v", err)
	}
	if _, _, err := c.GetStoragePool(BtrfsPool); err == nil {
		return BtrfsPool
	}
	out, err := lxdScript("start")
	if _, _, err2 := c.GetStoragePool(BtrfsPool); err2 != nil {
		t.Fatalf("lxdtest: the kernel has btrfs but LXD has no storage pool %s, and scripts/lxd.sh start did not make it "+
			"(it needs mkfs.btrfs, Debian's btrfs-progs: scripts/deps.sh): %v %v\n%s", BtrfsPool, err2, err, out)
	}
	return BtrfsPool
}
