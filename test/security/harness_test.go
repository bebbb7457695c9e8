// Package security keeps the probes that found deskhub's security gaps, as tests against the real binary:
// a running `deskhub serve` on loopback, real deskhub accounts, real Xvnc desktops. Each probe is what an
// attacker with an account (or without one) tried; each test fails if the hole it closed opens again.
//
// Files: harness_test.go (this: build, serve, accounts, calls), one <boundary>_test.go per probe family.
package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds deskhub once per test run into a directory every user may enter (desktops run it as their
// agent under their own Unix identity).
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deskhub-security-bin")
		if err != nil {
			buildErr = err
			return
		}
		if err = os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "deskhub")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/deskhub").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is one running `deskhub serve`.
type server struct {
	t      testing.TB
	data   string
	addr   string
	cmd    *exec.Cmd
	done   chan error
	logs   *syncBuffer // stdout and stderr: the JSON log
	extra  []string
	stopMu sync.Mutex
}

// newDataDir makes a data directory under /tmp (desktop users must traverse it to their session
// directories) and removes it, and every desktop left in it, after the test.
func newDataDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "deskhub-security-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs deskhub serve on data with the extra flags and waits until it answers.
func startServer(t testing.TB, data string, flags ...string) *server {
	t.Helper()
	s := &server{t: t, data: data, addr: freeAddr(t), done: make(chan error, 1), logs: &syncBuffer{}, extra: flags}
	s.cmd = exec.Command(binary(t), append([]string{"serve", "--listen", s.addr, "--data", data}, flags...)...)
	s.cmd.Env = append(os.Environ(), "DESKHUB_LOG_LEVEL=debug")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("log of deskhub serve on %s (last 8 KiB):\n%s", s.addr, tail(s.logs.String(), 8<<10))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Post("http://"+s.addr+"/api/v1/health.alive", "application/json", nil); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve exited early (%v):\n%s", err, s.logs)
		default:
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("serve did not come up:\n%s", s.logs)
	return nil
}

// kill ends the server with SIGKILL (desktops survive it, as they do a crash).
func (s *server) kill() {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// stop ends the server with SIGTERM.
func (s *server) stop() {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
}

// cli runs a deskhub subcommand on the server's data directory.
func cli(t testing.TB, data, stdin string, args ...string) string {
	t.Helper()
	c := exec.Command(binary(t), args...)
	c.Env = append(os.Environ(), "DESKHUB_DATA="+data)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("deskhub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
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
