// Package lists benchmarks the session and bookmark lists of deskhub's server with many rows in the
// store. It lives apart from internal/server so that it does not take the LXD test lock that
// package's tests hold.
package lists

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/server"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/storetest"
)

// BenchmarkLists measures session/list, system/session/list and bookmark/list with many rows in the
// store (rows only, no desktops), on SQLite and on PostgreSQL (DESKHUB_TEST_POSTGRES; skipped
// without it). Each case is measured twice:
//   - inproc: the handler called in-process, no network: µs/call and cpu-µs/call (the process's CPU
//     time per call, GC included: what a contended machine inflates least);
//   - load: 16 keep-alive connections over loopback for DESKHUB_BENCH_LOAD (default 3s), reported as
//     req/s and p50/p99 in ms. Run it with -benchtime 1x so that the load runs once:
//     go test ./test/lists/ -run '^$' -bench Lists -benchtime 1x
//
// Data sets:
//   - 1000: user "heavy" has 1000 running sessions (the whole list is 1000 objects, ~450 KiB);
//   - 1000x20: 20 users with 50 running sessions each ("light" is one of them);
//   - 100000: 100 users with 1000 running sessions each ("heavy" is one of them).
//
// DESKHUB_BENCH_STORE_CACHE=off runs the server without its store cache (--store-cache 0): every
// call reads the database, as every call after a write does.
//
// Sessions carry params project p0..p9 and team t0..t3 and shuffled start times; every user also has
// 50 bookmarks and 50 history entries. "noop" is user/admin with the administrator's token
// (authentication, routing and the envelope, no list): the ceiling the lists are measured against.
func BenchmarkLists(b *testing.B) {
	filtered := `{"filter":["project==p1,p2,p3"],"sortBy":"started","limit":50}`
	for _, backend := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(backend.name, func(b *testing.B) {
			for _, ds := range []struct {
				name         string
				users, per   int
				heavy, light bool
			}{{"1000", 1, 1000, true, false}, {"1000x20", 20, 50, false, true}, {"100000", 100, 1000, true, false}} {
				b.Run(ds.name, func(b *testing.B) {
					env := newListEnv(b, backend.open(b), ds.users, ds.per)
					user := env.tokens[0]
					cases := []struct{ name, path, token, body string }{
						{"noop", "/v3/api/user/admin", env.admin, `{}`},
						{"session.list-all", "/v3/api/session/list", user, `{}`},
						{"session.list-filtered", "/v3/api/session/list", user, filtered},
						{"system.session.list-filtered", "/v3/system/session/list", env.admin, filtered},
						{"bookmark.list", "/v3/api/bookmark/list", user, `{}`},
					}
					if ds.users*ds.per <= 1000 {
						cases = append(cases, struct{ name, path, token, body string }{"system.session.list-all", "/v3/system/session/list", env.admin, `{}`})
					}
					for _, c := range cases {
						b.Run(c.name+"/inproc", func(b *testing.B) { env.inproc(b, c.path, c.token, c.body) })
						b.Run(c.name+"/load", func(b *testing.B) { env.load(b, c.path, c.token, c.body) })
					}
					if ds.users == 1 {
						// The ceiling of the full list: net/http answering the very bytes of that answer
						// (~480 KiB) from memory, no deskhub at all, under the same load.
						b.Run("ceiling-static-session.list-all/load", func(b *testing.B) {
							code, body := env.call(b, "/v3/api/session/list", user, `{}`)
							if code != http.StatusOK {
								b.Fatalf("session/list: %d %s", code, body)
							}
							ans := []byte(body)
							srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
								_, _ = io.Copy(io.Discard, r.Body)
								w.Header().Set("Content-Type", "application/json")
								_, _ = w.Write(ans)
							}))
							defer srv.Close()
							(&listEnv{url: srv.URL}).load(b, "/", "", `{}`)
							b.ReportMetric(float64(len(ans))/1024, "answer-KiB")
						})
					}
				})
			}
		})
	}
}

const testPassword = "correct horse battery"

type listEnv struct {
	st     store.Store
	data   string // the server's data directory
	s      *server.Server
	h      http.Handler
	url    string
	tokens []string // of the first user (and more)
	admin  string
}

