package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/placement"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// fleet is a provider.Fleet of fixed servers and loads (only what placement asks).
type fleet struct {
	provider.Unavailable
	servers []provider.Server
	loads   map[string]provider.Load
	errs    map[string]error
}

func (f *fleet) Name() string                              { return "fleet" }
func (f *fleet) Servers(context.Context) []provider.Server { return f.servers }
func (f *fleet) ServerLoad(_ context.Context, id string) (provider.Load, error) {
	return f.loads[id], f.errs[id]
}
func (f *fleet) DialRFB(context.Context, string) (net.Conn, error) { return nil, errors.New("none") }

const host = "host-uuid"

func placementService(t *testing.T, f *fleet, o Options) (*Service, store.Store, []store.User) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var users []store.User
	for _, login := range []string{"alice", "bob", "root"} {
		u, _ := auth.NewLocalUser(login, login+"@example.org", "password-123", login == "root")
		if err := st.CreateUser(context.Background(), &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	o.Store, o.Provider, o.ServerID, o.Hostname = st, f, host, "here"
	return New(o), st, users
}

// running records n running sessions of user on server id (0: the host).
func running(t *testing.T, st store.Store, user store.User, server int64, n int) {
	t.Helper()
	ctx := context.Background()
	if server != 0 {
		if _, err := st.GetServer(ctx, server); err != nil {
			row := store.Server{ID: server, Name: fmt.Sprint("srv", server), Provider: "lxd", Host: "h", Port: int(server), OwnerID: user.ID}
			if err := st.CreateServer(ctx, &row); err != nil {
				t.Fatal(err)
			}
			if row.ID != server {
				t.Fatalf("server id %d, want %d", row.ID, server)
			}
		}
	}
	for i := range n {
		row := store.Session{ID: fmt.Sprintf("s-%d-%d-%d", user.ID, server, i), UserID: user.ID, ServerID: server, State: StateRunning}
		if err := st.CreateSession(ctx, &row); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlace is placement as a table: which servers a user may use, which can take a session, what
// each strategy picks, explicit serverIds, and the error when none can.
func TestPlace(t *testing.T) {
	gb := int64(1 << 30)
	newFleet := func() *fleet {
		return &fleet{
			servers: []provider.Server{
				{ID: host, Name: "here", Provider: "local", State: "online"},
				{ID: "lxd-1", StoreID: 1, Name: "srv1", Provider: "lxd", OwnerID: 1, State: "online"}, // alice's
				{ID: "lxd-2", StoreID: 2, Name: "srv2", Provider: "lxd", OwnerID: 3, State: "online"}, // root's
				{ID: "lxd-3", StoreID: 3, Name: "srv3", Provider: "lxd", OwnerID: 1, State: "offline", Err: "no route"},
				{ID: "lxd-4", StoreID: 4, Name: "srv4", Provider: "lxd", OwnerID: 3, Shared: true, State: "online"},
			},
			loads: map[string]provider.Load{host: {FreeMemory: 2 * gb}, "lxd-1": {FreeMemory: 8 * gb},
				"lxd-2": {FreeMemory: 16 * gb}, "lxd-4": {FreeMemory: 4 * gb}},
			errs: map[string]error{},
		}
	}
	for _, tc := range []struct {
		name     string
		strategy placement.Strategy
		maxPer   int
		login    string // alice, bob or root
		sessions map[int64]int
		unreach  string // a server whose load cannot be read
		want     string // chosen server, or "error: …"
	}{
		{name: "alice: fewest sessions among host, her srv1 and shared srv4", strategy: placement.FewestSessions, login: "alice",
			sessions: map[int64]int{0: 2, 1: 1, 4: 3}, want: "lxd-1"},
		{name: "alice: most free memory (root's 16 GiB srv2 is not hers)", strategy: placement.MostFreeMemory, login: "alice", want: "lxd-1"},
		{name: "root may use every server", strategy: placement.MostFreeMemory, login: "root", want: "lxd-2"},
		{name: "bob: the host and the shared server", strategy: placement.MostFreeMemory, login: "bob", want: "lxd-4"},
		{name: "full servers are skipped", strategy: placement.FewestSessions, maxPer: 2, login: "alice",
			sessions: map[int64]int{0: 2, 1: 2, 4: 1}, want: "lxd-4"},
		{name: "unreachable servers are skipped", strategy: placement.MostFreeMemory, login: "alice", unreach: "lxd-1", want: "lxd-4"},
		{name: "an unreadable host still takes sessions", strategy: placement.FewestSessions, login: "bob", unreach: host,
			sessions: map[int64]int{4: 1}, want: host},
		{name: "nothing can take it", strategy: placement.FewestSessions, maxPer: 1, login: "bob",
			sessions: map[int64]int{0: 1, 4: 1}, want: "error: no server can take your session now: " + host +
				" (here): full: it runs 1 sessions, the most per server; lxd-4 (srv4): full: it runs 1 sessions, the most per server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet()
			if tc.unreach != "" {
				f.errs[tc.unreach] = errors.New("connection refused")
			}
			s, st, users := placementService(t, f, Options{Placement: tc.strategy, MaxPerServer: tc.maxPer})
			var c account.Caller
			for _, u := range users {
				if u.Login == tc.login {
					c = account.Caller{UserID: u.ID, Login: u.Login, Admin: u.Admin}
				}
			}
			for server := int64(1); server <= 4; server++ {
				running(t, st, users[2], server, 0) // the server records
			}
			for server, n := range tc.sessions {
				running(t, st, users[2], server, n)
			}
			got, err := s.place(context.Background(), c, "")
			if strings.HasPrefix(tc.want, "error: ") {
				var fe *fault.Error
				if !errors.As(err, &fe) || fe.Kind != fault.Unavailable || fe.Msg != strings.TrimPrefix(tc.want, "error: ") {
					t.Fatalf("got %v, %v\nwant %s", got.ID, err, tc.want)
				}
				return
			}
			if err != nil || got.ID != tc.want {
				t.Fatalf("got %q, %v; want %q", got.ID, err, tc.want)
			}
		})
	}
}

// TestPlaceExplicit: a serverId names a server the caller may use and that can take the session.
func TestPlaceExplicit(t *testing.T) {
	f := &fleet{servers: []provider.Server{
		{ID: host, Name: "here", State: "online"},
		{ID: "lxd-1", StoreID: 1, Name: "srv1", OwnerID: 1, State: "online"},
		{ID: "lxd-2", StoreID: 2, Name: "srv2", OwnerID: 2, State: "online"},
		{ID: "lxd-3", StoreID: 3, Name: "srv3", OwnerID: 1, State: "untrusted", Err: "certificate revoked"},
	}}
	s, _, users := placementService(t, f, Options{})
	alice := account.Caller{UserID: users[0].ID, Login: "alice"}
	ctx := context.Background()
	for want, ok := range map[string]string{host: "", "lxd-1": "", "lxd-2": "Invalid", "lxd-9": "Invalid", "lxd-3": "Unavailable"} {
		got, err := s.place(ctx, alice, want)
		var fe *fault.Error
		switch {
		case ok == "" && (err != nil || got.ID != want):
			t.Errorf("%s: %v %v", want, got.ID, err)
		case ok == "Invalid" && (!errors.As(err, &fe) || fe.Kind != fault.Invalid || fe.Field != "serverId"):
			t.Errorf("%s: %v, want a 400 about serverId", want, err)
		case ok == "Unavailable" && (!errors.As(err, &fe) || fe.Kind != fault.Unavailable || !strings.Contains(fe.Msg, "certificate revoked")):
			t.Errorf("%s: %v, want a 503 saying why", want, err)
		}
	}
	prof, err := s.Profile(ctx, alice)
	if err != nil || strings.Join(prof.Servers, ",") != host+",lxd-1" {
		t.Errorf("profile servers %v %v", prof.Servers, err)
	}
}

// TestRoundRobin: round robin takes the servers the caller may use in turn.
func TestRoundRobin(t *testing.T) {
	f := &fleet{servers: []provider.Server{
		{ID: host, State: "online"}, {ID: "lxd-1", StoreID: 1, OwnerID: 1, State: "online"},
		{ID: "lxd-2", StoreID: 2, OwnerID: 2, State: "online"}, {ID: "lxd-3", StoreID: 3, OwnerID: 1, State: "online"},
	}}
	s, _, users := placementService(t, f, Options{Placement: &placement.RoundRobin{}})
	alice := account.Caller{UserID: users[0].ID, Login: "alice"}
	var got []string
	for range 5 {
		srv, err := s.place(context.Background(), alice, "")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, srv.ID)
	}
	if want := strings.Join([]string{host, "lxd-1", "lxd-3", host, "lxd-1"}, " "); strings.Join(got, " ") != want {
		t.Errorf("round robin: %v, want %s", got, want)
	}
}
