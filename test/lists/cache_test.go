package lists

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/cli"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/storetest"
)

// cliEnv makes the test binary run deskhub's command line (its arguments, as JSON) instead of tests:
// a second process writing to the database, as `deskhub user lock` beside a running server does.
const cliEnv = "DESKHUB_LISTS_TEST_CLI"

func TestMain(m *testing.M) {
	if args := os.Getenv(cliEnv); args != "" {
		var e cli.Env
		if err := json.Unmarshal([]byte(args), &e.Args); err != nil {
			panic(err)
		}
		e.Stdout, e.Stderr = os.Stdout, os.Stderr
		os.Exit(cli.Main(&e))
	}
	os.Exit(m.Run())
}

// runCLI runs deskhub's command line in another process.
func runCLI(t *testing.T, args ...string) {
	t.Helper()
	js, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cliEnv+"="+string(js))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deskhub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("deskhub %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
}

// call posts body to path with token and answers the status and the body.
func (e *listEnv) call(t testing.TB, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var loginRE = regexp.MustCompile(`"login":"([^"]*)"`)

// logins are the logins of the sessions in a session/list answer, counted.
func logins(t *testing.T, body string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range loginRE.FindAllStringSubmatch(body, -1) {
		out[m[1]]++
	}
	return out
}

// cacheHits reads deskhub_store_cache_lookups_total{call,result} off /metrics.
func (e *listEnv) cacheLookups(t *testing.T, call, result string) float64 {
	t.Helper()
	return e.metric(t, `deskhub_store_cache_lookups_total{call="`+call+`",result="`+result+`"}`)
}

// metric is the value of one series (name and labels as /metrics writes them).
func (e *listEnv) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return n
}

// TestStoreCache runs the server with its store cache (the default) on SQLite and PostgreSQL: each
// user's list holds that user's sessions only, however often asked; a session written by another
// store is listed by the next call; and an account locked by `deskhub user lock` in another process
// is refused on the very next request, after its token check was answered from the cache.
func TestStoreCache(t *testing.T) {
	for _, backend := range []struct {
		name string
		open storetest.OpenAt
	}{{"sqlite", storetest.OpenSQLiteAt}, {"postgres", storetest.OpenPostgresAt}} {
		t.Run(backend.name, func(t *testing.T) {
			st, db := backend.open(t)
			env := newListEnv(t, st, 3, 7) // heavy, u001, u002: 7 sessions each
			_, other := env.login(t, "other", false)
			heavy := env.tokens[0]
			filtered := `{"filter":["project==p1,p2,p3"],"sortBy":"started","limit":50}`
			want := map[string]map[string]int{heavy: {"heavy": 7}, other: {}}
			for round := range 3 {
				for _, tok := range []string{heavy, other, heavy} {
					code, body := env.call(t, "/v3/api/session/list", tok, `{}`)
					if got := logins(t, body); code != 200 || !equalCounts(got, want[tok]) {
						t.Fatalf("round %d: session/list answered %d with %v, want %v: %s", round, code, got, want[tok], body)
					}
					if code, body := env.call(t, "/v3/api/session/list", tok, filtered); code != 200 ||
						len(logins(t, body)) > 1 || (tok == other && len(logins(t, body)) != 0) {
						t.Fatalf("round %d: filtered session/list answered %d: %s", round, code, body)
					}
				}
				code, body := env.call(t, "/v3/system/session/list", env.admin, `{}`)
				if got := logins(t, body); code != 200 || !equalCounts(got, map[string]int{"heavy": 7, "u001": 7, "u002": 7}) {
					t.Fatalf("system/session/list answered %d with %v", code, got)
				}
			}
			if hits := env.metric(t, `deskhub_session_list_cache_lookups_total{result="hit"}`); hits == 0 {
				t.Fatal("no session list was answered from the cache of encoded lists")
			}

			// A session written by another store (another broker on the database) is in the next answer.
			second := storetest.OpenDB(t, db)
			u, err := second.GetUserByLogin(t.Context(), "other")
			if err != nil {
				t.Fatal(err)
			}
			if err := second.CreateSession(t.Context(), sessionOf(u)); err != nil {
				t.Fatal(err)
			}
			if code, body := env.call(t, "/v3/api/session/list", other, `{}`); code != 200 || !equalCounts(logins(t, body), map[string]int{"other": 1}) {
				t.Fatalf("after another store added a session: %d %s", code, body)
			}

			// A lock by the CLI, in another process, is seen by the very next token check.
			env.call(t, "/v3/api/bookmark/list", heavy, `{}`) // kept (the write above dropped what was kept)
			before := env.cacheLookups(t, "token", "hit")
			if code, _ := env.call(t, "/v3/api/bookmark/list", heavy, `{}`); code != 200 {
				t.Fatalf("bookmark/list: %d", code)
			}
			if env.cacheLookups(t, "token", "hit") <= before {
				t.Fatal("the token check was not answered from the cache")
			}
			runCLI(t, "user", "lock", "--data", env.data, "--db", db, "heavy")
			if code, body := env.call(t, "/v3/api/bookmark/list", heavy, `{}`); code != http.StatusUnauthorized {
				t.Fatalf("the next request after `deskhub user lock` answered %d: %s", code, body)
			}
			if code, _ := env.call(t, "/v3/api/bookmark/list", other, `{}`); code != 200 {
				t.Fatalf("another user's request after the lock: %d", code)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sessionOf(u store.User) *store.Session {
	return &store.Session{UserID: u.ID, Login: u.Login, Name: "late", Command: "xterm", State: store.SessionRunning,
		StartedAt: time.Now(), Params: map[string]string{"project": "p1"}}
}
