package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// remoteServer starts the real deskhub binary (with more serve flags, if any) with an administrator
// alice, and answers its URL and the environment of a CLI user (own config file).
func remoteServer(t *testing.T, flags ...string) (url string, env map[string]string) {
	t.Helper()
	data, err := servetest.NewDataDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if err := servetest.AddUser(data, "alice", "alice-password-1", true); err != nil {
		t.Fatal(err)
	}
	s, err := servetest.Start(data, servetest.Options{UserPrefix: "dhcli-", Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("log of deskhub serve:\n%s", s.Logs())
		}
	})
	home := t.TempDir()
	return s.URL, map[string]string{"HOME": home}
}

// must runs the CLI and fails the test unless it exits 0.
func must(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	r := run(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("deskhub %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// wantFail runs the CLI and checks exit 1 with a one-line error containing msg.
func wantFail(t *testing.T, env map[string]string, msg string, args ...string) {
	t.Helper()
	r := run(t, env, "", args...)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "deskhub ") || !strings.Contains(r.stderr, msg) {
		t.Fatalf("deskhub %s: exit %d, stderr %q; want exit 1 and one line with %q", strings.Join(args, " "), r.code, r.stderr, msg)
	}
}

func TestRemoteLoginTokensServers(t *testing.T) {
	url, env := remoteServer(t)
	wantFail(t, env, "deskhub login", "session", "list")
	wantFail(t, env, "standard input is empty", "login", url, "--user", "alice", "--password-stdin")
	if r := run(t, env, "wrong-password\n", "login", url, "--user", "alice", "--password-stdin"); r.code != 1 || !strings.HasPrefix(r.stderr, "deskhub login: ") {
		t.Fatalf("login with a wrong password: %+v", r)
	}
	out := must(t, env, "alice-password-1\n", "login", url, "--user", "alice", "--password-stdin")
	if out != "logged in to "+url+" as alice\n" {
		t.Fatalf("login: %q", out)
	}
	// Without --user, the login comes first on standard input, then the password.
	if out := must(t, env, "alice\nalice-password-1\n", "login", url); !strings.Contains(out, "as alice") {
		t.Fatalf("login with prompts: %q", out)
	}
	cfgPath := filepath.Join(env["HOME"], ".config", "deskhub", "config.json")
	st, err := os.Stat(cfgPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v", st, err)
	}
	if dir, _ := os.Stat(filepath.Dir(cfgPath)); dir.Mode().Perm() != 0o700 {
		t.Fatalf("config dir mode %v", dir.Mode().Perm())
	}

	// Tokens.
	tok := strings.TrimSpace(must(t, env, "", "token", "create", "--lifetime", "1h"))
	if len(tok) < 20 {
		t.Fatalf("token create: %q", tok)
	}
	list := must(t, env, "", "token", "list")
	if !strings.HasPrefix(list, "NAME") || !strings.Contains(list, "system.api") || strings.Contains(list, tok) {
		t.Fatalf("token list:\n%s", list)
	}
	var tokens []struct {
		Name string `json:"token_name"`
		Type string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(must(t, env, "", "token", "list", "--json")), &tokens); err != nil {
		t.Fatal(err)
	}
	var apiName string
	for _, tk := range tokens {
		if tk.Type == "system.api" {
			apiName = tk.Name
		}
	}
	// The API token works with --token (DESKHUB_TOKEN), until revoked.
	apiEnv := map[string]string{"HOME": t.TempDir(), "DESKHUB_URL": url, "DESKHUB_TOKEN": tok}
	must(t, apiEnv, "", "server", "list")
	if out := must(t, env, "", "token", "revoke", apiName); out != "revoked "+apiName+"\n" {
		t.Fatalf("token revoke: %q", out)
	}
	wantFail(t, apiEnv, "token", "server", "list")
	wantFail(t, env, "no-such", "token", "revoke", "no-such-token")

	// Servers and instances: no LXD server is added here.
	if out := must(t, env, "", "server", "list"); out != "ID  NAME  ADDRESS  PROTOCOL  STATE  VERSION\n" {
		t.Fatalf("server list: %q", out)
	}
	if out := must(t, env, "", "server", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("server list --json: %q", out)
	}
	wantFail(t, env, "", "server", "add", "127.0.0.1", "--port", "1", "--password-stdin")
	if r := run(t, env, "trust-me\n", "server", "add", "127.0.0.1", "--port", "1", "--password-stdin"); r.code != 1 || !strings.HasPrefix(r.stderr, "deskhub server: ") {
		t.Fatalf("server add of an unreachable server: %+v", r)
	}
	if out := must(t, env, "", "instance", "list"); !strings.HasPrefix(out, "ID  NAME  TYPE  STATUS") {
		t.Fatalf("instance list: %q", out)
	}
	for _, action := range []string{"start", "stop", "delete"} {
		wantFail(t, env, "", "instance", action, "999")
	}

	// Bad command lines: exit 2 with usage.
	for _, args := range [][]string{{"login"}, {"login", url, "extra"}, {"login", url, "--password-stdin"},
		{"session"}, {"session", "frob"}, {"session", "terminate"}, {"session", "list", "--nope"},
		{"token", "revoke"}, {"token", "create", "--lifetime", "0s"}, {"server", "add"}, {"server", "add", "h"},
		{"instance", "stop"}, {"instance", "stop", ""}, {"instance", "list", "stray"}, {"logout", "stray"}} {
		r := run(t, env, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "Usage: deskhub") || r.stdout != "" {
			t.Errorf("%v: exit %d (want 2), stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"session", "--help"}, {"token", "--help"}, {"server", "list", "--help"}, {"login", "--help"}} {
		if r := run(t, env, "", args...); r.code != 0 || !strings.Contains(r.stdout, "Usage: deskhub") {
			t.Errorf("%v: %+v", args, r)
		}
	}

	if out := must(t, env, "", "logout"); out != "logged out of "+url+"\n" {
		t.Fatalf("logout: %q", out)
	}
	wantFail(t, env, "not logged in", "token", "list")
	wantFail(t, env, "not logged in", "logout")
}

func TestRemoteSessions(t *testing.T) {
	xtest.Ensure(t)
	url, env := remoteServer(t)
	must(t, env, "alice-password-1\n", "login", url, "--user", "alice", "--password-stdin")
	if out := must(t, env, "", "session", "list"); out != "ID  NAME  STATE  GEOMETRY  DISPLAY  CLIENTS  STARTED  COMMAND\n" {
		t.Fatalf("session list (none): %q", out)
	}
	id := strings.TrimSpace(must(t, env, "", "session", "start", "xterm", "--geometry", "800x600", "--name", "cli"))
	t.Cleanup(func() { run(t, env, "", "session", "terminate", id) })
	list := must(t, env, "", "session", "list")
	if !strings.Contains(list, id) || !strings.Contains(list, "800x600") || !strings.Contains(list, "xterm") {
		t.Fatalf("session list:\n%s", list)
	}
	var sessions []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(must(t, env, "", "session", "list", "--json")), &sessions); err != nil || len(sessions) != 1 || sessions[0].Name != "cli" {
		t.Fatalf("session list --json: %+v, %v", sessions, err)
	}
	if ws := must(t, env, "", "session", "connect", id); !strings.HasPrefix(ws, "ws://"+strings.TrimPrefix(url, "http://")+"/ws/display/"+id+"?secret=") {
		t.Fatalf("session connect: %q", ws)
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	if out := must(t, env, "", "session", "screenshot", id, "--output", shot); !strings.HasPrefix(out, "wrote "+shot) {
		t.Fatalf("session screenshot: %q", out)
	}
	if b, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("screenshot file: %v", err)
	}
	key := strings.TrimSpace(must(t, env, "", "session", "share", id, "--viewer"))
	keys := must(t, env, "", "session", "share", id, "--list")
	if !strings.HasPrefix(keys, "KEY-ID") || !strings.Contains(keys, "viewer") || strings.Contains(keys, key) {
		t.Fatalf("session share --list:\n%s", keys)
	}
	if out := must(t, env, "", "session", "share", id, "--delete", key); strings.Contains(out, "viewer") {
		t.Fatalf("session share --delete: %q", out)
	}
	wantFail(t, env, "no session", "session", "terminate", "no-such-session")
	if out := must(t, env, "", "session", "terminate", id); out != "terminated "+id+"\n" {
		t.Fatalf("session terminate: %q", out)
	}
}
