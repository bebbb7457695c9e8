package session

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/readcache"
)

// freezing is a provider whose desktops can be frozen (the freeze state alone).
type freezing struct {
	provider.Unavailable
	mu      sync.Mutex
	frozen  map[string]bool
	changes atomic.Uint64
}

func (f *freezing) Freeze(context.Context, string) error { return nil }
func (f *freezing) Thaw(context.Context, string) error   { return nil }
func (f *freezing) FreezeState(id string) (bool, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen[id], time.Time{}
}
func (f *freezing) FreezeChanges() uint64 { return f.changes.Load() }

func (f *freezing) toggle(id string) {
	f.mu.Lock()
	f.frozen[id] = !f.frozen[id]
	f.changes.Add(1) // after the change, as the LXD provider does
	f.mu.Unlock()
}

// relayClients is a real display relay with a way to connect and drop display clients of a session
// (the RFB server behind it accepts and says nothing: a client counts once its server is dialled).
type relayClients struct {
	t     *testing.T
	relay *display.Relay
	srv   *httptest.Server
	conns map[string][]*websocket.Conn
}

func newRelayClients(t *testing.T) *relayClients {
	sock := filepath.Join(t.TempDir(), "rfb")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	rc := &relayClients{t: t, conns: map[string][]*websocket.Conn{}}
	rc.relay = display.NewRelay(display.Options{Dial: func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}})
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.relay.ServeWS(w, r, display.Grant{SessionID: r.URL.Query().Get("id")})
	}))
	t.Cleanup(func() { rc.relay.Close(); rc.srv.Close() })
	return rc
}

// connect adds a client to session id and returns once the relay counts it.
func (rc *relayClients) connect(id string) {
	n := rc.relay.Clients(id)
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(rc.srv.URL, "http")+"/?id="+id, nil)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.conns[id] = append(rc.conns[id], ws)
	rc.wait(id, n+1)
}

// drop ends one client of session id (if it has one) and returns once the relay no longer counts it.
func (rc *relayClients) drop(id string) {
	cs := rc.conns[id]
	if len(cs) == 0 {
		return
	}
	n := rc.relay.Clients(id)
	_ = cs[0].CloseNow()
	rc.conns[id] = cs[1:]
	rc.wait(id, n-1)
}

func (rc *relayClients) wait(id string, n int) {
	for deadline := time.Now().Add(5 * time.Second); rc.relay.Clients(id) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			rc.t.Fatalf("session %s: %d display clients, want %d", id, rc.relay.Clients(id), n)
		}
	}
}

// TestListJSONCache: the answers ListJSON keeps are, after every kind of change — a write to the
// database (through the service's store or around it), a display client coming or going, a desktop
// frozen or thawed — exactly what json.Marshal writes of List's answer at that moment, while other
// callers keep the cache warm; answers are kept (hits counted) and one user's is never another's. On
// SQLite and on PostgreSQL, behind the store's read cache as the broker runs it.
func TestListJSONCache(t *testing.T) {
	onStores(t, listJSONCache)
}

