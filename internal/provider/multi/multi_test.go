package multi

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

// fake is a provider that records what it is asked.
type fake struct {
	name  string
	mu    sync.Mutex
	calls []string
	ended chan provider.Ended
	swept []string
}

func newFake(name string) *fake { return &fake{name: name, ended: make(chan provider.Ended, 4)} }

func (f *fake) rec(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fake) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

func (f *fake) Name() string { return f.name }
func (f *fake) Start(_ context.Context, s provider.Spec) (*provider.Desktop, error) {
	f.rec("start:" + s.ID)
	if s.ID == "bad" {
		return nil, provider.ErrBadCommand
	}
	return &provider.Desktop{ID: s.ID}, nil
}
func (f *fake) Stop(_ context.Context, id string) error { f.rec("stop:" + id); return nil }
func (f *fake) Running(context.Context, string) (bool, error) {
	return true, nil
}
func (f *fake) Adopt(_ context.Context, d provider.Desktop) (*provider.Desktop, error) {
	f.rec("adopt:" + d.ID)
	return &d, nil
}
func (f *fake) DialRFB(_ context.Context, id string) (net.Conn, error) {
	f.rec("rfb:" + id)
	return nil, errors.New("fake")
}
func (f *fake) DialAgent(_ context.Context, id string) (net.Conn, error) {
	f.rec("agent:" + id)
	return nil, errors.New("fake")
}
func (f *fake) Screenshot(_ context.Context, id string, _ provider.ScreenshotOptions) ([]byte, error) {
	f.rec("shot:" + id)
	return nil, nil
}
func (f *fake) Exec(_ context.Context, id string, _ []string) (int, error) {
	f.rec("exec:" + id)
	return 1, nil
}
func (f *fake) Log(_ context.Context, id string, _ int) ([]byte, error) {
	f.rec("log:" + id)
	return nil, provider.ErrNotFound
}
func (f *fake) Ended() <-chan provider.Ended { return f.ended }
func (f *fake) Close() error                 { return nil }
func (f *fake) Sweep(context.Context) ([]string, error) {
	return f.swept, nil
}
func (f *fake) Load(context.Context) (provider.Load, error) { return provider.Load{CPUs: 4}, nil }
func (f *fake) Servers(context.Context) []provider.Server {
	return []provider.Server{{ID: "lxd-1", StoreID: 1, Provider: f.name, State: "online"}}
}
func (f *fake) ServerLoad(_ context.Context, id string) (provider.Load, error) {
	return provider.Load{CPUs: 8, Sessions: 2}, nil
}

func TestRouter(t *testing.T) {
	host, lxd := newFake("local"), newFake("lxd")
	host.swept, lxd.swept = []string{"h-orphan"}, []string{"l-orphan"}
	r := New("host-uuid", "here", host, Backend{Provider: lxd, Serves: func(id string) bool { return strings.HasPrefix(id, "lxd-") }})
	defer r.Close()
	ctx := context.Background()
	for _, s := range []provider.Spec{{ID: "a", ServerID: "host-uuid"}, {ID: "b"}, {ID: "c", ServerID: "lxd-1"}} {
		d, err := r.Start(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		want := s.ServerID
		if want == "" {
			want = "host-uuid"
		}
		if d.ServerID != want {
			t.Errorf("%s: server %q, want %q", s.ID, d.ServerID, want)
		}
	}
	if _, err := r.Start(ctx, provider.Spec{ID: "x", ServerID: "elsewhere"}); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("unknown server: %v", err)
	}
	if _, err := r.Start(ctx, provider.Spec{ID: "bad", ServerID: "lxd-1"}); !errors.Is(err, provider.ErrBadCommand) {
		t.Errorf("failed start: %v", err)
	}
	if _, err := r.Adopt(ctx, provider.Desktop{ID: "d", ServerID: "lxd-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Adopt(ctx, provider.Desktop{ID: "e", ServerID: "lxd-9x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Adopt(ctx, provider.Desktop{ID: "f", ServerID: "gone"}); !errors.Is(err, provider.ErrGone) {
		t.Errorf("adopt on an unknown server: %v", err)
	}
	for _, id := range []string{"a", "c", "d"} {
		_, _ = r.DialRFB(ctx, id)
		_, _ = r.DialAgent(ctx, id)
		_, _ = r.Screenshot(ctx, id, provider.ScreenshotOptions{})
		_, _ = r.Exec(ctx, id, []string{"x"})
	}
	if _, err := r.DialRFB(ctx, "nobody"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("unknown desktop: %v", err)
	}
	if err := r.Stop(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx, "unknown"); err != nil { // asked of every provider
		t.Fatal(err)
	}
	if got, want := host.got(), "start:a start:b rfb:a agent:a shot:a exec:a stop:unknown"; got != want {
		t.Errorf("host got %q\nwant %q", got, want)
	}
	if got, want := lxd.got(), "start:c start:bad adopt:d adopt:e rfb:c agent:c shot:c exec:c rfb:d agent:d shot:d exec:d stop:c stop:unknown"; got != want {
		t.Errorf("lxd got %q\nwant %q", got, want)
	}
	if _, err := r.DialRFB(ctx, "c"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("stopped desktop: %v", err)
	}
	// Ended events of both come out, and the desktop is forgotten.
	lxd.ended <- provider.Ended{ID: "d", Reason: "gone"}
	select {
	case e := <-r.Ended():
		if e.ID != "d" {
			t.Errorf("ended %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ended event")
	}
	if _, err := r.DialRFB(ctx, "d"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("ended desktop: %v", err)
	}
	ids, err := r.Sweep(ctx)
	if err != nil || strings.Join(ids, ",") != "h-orphan,l-orphan" {
		t.Errorf("sweep: %v %v", ids, err)
	}
	srv := r.Servers(ctx)
	if len(srv) != 2 || srv[0].ID != "host-uuid" || srv[0].Name != "here" || srv[0].State != "online" || srv[1].ID != "lxd-1" {
		t.Errorf("servers %+v", srv)
	}
	if l, err := r.ServerLoad(ctx, "host-uuid"); err != nil || l.CPUs != 4 {
		t.Errorf("host load %+v %v", l, err)
	}
	if l, err := r.ServerLoad(ctx, "lxd-1"); err != nil || l.CPUs != 8 {
		t.Errorf("lxd load %+v %v", l, err)
	}
}

// TestUnavailableHost: a host that cannot run desktops is listed with why.
func TestUnavailableHost(t *testing.T) {
	r := New("h", "here", provider.NewUnavailable(errors.New("no Xvnc")))
	defer r.Close()
	srv := r.Servers(context.Background())
	if len(srv) != 1 || srv[0].State != "unavailable" || srv[0].Err != "no Xvnc" {
		t.Errorf("servers %+v", srv)
	}
	_, err := r.Start(context.Background(), provider.Spec{ID: "a"})
	if !errors.Is(err, provider.ErrUnavailable) {
		t.Errorf("start: %v", err)
	}
}
