package session

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/storetest"
)

// TestMembersCovered: every member of the session object is classified for the store (a new member
// must say how session/list filters and sorts on it), and the constant ones are what Object answers.
func TestMembersCovered(t *testing.T) {
	rt := reflect.TypeOf(fastx.Session{})
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if _, ok := members[name]; !ok && name != "params" {
			t.Errorf("member %q of the session object is not in members", name)
		}
	}
	s := &Service{o: Options{Relay: display.NewRelay(display.Options{}), ServerID: "host"}}
	flat := flatten(s.Object(store.Session{ID: "x", StartedAt: time.Now()}))
	for name, m := range members {
		if m.kind == memberConst && flat[name] != m.value {
			t.Errorf("member %q is %q on every object, members says %q", name, flat[name], m.value)
		}
	}
}

// TestListDifferential: session/list and system/session/list answered through the store's
// SessionQuery are the same as Page over every listed session object (the semantics), for random
// sessions and random filters, orders and pages, on SQLite and on PostgreSQL.
func TestListDifferential(t *testing.T) {
	onStores(t, listDifferential)
}

// onStores runs fn as a subtest on a fresh SQLite store and on a fresh PostgreSQL one.
func onStores(t *testing.T, fn func(*testing.T, store.Store)) {
	for _, b := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

// Values chosen to collide: ties, numbers and text mixed, empty values, numbers in several spellings.
var (
	diffValues = []string{"", "10", "9", "-1", "007", "7", "1e3", "1000", "inf", "-Inf", "NaN", "0x1p3", "abc", "Abc", "ab",
		"ü", "p1", "p2", "p3", "a,b", " 9", "0", "-0"}
	diffKeys  = []string{"project", "team", "rank", "params", "name", "login", "lastConnect", "clients", "started"}
	diffNames = []string{"", "10", "9", "desk", "Desk", "déjà", "z"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func listDifferential(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	var users []store.User
	for i := range 3 {
		u := store.User{Login: fmt.Sprintf("u%d", i), Provider: store.ProviderLocal, Admin: i == 0}
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	srv := store.Server{Name: "lxd1", Provider: "lxd", State: "online"}
	if err := st.CreateServer(ctx, &srv); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	times := []time.Time{{}, t0, t0.Add(500 * time.Millisecond), t0.Add(time.Second), t0.Add(1550 * time.Millisecond), t0.Add(time.Hour)}
	params := func() map[string]string {
		p := map[string]string{}
		for range r.IntN(4) {
			p[pick(r, diffKeys)] = pick(r, diffValues)
		}
		return p
	}
	var all []store.Session
	for i := range 400 {
		u := pick(r, users)
		v := store.Session{ID: fmt.Sprintf("s%03d", r.IntN(1000)) + fmt.Sprint(i), UserID: u.ID, Login: pick(r, []string{u.Login, "other", "10"}),
			Name: pick(r, diffNames), Command: pick(r, []string{"xterm", "9", "firefox"}), Display: fmt.Sprintf(":%d", r.IntN(5)),
			Geometry: pick(r, []string{"1024x768", "1280x800", ""}), WindowMode: pick(r, []string{"desktop", "rootless"}),
			Hostname: pick(r, []string{"h1", "h2"}), State: pick(r, []string{StateStarting, StateRunning, StateRunning, StateEnded, StateScheduled}),
			AppPID: r.IntN(5), ServerPID: r.IntN(3), StartedAt: pick(r, times), ScheduledAt: pick(r, times), Params: params()}
		if r.IntN(3) == 0 {
			v.ServerID = srv.ID
		}
		if r.IntN(3) == 0 {
			v.LastConnect = pick(r, times[1:])
		}
		if err := st.CreateSession(ctx, &v); err != nil {
			t.Fatal(err)
		}
		all = append(all, v)
	}
	// Rewrite the parameters of some (session_params follows UpdateSession) and delete a few.
	for i := range all {
		switch r.IntN(6) {
		case 0:
			all[i].Params = params()
			if err := st.UpdateSession(ctx, &all[i]); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := st.DeleteSession(ctx, all[i].ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	svc := New(Options{Store: st, Provider: &provider.Unavailable{}, Relay: display.NewRelay(display.Options{}), ServerID: "host-uuid"})
	objs := map[string]fastx.Session{}
	for _, row := range all {
		objs[row.ID] = svc.Object(row)
	}
	startedText := func() string {
		b, _ := json.Marshal(svc.Object(pick(r, all)).Started)
		return strings.Trim(string(b), `"`)
	}
	sortNames := []string{"", "", "started", "name", "login", "id", "appPid", "serverPid", "serverId", "clients", "sharing",
		"lastConnect", "geometry", "state", "params", "project", "team", "rank", "nosuch"}
	filterNames := append([]string{"appPid", "serverId", "sharing", "cpuPercentage", "windowMode", "state", "display", "started", "lastConnect"},
		diffKeys...)
	const queries = 1500
	via := map[bool]int{}
	for q := range queries {
		o := ListOptions{SortBy: pick(r, sortNames), SortReverse: r.IntN(2) == 0, AllUsers: r.IntN(3) == 0}
		if r.IntN(2) == 0 {
			o.Start = r.IntN(30)
		}
		if r.IntN(2) == 0 {
			n := r.IntN(60)
			o.Limit = &n
		}
		for range r.IntN(3) {
			name := pick(r, filterNames)
			var vals []string
			for range 1 + r.IntN(3) {
				switch name {
				case "appPid":
					vals = append(vals, pick(r, []string{"0", "1", "2", "01", "+1", "x", "-0"}))
				case "serverId":
					vals = append(vals, pick(r, []string{"host-uuid", provider.StoredServerID(srv.ID), "lxd-0", "lxd-01", "x"}))
				case "sharing":
					vals = append(vals, pick(r, []string{"true", "false"}))
				case "cpuPercentage":
					vals = append(vals, pick(r, []string{"0", "1"}))
				case "state":
					vals = append(vals, pick(r, []string{StateRunning, StateStarting, StateEnded}))
				case "started", "lastConnect":
					vals = append(vals, startedText())
				default:
					vals = append(vals, pick(r, append(diffValues, diffNames...)))
				}
			}
			o.Filter = append(o.Filter, name+"=="+strings.Join(vals, ","))
		}
		c := account.Caller{UserID: pick(r, users).ID}
		got, err := svc.List(ctx, c, o)
		if err != nil {
			t.Fatalf("query %d %+v: %v", q, o, err)
		}
		// The reference: every listed session in list order, then Page.
		f := store.SessionFilter{States: []string{StateStarting, StateRunning}}
		if !o.AllUsers {
			f.UserID = c.UserID
		}
		rows, err := st.ListSessions(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var ref []fastx.Session
		for _, row := range rows {
			ref = append(ref, svc.Object(row))
		}
		want, err := Page(ref, o)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := ids(got), ids(want); !slices.Equal(g, w) {
			t.Fatalf("query %d %+v (user %d):\n got  %v\n want %v", q, o, c.UserID, g, w)
		}
		for _, s := range got {
			if !reflect.DeepEqual(s, objs[s.ID]) {
				t.Fatalf("query %d: object %s differs from the row's:\n%+v\n%+v", q, s.ID, s, objs[s.ID])
			}
		}
		via[len(want) > 0]++
	}
	if via[true] < queries/4 {
		t.Fatalf("only %d of %d queries had answers: the test data do not exercise the filters", via[true], queries)
	}
}

func ids(objs []fastx.Session) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.ID
	}
	return out
}

// TestQuerySessionsWhitelist: the store takes only its own column names (never SQL from a caller).
func TestQuerySessionsWhitelist(t *testing.T) {
	st := storetest.OpenSQLite(t)
	for _, q := range []store.SessionQuery{
		{Match: []store.SessionMatch{{Field: store.SessionField{Column: "password_hash"}, Values: []string{"x"}}}},
		{Match: []store.SessionMatch{{Field: store.SessionField{Column: "1=1; DROP TABLE sessions; --"}, Values: []string{"x"}}}},
		{SortBy: &store.SessionField{Column: "params"}},
		{Match: []store.SessionMatch{{Field: store.SessionField{Param: "p"}}}}, // no values
	} {
		if _, err := st.QuerySessions(context.Background(), q); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
	if _, err := st.QuerySessions(context.Background(), store.SessionQuery{Limit: -1,
		Match: []store.SessionMatch{{Field: store.SessionField{Param: "x' OR '1'='1"}, Values: []string{"') OR 1=1 --"}}}}); err != nil {
		t.Errorf("a parameter name and value with quotes: %v", err)
	}
}

// TestBookmarksOneQuery: bookmark/list's one query for both kinds answers each kind as its own
// query does (same entries, same order), on SQLite and PostgreSQL.
func TestBookmarksOneQuery(t *testing.T) {
	onStores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(3, 4))
		var users []store.User
		for i := range 2 {
			u := store.User{Login: fmt.Sprintf("b%d", i), Provider: store.ProviderLocal}
			if err := st.CreateUser(ctx, &u); err != nil {
				t.Fatal(err)
			}
			users = append(users, u)
		}
		for i := range 120 {
			kind := pick(r, []string{store.BookmarkKindBookmark, store.BookmarkKindHistory})
			bm := store.Bookmark{ID: fmt.Sprintf("%s%d", pick(r, []string{"a", "B", "é", "1"}), r.IntN(40)), UserID: pick(r, users).ID,
				Kind: kind, Name: fmt.Sprint("n", i), Command: "xterm"}
			if err := st.PutBookmark(ctx, &bm); err != nil {
				t.Fatal(err)
			}
		}
		svc := New(Options{Store: st, Provider: &provider.Unavailable{}, Relay: display.NewRelay(display.Options{})})
		for _, u := range users {
			got, err := svc.Bookmarks(ctx, account.Caller{UserID: u.ID})
			if err != nil {
				t.Fatal(err)
			}
			for kind, list := range map[string][]fastx.Bookmark{store.BookmarkKindBookmark: got.Bookmarks, store.BookmarkKindHistory: got.History} {
				rows, err := st.ListBookmarks(ctx, u.ID, kind)
				if err != nil {
					t.Fatal(err)
				}
				var want []fastx.Bookmark
				for _, row := range rows {
					want = append(want, bookmarkOut(row))
				}
				if len(want) == 0 || !reflect.DeepEqual(list, want) {
					t.Fatalf("user %d %s: got %v, want %v", u.ID, kind, list, want)
				}
			}
		}
	})
}