func newListEnv(b testing.TB, st store.Store, users, per int) *listEnv {
	b.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.Hostname = b.TempDir(), "127.0.0.1:18080", "deskhub-bench"
	if os.Getenv("DESKHUB_BENCH_STORE_CACHE") == "off" { // the uncached path: what every miss costs
		cfg.StoreCache = 0
	}
	s, err := server.New(server.Options{Config: cfg, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	b.Cleanup(ts.Close)
	env := &listEnv{s: s, h: s.Handler(), url: ts.URL, st: st, data: cfg.DataDir}
	ctx := context.Background()
	start := time.Now()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	login := func(name string, admin bool) (store.User, string) { return env.login(b, name, admin) }
	_, env.admin = login("root", true)
	for i := range users {
		var u store.User
		if i == 0 {
			var tok string
			u, tok = login("heavy", false)
			env.tokens = append(env.tokens, tok)
		} else {
			u = store.User{Login: fmt.Sprintf("u%03d", i), Provider: store.ProviderLocal}
			if err := st.CreateUser(ctx, &u); err != nil {
				b.Fatal(err)
			}
		}
		err := st.InTx(ctx, func(tx store.Store) error {
			for j := range per {
				n := i*per + j
				v := store.Session{UserID: u.ID, Login: u.Login, Name: fmt.Sprintf("desk %d", n), Command: "xterm",
					Display: fmt.Sprintf(":%d", 1000+n), Geometry: "1280x800", WindowMode: "desktop", State: store.SessionRunning,
					AppPID: 3_000_000 + n, ServerPID: 2_000_000 + n, Hostname: "bench",
					StartedAt: t0.Add(time.Duration(n*7919%(users*per)) * time.Second),
					Params:    map[string]string{"project": fmt.Sprintf("p%d", n%10), "team": fmt.Sprintf("t%d", n%4)}}
				if err := tx.CreateSession(ctx, &v); err != nil {
					return err
				}
			}
			for j := range 100 {
				kind := store.BookmarkKindBookmark
				if j%2 == 1 {
					kind = store.BookmarkKindHistory
				}
				bm := store.Bookmark{ID: fmt.Sprintf("b%d", j), UserID: u.ID, Kind: kind, Name: fmt.Sprintf("bookmark %d", j),
					Command: "xterm -T " + fmt.Sprint(j), Geometry: "1280x800", Tags: []string{"t"}}
				if err := tx.PutBookmark(ctx, &bm); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: %d users × %d sessions (+100 bookmarks each) stored in %s", st.Backend(), users, per, time.Since(start).Round(time.Millisecond))
	return env
}

// login creates a local account and logs it in through the API.
func (e *listEnv) login(tb testing.TB, name string, admin bool) (store.User, string) {
	tb.Helper()
	ctx := context.Background()
	u, err := auth.NewLocalUser(name, name+"@example.org", testPassword, admin)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.st.CreateUser(ctx, &u); err != nil {
		tb.Fatal(err)
	}
	c, err := client.New(e.url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := c.UserLogin(ctx, name, testPassword)
	if err != nil {
		tb.Fatal(err)
	}
	return u, doc.Data.Attributes.Token
}

// inproc calls the handler max(b.N, 200) times (so that -benchtime 1x, which the load needs, still
// gives a mean) and reports the mean wall and CPU time per call.
func (e *listEnv) inproc(b *testing.B, path, token, body string) {
	b.ReportAllocs()
	size := 0
	n := max(b.N, 200)
	cpu0, t0 := cpuTime(), time.Now()
	for range n {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/float64(n), "µs/call")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/call")
	b.ReportMetric(float64(size)/1024, "KiB/answer")
}

// cpuTime is the CPU (user + system) this process used so far: per call it is what a contended
// machine does not inflate the way it inflates wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load runs 16 connections over loopback for a bounded time (and at most 2 million requests).
func (e *listEnv) load(b *testing.B, path, token, body string) {
	d := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("DESKHUB_BENCH_LOAD")); err == nil && v > 0 && v <= time.Minute {
		d = v
	}
	const conns = 16
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	b.ResetTimer()
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) && len(mine) < 2_000_000/conns {
				req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat, errs = append(lat, mine...), errs+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		b.Fatalf("no request succeeded (%d errors)", errs)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(len(lat))/took.Seconds(), "req/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(errs), "errors")
}
