// Package security keeps the probes that found deskhub's security gaps, as tests against the real binary:
// a running `deskhub serve` on loopback, real deskhub accounts, real Xvnc desktops. Each probe is what an
// attacker with an account (or without one) tried; each test fails if the hole it closed opens again.
//
// Files: harness_test.go (this: build, serve, accounts, calls), one <boundary>_test.go per probe family.
package security

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/deskhub/deskhub/internal/servetest"
)

// binary is the deskhub binary the tests run (built once, in a directory every user may enter:
// desktops run it as their agent under their own Unix identity).
func binary(t testing.TB) string {
	t.Helper()
	bin, err := servetest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// server is one running `deskhub serve`.
type server struct {
	*servetest.Server
	t    testing.TB
	data string
	addr string
	logs interface{ String() string }
}

// newDataDir makes a data directory under /tmp (desktop users must traverse it to their session
// directories) and removes it, and every desktop left in it, after the test.
func newDataDir(t testing.TB) string {
	t.Helper()
	d, err := servetest.NewDataDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		servetest.KillDesktops(d)
		os.RemoveAll(d)
	})
	return d
}

// startServer runs deskhub serve on data with the extra flags and waits until it answers; the test's
// end kills it, and a failed test shows the end of its log.
func startServer(t testing.TB, data string, flags ...string) *server {
	t.Helper()
	srv, err := servetest.Start(data, servetest.Options{Flags: append([]string{"--log-level", "debug"}, flags...)})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: srv, t: t, data: data, addr: srv.Addr, logs: logsOf{srv}}
	t.Cleanup(func() {
		srv.Kill()
		if t.Failed() {
			t.Logf("log of deskhub serve on %s (last 8 KiB):\n%s", s.addr, tail(srv.Logs(), 8<<10))
		}
	})
	return s
}

type logsOf struct{ s *servetest.Server }

func (l logsOf) String() string { return l.s.Logs() }

// kill ends the server with SIGKILL (desktops survive it, as they do a crash).
func (s *server) kill() { s.Kill() }

// stop ends the server with SIGTERM.
func (s *server) stop() { s.Stop() }

// cli runs a deskhub subcommand on the server's data directory.
func cli(t testing.TB, data, stdin string, args ...string) string {
	t.Helper()
	out, err := servetest.Run(data, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// addUser creates a deskhub account (before or while the server runs).
func addUser(t testing.TB, data, login, password string, admin bool) {
	t.Helper()
	args := []string{"user", "add", "--login", login, "--email", login + "@example.org", "--password-stdin"}
	if admin {
		args = append(args, "--admin")
	}
	cli(t, data, password+"\n", args...)
}

// call posts a JSON body with an optional bearer token and answers the status and the decoded answer.
func (s *server) call(path, token string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest("POST", "http://"+s.addr+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, m
}

// must is call that fails the test on a non-200 answer.
func (s *server) must(path, token string, body any) map[string]any {
	s.t.Helper()
	status, m := s.call(path, token, body)
	if status != 200 {
		s.t.Fatalf("%s: %d %v", path, status, m)
	}
	return m
}

// login logs in on the session surface and answers the token.
func (s *server) login(user, password string) string {
	s.t.Helper()
	m := s.must("/v3/api/user/login", "", map[string]any{"username": user, "password": password})
	tok, _ := m["result"].(map[string]any)["token"].(string)
	if tok == "" {
		s.t.Fatalf("login %s: no token in %v", user, m)
	}
	return tok
}

// result is the "result" member of a session-surface answer.
func result(m map[string]any) map[string]any {
	r, _ := m["result"].(map[string]any)
	return r
}

// startDesktop starts a desktop running command and answers the connect object.
func (s *server) startDesktop(token, command string) map[string]any {
	s.t.Helper()
	r := result(s.must("/v3/api/session/start", token, map[string]any{"command": command, "geometry": "800x600"}))
	if r["id"] == nil {
		s.t.Fatalf("session/start: no id in %v", r)
	}
	return r
}

// callNoFail is call for goroutines and calls expected to fail: transport errors are returned.
func (s *server) callNoFail(path, token string, body any) (int, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+s.addr+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
