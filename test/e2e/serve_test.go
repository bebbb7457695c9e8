// Package e2e runs the real deskhub binary: build, serve, signals, both stores.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/servetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	servetest.Cleanup()
	os.Exit(code)
}

// deskhub builds the binary once per test run (internal/servetest).
func deskhub(t *testing.T) string {
	t.Helper()
	bin, err := servetest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// api is a client of the server p runs, sending token.
func (p *proc) api(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New("http://"+p.addr, &client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type proc struct {
	cmd    *exec.Cmd
	addr   string
	stdout *servetest.Output
	stderr *servetest.Output
	done   chan error
}

// startServe starts `deskhub serve` and waits until health.alive answers.
func startServe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), stdout: &servetest.Output{}, stderr: &servetest.Output{}, done: make(chan error, 1)}
	p.cmd = exec.Command(deskhub(t), append([]string{"serve", "--listen", p.addr}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Post("http://"+p.addr+"/api/v1/health.alive", "application/json", nil); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("serve exited early (%v):\n%s\n%s", err, p.stdout, p.stderr)
		default:
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("serve did not come up:\n%s", p.stderr)
	return nil
}

// stop sends SIGTERM and returns the exit code and how long the exit took.
func (p *proc) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30 s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// TestServeSQLiteAndSIGTERM: the binary serves on SQLite, answers the three surfaces, and on SIGTERM
// exits 0 with the database closed cleanly (SQLite's WAL file is checkpointed away on a clean close).
func TestServeSQLiteAndSIGTERM(t *testing.T) {
	data := t.TempDir()
	p := startServe(t, []string{"DESKHUB_DATA=" + data})
	ctx := context.Background()
	c := p.api(t, "")
	ready, err := c.Ready(ctx)
	if err != nil || ready.Store != "sqlite" {
		t.Fatalf("ready: %v %+v", err, ready)
	}
	cfg, err := c.SessionConfig(ctx)
	if err != nil || cfg.Version != 3 {
		t.Fatalf("/v3/api: %v %+v", err, cfg)
	}
	// A raw request on purpose: the agent surface's own envelope ({"code": 401, …}) is checked, which
	// the SDK turns into a *client.Error.
	resp, err := http.Get("http://" + p.addr + "/spawner/abc/version")
	if err != nil {
		t.Fatal(err)
	}
	var agent map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&agent)
	resp.Body.Close()
	if resp.StatusCode != 401 || agent["code"] != 401.0 {
		t.Fatalf("agent surface without a token: %d %v", resp.StatusCode, agent)
	}
	if _, err := c.Agent("abc").Version(ctx); client.StatusCode(err) != 401 {
		t.Fatalf("agent surface without a token, through the SDK: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "deskhub.db-wal")); err != nil {
		t.Fatalf("expected a WAL file while serving (WAL mode): %v", err)
	}
	code, took := p.stop(t)
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
	t.Logf("exit after SIGTERM took %s", took)
	if !strings.Contains(p.stderr.String(), `"msg":"deskhub stopped"`) {
		t.Fatalf("no clean stop logged:\n%s", p.stderr)
	}
	if fi, err := os.Stat(filepath.Join(data, "deskhub.db-wal")); err == nil && fi.Size() > 0 {
		t.Fatalf("WAL file left with %d bytes: the store was not closed cleanly", fi.Size())
	}
}

// freshPostgres makes an empty database on the test server from DESKHUB_TEST_POSTGRES.
func freshPostgres(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("DESKHUB_TEST_POSTGRES")
	if admin == "" {
		if os.Getenv("CI") != "" || os.Getenv("DESKHUB_REQUIRE_POSTGRES") != "" {
			t.Fatal("DESKHUB_TEST_POSTGRES is not set: run the tests with `make test`, which starts PostgreSQL")
		}
		t.Skip("DESKHUB_TEST_POSTGRES is not set (make test sets it)")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("e2e_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestServePostgres: the same binary on PostgreSQL: user add and serve share the store, the first
// serve makes no admin when accounts exist, and health.ready reports postgres.
func TestServePostgres(t *testing.T) {
	dbURL := freshPostgres(t)
	env := []string{"DESKHUB_DATA=" + t.TempDir(), "DESKHUB_DB=" + dbURL}
	add := exec.Command(deskhub(t), "user", "add", "--login", "ops", "--email", "ops@example.org", "--password-stdin", "--admin")
	add.Env = append(os.Environ(), env...)
	add.Stdin = strings.NewReader("operator-password\n")
	out, err := add.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "in the postgres store") {
		t.Fatalf("user add on postgres: %v\n%s", err, out)
	}
	p := startServe(t, env)
	ready, err := p.api(t, "").Ready(context.Background())
	if err != nil || ready.Store != "postgres" {
		t.Fatalf("ready: %v %+v", err, ready)
	}
	if code, _ := p.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr)
	}
	if strings.Contains(p.stdout.String(), "password") {
		t.Fatalf("serve made an admin although an account existed: %s", p.stdout)
	}
	// A second process on the same database sees the account (a duplicate is refused).
	add = exec.Command(deskhub(t), "user", "add", "--login", "ops", "--email", "x@example.org", "--password-stdin")
	add.Env = append(os.Environ(), env...)
	add.Stdin = strings.NewReader("operator-password\n")
	out, _ = add.CombinedOutput()
	if add.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "exists already") {
		t.Fatalf("duplicate user add: exit %d\n%s", add.ProcessState.ExitCode(), out)
	}
}

// TestReadmeCommands: the README opens with the two commands, and .ci/run calls the test one.
func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	sc := bufio.NewScanner(bytes.NewReader(readme))
	inBlock := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if inBlock {
				break
			}
			inBlock = true
			continue
		}
		if inBlock && strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	if len(cmds) != 2 || cmds[0] != "./run" || cmds[1] != "make test" {
		t.Fatalf("README's first code block should be exactly ./run and make test, got %q", cmds)
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil || !strings.Contains(string(ci), "\nmake test\n") {
		t.Fatalf(".ci/run must call make test: %v\n%s", err, ci)
	}
}
