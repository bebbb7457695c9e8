package readcache_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/readcache"
	"github.com/deskhub/deskhub/internal/store/storetest"
)

var backends = []struct {
	name string
	open storetest.OpenAt
}{{"sqlite", storetest.OpenSQLiteAt}, {"postgres", storetest.OpenPostgresAt}}

// world is a few users with tokens, sessions and bookmarks, written through two stores on one
// database: the one under the cache and another (another process or broker to the database).
type world struct {
	t      *testing.T
	cached store.Store // the cache over mine
	mine   store.Store
	other  store.Store
	reg    *prometheus.Registry
	users  []store.User
	hashes [][]byte
	tokens []store.Token
	sess   []store.Session
}

func newWorld(t *testing.T, open storetest.OpenAt, maxBytes int64) *world {
	mine, db := open(t)
	w := &world{t: t, mine: mine, other: storetest.OpenDB(t, db), reg: prometheus.NewRegistry()}
	w.cached = readcache.New(mine, readcache.Options{MaxBytes: maxBytes, Registerer: w.reg})
	if _, ok := w.cached.(*readcache.Store); !ok {
		t.Fatalf("readcache.New gave %T: no cache", w.cached)
	}
	c := t.Context()
	for i := range 3 {
		u := store.User{Login: fmt.Sprint("user", i), Provider: store.ProviderLocal}
		if err := mine.CreateUser(c, &u); err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, u)
		w.newToken(mine, i)
	}
	return w
}

func (w *world) newToken(s store.Store, user int) {
	h := []byte(fmt.Sprintf("hash-%d-%d", user, len(w.hashes)))
	tok := store.Token{UserID: w.users[user].ID, Name: fmt.Sprint("tok", len(w.hashes)), Type: store.TokenUserLogin, Hash: h,
		ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateToken(w.t.Context(), &tok); err != nil {
		w.t.Fatal(err)
	}
	w.hashes, w.tokens = append(w.hashes, h), append(w.tokens, tok)
}

// write makes one random change through s.
func (w *world) write(r *rand.Rand, s store.Store) string {
	c := w.t.Context()
	ui := r.IntN(len(w.users))
	u := &w.users[ui]
	var err error
	var what string
	switch op := r.IntN(8); {
	case op == 0 || len(w.sess) < 3:
		what = "create session"
		v := store.Session{UserID: u.ID, Login: u.Login, Name: fmt.Sprint("desk", r.IntN(100)), State: store.SessionRunning,
			StartedAt: time.Now().Add(-time.Duration(r.IntN(1000)) * time.Second),
			Params:    map[string]string{"project": fmt.Sprint("p", r.IntN(4))}}
		if err = s.CreateSession(c, &v); err == nil {
			w.sess = append(w.sess, v)
		}
	case op == 1:
		what = "update session"
		v := &w.sess[r.IntN(len(w.sess))]
		v.Params = map[string]string{"project": fmt.Sprint("p", r.IntN(4))}
		v.State = []string{store.SessionRunning, store.SessionStarting, store.SessionEnded}[r.IntN(3)]
		err = s.UpdateSession(c, v)
	case op == 2:
		what = "delete session"
		i := r.IntN(len(w.sess))
		err = s.DeleteSession(c, w.sess[i].ID)
		w.sess = append(w.sess[:i], w.sess[i+1:]...)
	case op == 3:
		what = "put bookmark"
		b := store.Bookmark{ID: fmt.Sprint("b", r.IntN(5)), UserID: u.ID, Kind: store.BookmarkKindBookmark,
			Name: fmt.Sprint("n", r.IntN(1000)), Tags: []string{"t"}}
		err = s.PutBookmark(c, &b)
	case op == 4:
		what = "lock or unlock a user"
		u.Disabled = !u.Disabled
		err = s.UpdateUser(c, u)
	case op == 5:
		what = "revoke a token"
		err = s.RevokeToken(c, w.tokens[r.IntN(len(w.tokens))].ID, time.Now())
	case op == 6:
		what = "new token"
		w.newToken(s, ui)
	default:
		what = "rename a user"
		u.Name = fmt.Sprint("name", r.IntN(1000))
		err = s.UpdateUser(c, u)
	}
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
	return what
}

// read asks the cache and the database (through the other store) one random read and compares.
func (w *world) read(r *rand.Rand, after string) {
	c := w.t.Context()
	switch r.IntN(3) {
	case 0:
		q := store.SessionQuery{SessionFilter: store.SessionFilter{States: []string{store.SessionRunning, store.SessionStarting}}, Limit: -1}
		if r.IntN(4) > 0 {
			q.UserID = w.users[r.IntN(len(w.users))].ID
		}
		if r.IntN(2) == 0 {
			q.Match = []store.SessionMatch{{Field: store.SessionField{Param: "project"}, Values: []string{fmt.Sprint("p", r.IntN(4))}}}
		}
		if r.IntN(2) == 0 {
			q.SortBy, q.Limit = &store.SessionField{Column: store.ColStarted}, 1+r.IntN(3)
		}
		got, err1 := w.cached.QuerySessions(c, q)
		want, err2 := w.other.QuerySessions(c, q)
		w.same("QuerySessions", q, after, got, want, err1, err2)
		for _, s := range got {
			if q.UserID != 0 && s.UserID != q.UserID {
				w.t.Fatalf("user %d's list holds a session of user %d", q.UserID, s.UserID)
			}
		}
	case 1:
		u := w.users[r.IntN(len(w.users))].ID
		got, err1 := w.cached.ListBookmarks(c, u, "")
		want, err2 := w.other.ListBookmarks(c, u, "")
		w.same("ListBookmarks", u, after, got, want, err1, err2)
	default:
		h := w.hashes[r.IntN(len(w.hashes))]
		gt, gu, err1 := w.cached.GetTokenUser(c, h)
		wt, wu, err2 := w.other.GetTokenUser(c, h)
		w.same("GetTokenUser", string(h), after, []any{gt, gu}, []any{wt, wu}, err1, err2)
	}
}

func (w *world) same(call string, arg any, after string, got, want any, err1, err2 error) {
	w.t.Helper()
	if err1 != nil || err2 != nil {
		w.t.Fatalf("%s(%v) after %s: cached: %v, database: %v", call, arg, after, err1, err2)
	}
	if !reflect.DeepEqual(got, want) {
		w.t.Fatalf("%s(%v) after %s:\ncached:   %+v\ndatabase: %+v", call, arg, after, got, want)
	}
}

func (w *world) count(call, result string) float64 {
	mfs, err := w.reg.Gather()
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "deskhub_store_cache_lookups_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if (call == "" || labels["call"] == call) && labels["result"] == result {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestDifferential interleaves random writes — through the store under the cache and through another
// store on the same database — with random reads through the cache, each compared with the same read
// of the database: the cache never answers what the database would not, for any user, and it does
// answer (hits) while nothing changes.
func TestDifferential(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, maxBytes := range []int64{32 << 20, 16 << 10} { // roomy, and tight (evictions)
				t.Run(fmt.Sprint(maxBytes), func(t *testing.T) {
					w := newWorld(t, b.open, maxBytes)
					r := rand.New(rand.NewPCG(1, uint64(maxBytes)))
					after := "nothing"
					for range 1500 {
						switch r.IntN(12) {
						case 0:
							after = w.write(r, w.mine) + " (by the cached store)"
						case 1:
							after = w.write(r, w.other) + " (by another store)"
						default:
							w.read(r, after)
						}
					}
					hits, misses := w.count("", "hit"), w.count("", "miss")
					t.Logf("%v hits, %v misses", hits, misses)
					if hits == 0 || misses == 0 {
						t.Fatalf("%v hits, %v misses: want both", hits, misses)
					}
					if by := w.count("", "bypass"); by != 0 {
						t.Fatalf("%v reads bypassed the cache", by)
					}
				})
			}
		})
	}
}