func listJSONCache(t *testing.T, raw store.Store) {
	ctx := context.Background()
	st := readcache.New(raw, readcache.Options{MaxBytes: 8 << 20})
	r := rand.New(rand.NewPCG(3, 4))
	var users []account.Caller
	for i := range 3 {
		u := store.User{Login: fmt.Sprintf("c%d", i), Provider: store.ProviderLocal}
		if err := raw.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, account.Caller{UserID: u.ID})
	}
	var ids []string
	add := func() {
		u := pick(r, users)
		v := store.Session{ID: fmt.Sprintf("s%d", len(ids)), UserID: u.UserID, Login: "c", Name: pick(r, diffNames),
			Command: "xterm", Display: ":1", State: StateRunning, StartedAt: time.Unix(int64(1e9+len(ids)), 0).UTC(),
			Params: map[string]string{"project": pick(r, diffValues)}}
		if err := raw.CreateSession(ctx, &v); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	for range 40 {
		add()
	}
	prov := &freezing{frozen: map[string]bool{}}
	rc := newRelayClients(t)
	reg := prometheus.NewRegistry()
	svc := New(Options{Store: st, Provider: prov, Relay: rc.relay, ServerID: "host", ListCache: 1 << 20, Registerer: reg})
	ref := New(Options{Store: raw, Provider: prov, Relay: rc.relay, ServerID: "host"}) // no cache at all
	if svc.lists == nil || ref.lists != nil {
		t.Fatal("ListCache did not make a cache, or made one without ListCache")
	}
	options := []ListOptions{{}, {AllUsers: true}, {SortBy: "clients", SortReverse: true}, {Filter: []string{"frozen==true"}},
		{Filter: []string{"clients==1,2"}, AllUsers: true}, {SortBy: "name", Limit: new(5)}, {Filter: []string{"project==9,10"}}}
	check := func(step int, what string) {
		t.Helper()
		for _, c := range users {
			for _, o := range options {
				got, err := svc.ListJSON(ctx, c, o)
				if err != nil {
					t.Fatal(err)
				}
				objs, err := ref.List(ctx, c, o)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := json.Marshal(objs)
				if string(got) != string(want) {
					t.Fatalf("step %d (after %s), user %d, %+v:\n got  %.300s\n want %.300s", step, what, c.UserID, o, got, want)
				}
			}
		}
	}
	// Others list all the time, so that the cache is warm when each change lands.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); wg.Wait() }) }
	t.Cleanup(halt) // before the store closes, when a check fails
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := svc.ListJSON(ctx, users[(g+i)%len(users)], options[i%len(options)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	check(0, "nothing")
	for step := 1; step <= 120; step++ {
		id := pick(r, ids)
		var what string
		switch r.IntN(7) {
		case 0:
			what = "a rename through the service's store"
			row, err := st.GetSession(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			row.Name = pick(r, diffNames) + "x"
			if err := st.UpdateSession(ctx, &row); err != nil {
				t.Fatal(err)
			}
		case 1:
			what = "a params write around the caches"
			row, err := raw.GetSession(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			row.Params = map[string]string{"project": pick(r, diffValues)}
			if err := raw.UpdateSession(ctx, &row); err != nil {
				t.Fatal(err)
			}
		case 2:
			what = "a new session"
			add()
		case 3:
			what = "a freeze or thaw"
			prov.toggle(id)
		case 4, 5:
			what = "a display client"
			rc.connect(id)
		case 6:
			what = "a display client gone"
			for sid := range rc.conns {
				rc.drop(sid)
				break
			}
		}
		check(step, what)
	}
	halt()
	// Changes make answers again: at least one miss for most of the 120 changes. (How many hits the
	// others' calls score between changes depends on the machine's speed, so it is not counted.)
	if misses := testutil.ToFloat64(svc.lists.miss); misses < 60 {
		t.Fatalf("%.0f misses over 120 changes: answers are not made again after changes", misses)
	}
	// Nothing changed since the last check, which made or found every answer: asking again is all hits.
	hits, misses := testutil.ToFloat64(svc.lists.hit), testutil.ToFloat64(svc.lists.miss)
	check(121, "nothing")
	if dh, dm := testutil.ToFloat64(svc.lists.hit)-hits, testutil.ToFloat64(svc.lists.miss)-misses; dh != float64(len(users)*len(options)) || dm != 0 {
		t.Fatalf("asking again with nothing changed: %.0f hits, %.0f misses, want %d and 0: the answers are not kept", dh, dm, len(users)*len(options))
	}
	if n, err := testutil.GatherAndCount(reg, "deskhub_session_list_cache_lookups_total"); err != nil || n != 3 {
		t.Fatalf("metrics: %d series, %v", n, err)
	}
}

// TestListCacheBounds: an answer larger than a quarter of the bound is not kept, kept answers never
// pass the bound, and a call that read older change numbers than the cache's keeps nothing.
func TestListCacheBounds(t *testing.T) {
	c := &listCache{max: 1000, m: map[string][]byte{}}
	st := listStamp{store: 5, clients: 1}
	if _, ok, keep := c.get(st, "a"); ok || !keep {
		t.Fatal("a newer stamp: nothing to serve, but keep")
	}
	c.put(st, "a", make([]byte, 300))
	if _, ok, _ := c.get(st, "a"); ok {
		t.Fatal("an answer over a quarter of the bound was kept")
	}
	for i := range 10 {
		c.put(st, fmt.Sprint(i), make([]byte, 200))
		if c.bytes > c.max {
			t.Fatalf("%d bytes kept, bound %d", c.bytes, c.max)
		}
	}
	if _, ok, _ := c.get(st, "9"); !ok {
		t.Fatal("the last answer was not kept")
	}
	if _, ok, keep := c.get(listStamp{store: 6, clients: 0}, "9"); ok || keep {
		t.Fatal("a stamp older in one number was served or allowed to keep")
	}
	c.put(listStamp{store: 4, clients: 1}, "old", []byte("x"))
	if _, ok := c.m["old"]; ok {
		t.Fatal("an answer made under an older stamp was kept")
	}
	if _, ok, keep := c.get(listStamp{store: 5, clients: 2}, "9"); ok || !keep || len(c.m) != 0 {
		t.Fatal("a newer stamp did not drop what was kept")
	}
}

// TestListKeyDistinct: options that differ give different keys (filters are length-prefixed: no two
// lists of texts join to the same key).
func TestListKeyDistinct(t *testing.T) {
	c := account.Caller{UserID: 7}
	seen := map[string]ListOptions{}
	for _, o := range []ListOptions{{}, {AllUsers: true}, {Start: 1}, {Limit: new(0)}, {Limit: new(1)}, {SortReverse: true},
		{SortBy: "a"}, {Filter: []string{"a"}}, {Filter: []string{"a", ""}}, {Filter: []string{"a 1:b"}}, {Filter: []string{"a", "b"}},
		{SortBy: "a", Filter: []string{"b"}}, {SortBy: "a 1:b"}} {
		k := listKey(c, o)
		if prev, ok := seen[k]; ok {
			t.Fatalf("%+v and %+v share the key %q", prev, o, k)
		}
		seen[k] = o
	}
	if listKey(c, ListOptions{}) == listKey(account.Caller{UserID: 8}, ListOptions{}) {
		t.Fatal("two users share a key")
	}
	if listKey(c, ListOptions{AllUsers: true}) != listKey(account.Caller{UserID: 8}, ListOptions{AllUsers: true}) {
		t.Fatal("the all-users list is keyed by its caller")
	}
}
