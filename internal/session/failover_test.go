package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/placement"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// starter is a fleet whose Start fails on the servers of fail and takes a moment elsewhere (the
// placement logic alone: real starts are test/lxddesktop's).
type starter struct {
	fleet
	mu     sync.Mutex
	fail   map[string]error
	starts []string
	pause  time.Duration
}

func (f *starter) Start(_ context.Context, s provider.Spec) (*provider.Desktop, error) {
	f.mu.Lock()
	f.starts = append(f.starts, s.ServerID)
	err := f.fail[s.ServerID]
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	time.Sleep(f.pause)
	return &provider.Desktop{ID: s.ID, ServerID: s.ServerID, Display: ":1", StartedAt: time.Now()}, nil
}

// ServerLoad takes a moment, as reading an LXD server's resources does.
func (f *starter) ServerLoad(ctx context.Context, id string) (provider.Load, error) {
	time.Sleep(f.pause / 4)
	return f.fleet.ServerLoad(ctx, id)
}

func starterFleet() *starter {
	return &starter{fleet: fleet{
		servers: []provider.Server{
			{ID: host, Name: "here", Provider: "local", State: "online"},
			{ID: "lxd-1", StoreID: 1, Name: "srv1", Provider: "lxd", OwnerID: 1, State: "online"},
			{ID: "lxd-2", StoreID: 2, Name: "srv2", Provider: "lxd", OwnerID: 1, State: "online"},
		},
		loads: map[string]provider.Load{}, errs: map[string]error{},
	}, fail: map[string]error{}}
}

// TestStartFailover: a start that fails because the chosen server does not answer goes to the next
// server by the strategy; a server named by the caller is not replaced; a start that fails for another
// reason is not retried.
func TestStartFailover(t *testing.T) {
	f := starterFleet()
	f.servers = f.servers[1:] // the LXD servers alone
	f.fail["lxd-1"] = provider.Unavailablef(errors.New("dial unix: connection refused"), "LXD server lxd-1")
	s, st, users := placementService(t, &f.fleet, Options{Placement: placement.FewestSessions, Secrets: display.NewSecrets(time.Minute, nil)})
	s.prov = f
	for server := int64(1); server <= 2; server++ {
		running(t, st, users[2], server, 0)
	}
	alice := account.Caller{UserID: users[0].ID, Login: "alice"}
	ctx := context.Background()
	conn, err := s.Start(ctx, alice, StartSpec{Geometry: "800x600", Command: "xterm"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if len(f.starts) != 2 || f.starts[0] != "lxd-1" || f.starts[1] != "lxd-2" {
		t.Errorf("starts on %v, want lxd-1 then lxd-2", f.starts)
	}
	row, err := st.GetSession(ctx, conn.ID)
	if err != nil || row.ServerID != 2 || row.State != StateRunning {
		t.Errorf("the session: %+v %v", row, err)
	}
	// Named: no other server.
	f.starts = nil
	_, err = s.Start(ctx, alice, StartSpec{Geometry: "800x600", Command: "xterm", ServerID: "lxd-1"})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Unavailable || len(f.starts) != 1 {
		t.Errorf("Start on lxd-1 by name: %v, starts %v", err, f.starts)
	}
	// Every server fails: the answer says why for each.
	f.starts = nil
	f.fail["lxd-2"] = provider.Unavailablef(errors.New("i/o timeout"), "LXD server lxd-2")
	_, err = s.Start(ctx, alice, StartSpec{Geometry: "800x600", Command: "xterm"})
	if !errors.As(err, &fe) || fe.Kind != fault.Unavailable || len(f.starts) != 2 ||
		!strings.Contains(fe.Msg, "lxd-1 (srv1): unreachable: the start failed") || !strings.Contains(fe.Msg, "lxd-2 (srv2): unreachable: the start failed") {
		t.Errorf("Start with every server failing: %v, starts %v", err, f.starts)
	}
	// Another failure (the server answered): not retried elsewhere.
	f.starts = nil
	f.fail["lxd-1"], f.fail["lxd-2"] = errors.New("image not found"), errors.New("image not found")
	if _, err := s.Start(ctx, alice, StartSpec{Geometry: "800x600", Command: "xterm"}); err == nil || len(f.starts) != 1 {
		t.Errorf("Start failing for another reason: %v, starts %v", err, f.starts)
	}
	if rows, _ := st.ListSessions(ctx, store.SessionFilter{States: []string{StateStarting, StateRunning}}); len(rows) != 1 {
		t.Errorf("%d sessions starting or running, want the one that started", len(rows))
	}
}

// TestMaxPerServerConcurrent: starts at once never take a server past --max-sessions-per-server (the
// placement and the starting row are one step).
func TestMaxPerServerConcurrent(t *testing.T) {
	f := starterFleet()
	f.servers = f.servers[:2] // the host and lxd-1
	f.pause = 100 * time.Millisecond
	s, st, users := placementService(t, &f.fleet, Options{MaxPerServer: 2, Secrets: display.NewSecrets(time.Minute, nil)})
	s.prov = f
	running(t, st, users[2], 1, 0)
	root := account.Caller{UserID: users[2].ID, Login: "root", Admin: true}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Start(context.Background(), root, StartSpec{Geometry: "800x600", Command: "xterm", ServerID: "lxd-1"})
			mu.Lock()
			defer mu.Unlock()
			var fe *fault.Error
			switch {
			case err == nil:
				ok++
			case errors.As(err, &fe) && fe.Kind == fault.Unavailable:
				full++
			default:
				t.Errorf("Start: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 2 || full != 6 {
		t.Errorf("%d started, %d refused as full; want 2 and 6", ok, full)
	}
}

// sweeper is a provider whose sweeps find one desktop no session owns: from the second sweep on (the
// first is Resume's).
type sweeper struct {
	starter
	calls atomic.Int32
}

func (f *sweeper) Sweep(context.Context) ([]string, error) {
	if f.calls.Add(1) == 1 {
		return nil, nil
	}
	return []string{"s-orphan"}, nil
}

func (f *sweeper) Adopt(context.Context, provider.Desktop) (*provider.Desktop, error) {
	return nil, provider.ErrGone
}

// TestPeriodicSweep: desktops no session owns are swept while deskhub runs, not only at its start, and
// their sessions marked ended.
func TestPeriodicSweep(t *testing.T) {
	f := &sweeper{starter: *starterFleet()}
	s, st, users := placementService(t, &f.fleet, Options{SweepInterval: 200 * time.Millisecond})
	s.prov = f
	ctx := context.Background()
	if err := s.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	row := store.Session{ID: "s-orphan", UserID: users[0].ID, State: StateRunning}
	if err := st.CreateSession(ctx, &row); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := st.GetSession(ctx, "s-orphan")
		if err == nil && got.State == StateEnded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the swept desktop's session is %q (%v)", got.State, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if f.calls.Load() < 2 {
		t.Errorf("%d sweeps", f.calls.Load())
	}
}
