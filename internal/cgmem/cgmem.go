// Package cgmem returns an idle desktop's page cache to the host: proactive reclaim through cgroup v2's
// memory.reclaim (docs/LXD-DESKTOPS.md "Idle desktops give back their page cache").
//
// An LXD desktop's cgroup counts, beside its processes' own memory (~30 MiB), the page cache of every
// file it read while starting (~100 MiB: Xvnc, openbox, fonts, locales, libraries). Each instance's
// files are inodes of their own (a btrfs snapshot shares blocks, not the page cache), so that cache is
// per desktop and is what makes an idle desktop cost 130 MiB. Reclaiming it once the desktop is idle
// drops it to what the processes hold; whatever is needed again is read back (from the pool's blocks,
// which the host caches once for all instances of the image). Anonymous memory is never pushed to swap
// by this: the request asks for the cgroup's file pages only, and says swappiness=0 where the kernel
// understands it.
package cgmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// DefaultRoot is where the calling process's memory cgroup is looked for (Root): inside an LXD
// container, the instance's own cgroup, whose memory controller is on cgroup v2 (/sys/fs/cgroup) or,
// on a host with the v1 hierarchy, under /sys/fs/cgroup/memory.
const DefaultRoot = "/sys/fs/cgroup"

// Stat is what a reclaim is judged by, in bytes.
type Stat struct {
	Current int64 `json:"current"` // v2 memory.current, v1 memory.usage_in_bytes: everything charged
	Anon    int64 `json:"anon"`    // processes' anonymous memory (v1: total_rss)
	File    int64 `json:"file"`    // page cache, mapped or not (v1: total_cache)
	Slab    int64 `json:"slab"`    // kernel objects: dentries, inodes, … (v2 only)
}

// Result tells what a reclaim did.
type Result struct {
	V      int  `json:"v"` // the cgroup version
	Before Stat `json:"before"`
	After  Stat `json:"after"`
}

// Root finds the memory cgroup directory under root (DefaultRoot, or a host's /sys/fs/cgroup with an
// instance's path appended by the caller) and its cgroup version.
func Root(dir string) (string, int, error) {
	if _, err := os.Stat(filepath.Join(dir, "memory.current")); err == nil {
		return dir, 2, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.usage_in_bytes")); err == nil {
		return dir, 1, nil
	}
	v1 := filepath.Join(dir, "memory")
	if _, err := os.Stat(filepath.Join(v1, "memory.usage_in_bytes")); err == nil {
		return v1, 1, nil
	}
	return "", 0, fmt.Errorf("cgmem: no memory cgroup at %s (neither v2 memory.current nor v1 memory/memory.usage_in_bytes)", dir)
}

// files are the names each cgroup version gives the figures.
var files = map[int]struct{ current, anon, file, slab string }{
	2: {"memory.current", "anon", "file", "slab"},
	1: {"memory.usage_in_bytes", "total_rss", "total_cache", ""},
}

// Read reads the memory figures of the cgroup at dir (as Root answers it) of version v.
func Read(dir string, v int) (Stat, error) {
	var s Stat
	f, ok := files[v]
	if !ok {
		return s, fmt.Errorf("cgmem: cgroup version %d", v)
	}
	cur, err := os.ReadFile(filepath.Join(dir, f.current))
	if err != nil {
		return s, fmt.Errorf("cgmem: %w", err)
	}
	if s.Current, err = strconv.ParseInt(string(bytes.TrimSpace(cur)), 10, 64); err != nil {
		return s, fmt.Errorf("cgmem: %s: %w", f.current, err)
	}
	st, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return s, fmt.Errorf("cgmem: %w", err)
	}
	return ParseStat(st, v, s.Current)
}

// ParseStat reads the anonymous, file and slab figures from the text of a memory.stat file of cgroup
// version v.
func ParseStat(b []byte, v int, current int64) (Stat, error) {
	s := Stat{Current: current}
	f, ok := files[v]
	if !ok {
		return s, fmt.Errorf("cgmem: cgroup version %d", v)
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, val, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case f.anon:
			dst = &s.Anon
		case f.file:
			dst = &s.File
		case f.slab:
			dst = &s.Slab
		default:
			continue
		}
		n, err := strconv.ParseInt(string(val), 10, 64)
		if err != nil || n < 0 {
			return s, fmt.Errorf("cgmem: memory.stat: bad %s value %q", k, val)
		}
		*dst = n
		found++
	}
	if found < 2 {
		return s, fmt.Errorf("cgmem: memory.stat has no %s and %s lines", f.anon, f.file)
	}
	return s, nil
}

// Reclaim asks the kernel to reclaim the page cache of the memory cgroup under root (Root), and
// answers the figures before and after. A cgroup whose cache cannot all be reclaimed (pages in use,
// dirty pages) is no error: the kernel takes what it can. v2: memory.reclaim for the page cache and
// reclaimable kernel objects, with swappiness=0 where the kernel understands it (≥ 6.8). v1: the
// cgroup's memory.force_empty, which reclaims all it can — anonymous memory too when the host has
// swap, so on such a host a v1 cgroup is not reclaimed unless its memory.swappiness is 0.
func Reclaim(root string) (Result, error) {
	var r Result
	dir, v, err := Root(root)
	if err != nil {
		return r, err
	}
	r.V = v
	if r.Before, err = Read(dir, v); err != nil {
		return r, err
	}
	switch want := r.Before.File + r.Before.Slab; {
	case want <= 0:
	case v == 2:
		err = reclaimV2(filepath.Join(dir, "memory.reclaim"), want)
	default:
		err = reclaimV1(dir)
	}
	if err != nil {
		return r, err
	}
	r.After, err = Read(dir, v)
	return r, err
}

// reclaimV2 asks memory.reclaim for n bytes.
func reclaimV2(path string, n int64) error {
	num := strconv.FormatInt(n, 10)
	err := writeFile(path, num+" swappiness=0")
	if errors.Is(err, syscall.EINVAL) { // a kernel without the argument
		err = writeFile(path, num)
	}
	if errors.Is(err, syscall.EAGAIN) { // less than asked could be reclaimed: what could, was
		err = nil
	}
	return err
}

// reclaimV1 writes memory.force_empty, unless that could push the desktop's memory to swap.
func reclaimV1(dir string) error {
	if swaps, err := os.ReadFile("/proc/swaps"); err == nil && bytes.Count(bytes.TrimSpace(swaps), []byte{'\n'}) > 0 {
		sw, err := os.ReadFile(filepath.Join(dir, "memory.swappiness"))
		if err != nil || string(bytes.TrimSpace(sw)) != "0" {
			return errors.New("cgmem: cgroup v1 on a host with swap: force_empty would swap the desktop's memory out (set the instance's limits.memory.swap=false)")
		}
	}
	return writeFile(filepath.Join(dir, "memory.force_empty"), "0")
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cgmem: %w", err)
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cgmem: writing %s: %w", path, err)
	}
	return nil
}
