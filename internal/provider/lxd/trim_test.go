package lxd

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReclaim(t *testing.T) {
	r, err := parseReclaim([]byte(`{"v":2,"before":{"current":140000000,"anon":30000000,"file":100000000,"slab":5000000},"after":{"current":40000000,"anon":30000000,"file":4000000,"slab":1000000}}`+"\n"), 0)
	if err != nil || r.V != 2 || r.Before.Current != 140000000 || r.After.File != 4000000 {
		t.Errorf("answer: %+v, %v", r, err)
	}
	if _, err := parseReclaim([]byte(`{"error":"cgmem: writing /sys/fs/cgroup/memory.reclaim: permission denied"}`), 1); err == nil ||
		!strings.Contains(err.Error(), "permission denied") || errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("an error answer: %v", err)
	}
	for _, out := range []string{"", "Usage: deskhub agent --display :N\n", `{"v":2}`, `{"before":{"current":5}}`} {
		if _, err := parseReclaim([]byte(out), 2); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%q: %v, want an old image's ErrUnsupported", out, err)
		}
	}
}

func FuzzParseReclaim(f *testing.F) {
	f.Add([]byte(`{"v":1,"before":{"current":9,"anon":1,"file":8},"after":{"current":1,"anon":1,"file":0}}`), 0)
	f.Add([]byte(`{"error":"x"}`), 1)
	f.Add([]byte(`garbage`), 2)
	f.Fuzz(func(t *testing.T, out []byte, code int) {
		r, err := parseReclaim(out, code)
		if err == nil && (code != 0 || r.Before.Current <= 0) {
			t.Errorf("accepted %q exit %d: %+v", out, code, r)
		}
	})
}

func TestMemoryCgroup(t *testing.T) {
	for in, want := range map[string]string{
		"12:pids:/lxc.payload.p_dh-1\n4:memory:/lxc.payload.p_dh-1\n0::/lxc.payload.p_dh-1\n": "/sys/fs/cgroup/memory/lxc.payload.p_dh-1",
		"0::/lxc.payload.dh-2\n":                   "/sys/fs/cgroup/lxc.payload.dh-2",
		"5:cpu,memory:/lxd/lxc.payload.x\n":        "/sys/fs/cgroup/memory/lxd/lxc.payload.x",
		"0::/\n":                                   "/sys/fs/cgroup",
		"4:memory:/a/../../etc\n0::/lxc.payload.y": "/sys/fs/cgroup/lxc.payload.y",
	} {
		if got, err := memoryCgroup([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "garbage", "3:cpu:/x\n", "0::relative\n"} {
		if got, err := memoryCgroup([]byte(in)); err == nil {
			t.Errorf("%q: %q accepted", in, got)
		}
	}
}

func FuzzMemoryCgroup(f *testing.F) {
	f.Add([]byte("4:memory:/lxc.payload.p_dh-1\n0::/x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir, err := memoryCgroup(b)
		if err == nil && !strings.HasPrefix(dir, "/sys/fs/cgroup") {
			t.Errorf("%q → %q, outside the cgroup tree", b, dir)
		}
	})
}
