package cgmem

import (
	"os"
	"path/filepath"
	"testing"
)

const statV2 = "anon 31457280\nfile 104857600\nkernel 9000000\nslab 6291456\nfile_mapped 52428800\n"
const statV1 = "cache 0\nrss 0\ntotal_cache 104857600\ntotal_rss 31457280\ntotal_mapped_file 52428800\n"

func TestParseStat(t *testing.T) {
	s, err := ParseStat([]byte(statV2), 2, 150000000)
	if err != nil || s != (Stat{Current: 150000000, Anon: 31457280, File: 104857600, Slab: 6291456}) {
		t.Errorf("v2: %+v %v", s, err)
	}
	s, err = ParseStat([]byte(statV1), 1, 140000000)
	if err != nil || s != (Stat{Current: 140000000, Anon: 31457280, File: 104857600}) {
		t.Errorf("v1: %+v %v", s, err)
	}
	for _, bad := range []string{"", "anon x\nfile 1\n", "anon -1\nfile 2\n", "rss 1\ncache 2\n"} {
		if _, err := ParseStat([]byte(bad), 2, 1); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseStat([]byte(statV2), 3, 1); err == nil {
		t.Error("cgroup version 3 accepted")
	}
}

// TestRoot finds the memory cgroup of each layout: v2 (memory.current), v1 mounted at the directory, v1
// under memory/; and reads it.
func TestRoot(t *testing.T) {
	for _, c := range []struct {
		sub, current, stat string
		v                  int
	}{{"", "memory.current", statV2, 2}, {"", "memory.usage_in_bytes", statV1, 1}, {"memory", "memory.usage_in_bytes", statV1, 1}} {
		root := t.TempDir()
		dir := filepath.Join(root, c.sub)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, c.current), []byte("123456789\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "memory.stat"), []byte(c.stat), 0o644)
		got, v, err := Root(root)
		if err != nil || got != dir || v != c.v {
			t.Errorf("%+v: Root %q %d %v", c, got, v, err)
			continue
		}
		s, err := Read(got, v)
		if err != nil || s.Current != 123456789 || s.File != 104857600 {
			t.Errorf("%+v: Read %+v %v", c, s, err)
		}
	}
	if _, _, err := Root(t.TempDir()); err == nil {
		t.Error("an empty directory has a memory cgroup")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statV2), 2)
	f.Add([]byte(statV1), 1)
	f.Fuzz(func(t *testing.T, b []byte, v int) {
		s, err := ParseStat(b, v, 1)
		if err == nil && (s.Anon < 0 || s.File < 0 || s.Slab < 0) {
			t.Errorf("negative figures accepted: %+v", s)
		}
	})
}
