package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/store/sqlite"

	"github.com/deskhub/deskhub/internal/tlscert"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runCtx(context.Background(), t, env, stdin, args...)
}

func runCtx(ctx context.Context, t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(&Env{Args: args, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Ctx: ctx,
		Getenv: func(k string) string { return env[k] }})
	return result{code, out.String(), errb.String()}
}

func TestHelpAndUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"serve", "-h"}, {"version", "--help"},
		{"user", "--help"}, {"user", "add", "--help"}} {
		r := run(t, nil, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: deskhub") || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r := run(t, nil, "", "serve", "--help")
	for _, flag := range []string{"--listen", "[DESKHUB_LISTEN]", "--data", "[DESKHUB_DATA]", "--db", "[DESKHUB_DB]", `(default "127.0.0.1:8080")`} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("serve --help lacks %s", flag)
		}
	}
	for _, args := range [][]string{{}, {"bogus"}, {"serve", "--bogus"}, {"serve", "stray"}, {"version", "--nope"},
		{"user"}, {"user", "frob"}, {"user", "add", "--nope"}, {"user", "add", "--login", "x"}} {
		r := run(t, nil, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "Usage: deskhub") || r.stdout != "" {
			t.Errorf("%v: exit %d (want 2), stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	r := run(t, nil, "", "version")
	if r.code != 0 || !regexp.MustCompile(`(?m)^deskhub \S+\ncommit \S+\nbuilt  \S+`).MatchString(r.stdout) {
		t.Fatalf("version: %d %q", r.code, r.stdout)
	}
	r = run(t, nil, "", "version", "--json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] == "" || v["commit"] == "" || v["date"] == "" {
		t.Fatalf("version --json: %q %v", r.stdout, err)
	}
}

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DESKHUB_DATA": dir}
	r := run(t, env, "s3cret-password\n", "user", "add", "--login", "alice", "--email", "alice@example.org", "--password-stdin", "--admin")
	if r.code != 0 || !strings.Contains(r.stdout, `created administrator "alice"`) {
		t.Fatalf("user add: %+v", r)
	}
	r = run(t, env, "another-password\n", "user", "add", "--login", "bob", "--email", "bob@example.org", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, `created user "bob"`) {
		t.Fatalf("user add bob: %+v", r)
	}
	// The accounts are in the SQLite store of the data dir from the environment, passwords hashed.
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByLogin(context.Background(), "alice")
	st.Close()
	if err != nil || !u.Admin || u.Email != "alice@example.org" || u.Provider != "local" {
		t.Fatalf("alice: %+v %v", u, err)
	}
	if err := auth.VerifyPassword(u.PasswordHash, "s3cret-password"); err != nil {
		t.Fatalf("stored hash does not verify: %v", err)
	}

	fails := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw-long-enough\n", []string{"--login", "alice", "--email", "other@example.org"}, "exists already"},
		{"pw-long-enough\n", []string{"--login", "Bad Name", "--email", "c@example.org"}, "login"},
		{"pw-long-enough\n", []string{"--login", "carol", "--email", "not-an-address"}, "email"},
		{"short\n", []string{"--login", "carol", "--email", "c@example.org"}, "at least 8 characters"},
		{"", []string{"--login", "carol", "--email", "c@example.org"}, "standard input is empty"},
	}
	for _, f := range fails {
		args := append([]string{"user", "add", "--password-stdin"}, f.args...)
		r := run(t, env, f.stdin, args...)
		if r.code != 1 || !strings.Contains(r.stderr, f.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", f.args, r.code, r.stderr, f.want)
		}
	}
	// --data on the command line beats the environment.
	other := t.TempDir()
	r = run(t, env, "pw-long-enough\n", "user", "add", "--data", other, "--login", "dave", "--email", "d@example.org", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("user add --data: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(other, "deskhub.db")); err != nil {
		t.Fatalf("--data ignored: %v", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveUntilUp runs `serve` in the background and waits for health.alive; stop() ends it and returns
// its result.
func serveUntilUp(t *testing.T, env map[string]string, args ...string) (addr string, stop func() result) {
	t.Helper()
	addr = freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- runCtx(ctx, t, env, "", append([]string{"serve", "--listen", addr}, args...)...)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+"/api/v1/health.alive", "application/json", nil)
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case r := <-done:
			cancel()
			t.Fatalf("serve exited early: %+v", r)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("serve did not come up within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, func() result {
		cancel()
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop within 20 s of cancellation")
		}
		return result{}
	}
}

var passwordLine = regexp.MustCompile(`login "admin", password "([A-Z2-7]{26})"`)

func TestFirstServeCreatesAdminOnce(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DESKHUB_DATA": dir}
	_, stop := serveUntilUp(t, env, "--log-format", "text")
	r := stop()
	if r.code != 0 {
		t.Fatalf("serve: %+v", r)
	}
	m := passwordLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("first serve did not print the admin password: %q", r.stdout)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByLogin(context.Background(), "admin")
	st.Close()
	if err != nil || !u.Admin {
		t.Fatalf("admin account: %+v %v", u, err)
	}
	if err := auth.VerifyPassword(u.PasswordHash, m[1]); err != nil {
		t.Fatalf("printed password does not verify: %v", err)
	}
	if strings.Contains(r.stderr, m[1]) {
		t.Fatal("the admin password reached the log")
	}
	_, stop = serveUntilUp(t, env)
	if r := stop(); r.code != 0 || strings.Contains(r.stdout, "password") {
		t.Fatalf("second serve: %+v", r)
	}
}

func TestServeLogsJSONRequests(t *testing.T) {
	addr, stop := serveUntilUp(t, map[string]string{"DESKHUB_DATA": t.TempDir()})
	resp, err := http.Post("http://"+addr+"/v3/api/nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := stop()
	var sawRequest, sawStopped bool
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" && rec["route"] == "unmatched" && rec["status"] == 404.0 {
			if rec["request_id"] == "" || rec["duration_ms"] == nil || rec["surface"] != "session" {
				t.Fatalf("request log lacks fields: %v", rec)
			}
			sawRequest = true
		}
		sawStopped = sawStopped || rec["msg"] == "deskhub stopped"
	}
	if !sawRequest || !sawStopped {
		t.Fatalf("request logged %v, stop logged %v:\n%s", sawRequest, sawStopped, r.stderr)
	}
}

// TestServeBadConfiguration: each bad setup fails with one clear line on stderr and exit 1, quickly.
func TestServeBadConfiguration(t *testing.T) {
	corrupt := t.TempDir()
	if err := os.WriteFile(filepath.Join(corrupt, "deskhub.db"), bytes.Repeat([]byte("not a database "), 500), 0o600); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		want   string
		forbid string
	}{
		{"unreachable postgres", []string{"--data", t.TempDir(), "--db", "postgres://deskhub:hunter2secret@127.0.0.1:1/deskhub"},
			"127.0.0.1:1", "hunter2secret"},
		{"corrupt sqlite", []string{"--data", corrupt}, "not a SQLite database", ""},
		{"unwritable data dir", []string{"--data", filepath.Join(blocker, "data")}, "cannot be created", ""},
		{"bad db url", []string{"--data", t.TempDir(), "--db", "mysql://u:pw@host/db"}, "want empty (SQLite)", "pw@"},
		{"bad listen", []string{"--data", t.TempDir(), "--listen", "nowhere"}, "listen address", ""},
		{"bad geometry", []string{"--data", t.TempDir(), "--display-geometry", "big"}, "display geometry", ""},
		{"bad body timeout", []string{"--data", t.TempDir(), "--body-timeout", "soon"}, "--body-timeout", ""},
		{"short body timeout", []string{"--data", t.TempDir(), "--body-timeout", "10ms"}, "body timeout", ""},
		{"bad image size", []string{"--data", t.TempDir(), "--image-max-size", "4GB"}, `--image-max-size "4GB": unknown unit`, ""},
		{"small image size", []string{"--data", t.TempDir(), "--image-max-size", "1KiB"}, "image max size", ""},
		{"bad image age", []string{"--data", t.TempDir(), "--image-max-age", "old"}, "--image-max-age", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := run(t, nil, "", append([]string{"serve"}, tc.args...)...)
			took := time.Since(start)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1: %+v", r.code, r)
			}
			if took > 10*time.Second {
				t.Fatalf("took %s to fail, want under 10 s", took)
			}
			var errLines []string
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if !strings.HasPrefix(l, "{") {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 || !strings.HasPrefix(errLines[0], "deskhub serve: ") || !strings.Contains(errLines[0], tc.want) {
				t.Fatalf("want one error line containing %q, got %q", tc.want, errLines)
			}
			if tc.forbid != "" && strings.Contains(r.stderr+r.stdout, tc.forbid) {
				t.Fatalf("output leaks %q: %s", tc.forbid, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
				t.Fatalf("panicked: %s", r.stderr)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4GiB": 4 << 30, "4G": 4 << 30, "512MiB": 512 << 20, "1048576": 1 << 20, "2 TiB": 2 << 40, "10B": 10, "3K": 3072} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1", "4GB", "1.5GiB", "99999999999TiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) worked", bad)
		}
	}
}

func TestBadEnvironment(t *testing.T) {
	r := run(t, map[string]string{"DESKHUB_DATA": t.TempDir(), "DESKHUB_WEBAUTHN": "perhaps"}, "", "serve")
	if r.code != 1 || !strings.Contains(r.stderr, `DESKHUB_WEBAUTHN="perhaps": want true or false`) {
		t.Fatalf("%+v", r)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h/db": "postgres://u:xxxxx@h/db",
		"postgres://u@h/db":    "postgres://u@h/db",
		"plain":                "plain",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// serve --tls-listen answers HTTPS with a self-signed certificate generated on the first start, kept
// for the next, and prints its fingerprint; a client pinning the certificate file gets the API.
func TestServeTLS(t *testing.T) {
	data := t.TempDir()
	var fingerprints []string
	for i := 0; i < 2; i++ {
		tlsAddr := freePort(t)
		_, stop := serveUntilUp(t, nil, "--data", data, "--tls-listen", tlsAddr)
		pemBytes, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
		if err != nil {
			stop()
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			stop()
			t.Fatal("cert.pem holds no certificate")
		}
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := cl.Post("https://"+tlsAddr+"/api/v1/health.alive", "application/json", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		r := stop()
		if err != nil {
			t.Fatalf("HTTPS health.alive: %v", err)
		}
		blk, _ := pem.Decode(pemBytes)
		sum := sha256.Sum256(blk.Bytes)
		fp := tlscert.Fingerprint(sum[:])
		if !strings.Contains(r.stdout, "https://"+tlsAddr+"/ with certificate SHA-256 fingerprint "+fp) {
			t.Fatalf("start %d: stdout does not print the fingerprint %s:\n%s", i, fp, r.stdout)
		}
		if generated := strings.Contains(r.stdout, "generated a self-signed TLS certificate"); generated != (i == 0) {
			t.Fatalf("start %d: generated=%v:\n%s", i, generated, r.stdout)
		}
		fingerprints = append(fingerprints, fp)
	}
	if fingerprints[0] != fingerprints[1] {
		t.Fatalf("the certificate changed between starts: %v", fingerprints)
	}
	for _, args := range [][]string{{"--tls-listen", "nowhere"}, {"--tls-cert", "/nonexistent.pem"},
		{"--image-server-url", "http://plain.example/"}} {
		r := run(t, nil, "", append([]string{"serve", "--data", t.TempDir()}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "deskhub serve: ") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}
