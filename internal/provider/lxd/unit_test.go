package lxd

import (
	"errors"
	"strings"
	"testing"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

func TestInstanceName(t *testing.T) {
	p := &Provider{o: Options{Per: PerSession, BrokerID: "b1"}}
	for id, want := range map[string]string{
		"0b7c4a8e-3f2d-4e55-9a1b-2c3d4e5f6a7b": "dh-0b7c4a8e-3f2d-4e55-9a1b-2c3d4e5f6a7b",
		"work":                                 "dh-work",
	} {
		if got := p.InstanceName(id, 7); got != want {
			t.Errorf("%q: %q, want %q", id, got, want)
		}
	}
	// Ids LXD would refuse as names, or that could collide once lower-cased, are hashed.
	seen := map[string]string{}
	for _, id := range []string{"Work", "a_b", "a.b", "x-", "a--b", strings.Repeat("a", 64)} {
		got := p.InstanceName(id, 7)
		if !strings.HasPrefix(got, "dh-s") || len(got) != 24 {
			t.Errorf("%q: %q, want dh-s<20 hex>", id, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q share %q", id, other, got)
		}
		seen[got] = id
	}
	p.o.Per = PerUser
	a, b := p.InstanceName("s1", 7), p.InstanceName("s2", 7)
	if a != b || !strings.HasPrefix(a, "dh-u7-") {
		t.Errorf("per user: %q, %q", a, b)
	}
	p.o.BrokerID = "b2"
	if p.InstanceName("s1", 7) == a {
		t.Error("two deskhubs name their per-user instances alike")
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"xterm", "-e", "echo it's $HOME; rm -rf /"})
	want := `exec 'xterm' '-e' 'echo it'\''s $HOME; rm -rf /'`
	if got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
}

func TestTransportFor(t *testing.T) {
	p := &Provider{o: Options{Transport: TransportAuto}}
	for _, tc := range []struct {
		row  store.Server
		want string
	}{
		{store.Server{Path: "/var/lib/lxd/unix.socket"}, TransportProxy},
		{store.Server{Host: "127.0.0.1", Port: 8443}, TransportProxy},
		{store.Server{Host: "::1", Port: 8443}, TransportProxy},
		{store.Server{Host: "localhost", Port: 8443}, TransportProxy},
		{store.Server{Host: "10.0.0.5", Port: 8443}, TransportExec},
		{store.Server{Host: "lxd.example.org", Port: 8443}, TransportExec},
	} {
		if got := p.transportFor(tc.row); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.row, got, tc.want)
		}
	}
	p.o.Transport = TransportExec
	if got := p.transportFor(store.Server{Path: "/x"}); got != TransportExec {
		t.Errorf("forced exec: %s", got)
	}
}

func TestBadCommandReason(t *testing.T) {
	for why, want := range map[string]bool{
		"the command ended (exit status 127)": true,
		"the command ended (exit status 126)": true,
		"the command ended (exit status 0)":   false,
		"signal SIGPWR":                       false,
	} {
		if got := badCommand(why); got != want {
			t.Errorf("%q: %v", why, got)
		}
	}
}

func TestSourceName(t *testing.T) {
	for src, want := range map[string]string{
		"/1.0/instances/dh-x?project=p": "dh-x",
		"/1.0/instances/dh-y":           "dh-y",
		"/1.0/instances/dh-%7A":         "dh-z",
	} {
		if got := sourceName(src); got != want {
			t.Errorf("%q: %q", src, got)
		}
	}
}

func TestStoredServerID(t *testing.T) {
	if provider.StoredServerID(12) != "lxd-12" {
		t.Fatal(provider.StoredServerID(12))
	}
	for s, want := range map[string]int64{"lxd-1": 1, "lxd-42": 42, "lxd-": 0, "lxd-0": 0, "lxd-01": 0, "lxd-+1": 0,
		"lxd-x": 0, "3f1b": 0, "": 0, "lxd--1": 0} {
		got, ok := provider.ParseStoredServerID(s)
		if got != want || ok != (want != 0) {
			t.Errorf("%q: %d %v", s, got, ok)
		}
	}
}

// TestNotFrozen: LXD's refusal to unfreeze a running instance — in the state operation's error (a plain
// error) or in a 400 — means there is nothing to thaw; other errors do not.
func TestNotFrozen(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("container is not frozen"), true},
		{errors.New("The instance is already running"), true},
		{api.StatusErrorf(400, "The container is already running"), true},
		{api.StatusErrorf(500, "The container is already running"), false},
		{errors.New("Failed to unfreeze: permission denied"), false},
	} {
		if got := notFrozen(tc.err); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
}