// TestConcurrent runs readers through the cache while another store writes: once a write has
// returned, every read that starts afterwards answers it.
func TestConcurrent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open, 32<<20)
			c := t.Context()
			u := w.users[0]
			h := w.hashes[0]
			var (
				mu      sync.Mutex
				written int // sessions of user 0 whose CreateSession returned
				wg      sync.WaitGroup
				stop    = make(chan struct{})
			)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					q := store.SessionQuery{SessionFilter: store.SessionFilter{UserID: u.ID}, Limit: -1}
					for {
						select {
						case <-stop:
							return
						default:
						}
						mu.Lock()
						least := written
						mu.Unlock()
						rows, err := w.cached.QuerySessions(c, q)
						if err != nil {
							t.Error(err)
							return
						}
						if len(rows) < least {
							t.Errorf("a read after %d committed sessions saw %d", least, len(rows))
							return
						}
						if _, _, err := w.cached.GetTokenUser(c, h); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			for i := range 200 {
				v := store.Session{UserID: u.ID, Login: u.Login, State: store.SessionRunning, StartedAt: time.Now()}
				if err := w.other.CreateSession(c, &v); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				written = i + 1
				mu.Unlock()
			}
			// The revocation of the token, by the other store, is seen by the very next check.
			if err := w.other.RevokeToken(c, w.tokens[0].ID, time.Now()); err != nil {
				t.Fatal(err)
			}
			tok, _, err := w.cached.GetTokenUser(c, h)
			if err != nil || tok.RevokedAt.IsZero() {
				t.Errorf("after the revocation the cache answered %+v, %v", tok, err)
			}
			close(stop)
			wg.Wait()
			if testutil.CollectAndCount(w.reg) == 0 {
				t.Fatal("no metrics")
			}
		})
	}
}

// TestOff: no bytes, no cache.
func TestOff(t *testing.T) {
	st := storetest.OpenSQLite(t)
	if got := readcache.New(st, readcache.Options{}); got != st {
		t.Fatalf("MaxBytes 0 gave %T", got)
	}
}

// BenchmarkChangeVersion is what every cached call adds to a read: asking the change version (SQLite:
// PRAGMA data_version on the version connection; PostgreSQL: one prepared one-row read).
//
//	go test ./internal/store/readcache/ -run '^$' -bench ChangeVersion
func BenchmarkChangeVersion(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st, _ := be.open(b)
			v := st.(store.Versioner)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.ChangeVersion(b.Context()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
