package security

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"

	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// The cross-account probe. Alice starts a program in her own desktop (session/exec): a copy of this test
// binary, which TestMain turns into the probe when its first argument is "probe". It tries, as Alice's
// desktop can, each way into Bob's desktop — his home, his agent socket, his RFB socket, his X display
// (his cookie, and without it), his PulseAudio, his processes — and, as a control that the probe works,
// the same ways into Alice's own. Before per-account Unix identities, every one of Bob's succeeded.

// probeTarget is one desktop as the probe sees it.
type probeTarget struct {
	Home       string `json:"home"`
	SecretFile string `json:"secret_file"` // a 0600 file the owner wrote
	SessionDir string `json:"session_dir"`
	Display    string `json:"display"`
	PulseDir   string `json:"pulse_dir"`
	ServerPID  int    `json:"server_pid"`
}

type probeInput struct {
	Own   probeTarget `json:"own"`
	Other probeTarget `json:"other"`
	Out   string      `json:"out"`
}

// probeResult maps each attempt to "" (it worked) or the error that stopped it.
type probeResult map[string]string

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "probe" {
		os.Exit(runProbe(os.Args[2]))
	}
	code := m.Run()
	servetest.Cleanup()
	os.Exit(code)
}

// runProbe is the program Alice runs in her desktop.
func runProbe(inPath string) int {
	b, err := os.ReadFile(inPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var in probeInput
	if err := json.Unmarshal(b, &in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res := probeResult{}
	own := os.Getenv("XAUTHORITY") // the desktop's own cookie file; dialX changes the variable
	for who, t := range map[string]probeTarget{"own": in.Own, "other": in.Other} {
		for what, err := range probeAll(t, own) {
			res[who+"."+what] = errString(err)
		}
	}
	out, _ := json.Marshal(res)
	if err := os.WriteFile(in.Out+".tmp", out, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(in.Out+".tmp", in.Out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// probeAll tries every way into one desktop.
func probeAll(t probeTarget, ownCookie string) map[string]error {
	dial := func(path string) error {
		c, err := net.DialTimeout("unix", path, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	r := map[string]error{}
	_, r["read_file"] = os.ReadFile(t.SecretFile)
	_, r["list_home"] = os.ReadDir(t.Home)
	r["write_home"] = os.WriteFile(filepath.Join(t.Home, "planted-by-probe"), []byte("x"), 0o644)
	_, r["read_xauthority"] = os.ReadFile(filepath.Join(t.SessionDir, "xauthority"))
	r["agent_socket"] = dial(filepath.Join(t.SessionDir, "agent.sock"))
	r["rfb_socket"] = dial(filepath.Join(t.SessionDir, "rfb.sock"))
	r["pulse_socket"] = dial(filepath.Join(t.PulseDir, "pulse", "native"))
	// The X display with the cookie the probe can read (its own session's, in XAUTHORITY) and with none.
	r["x_display"] = dialX(t.Display, ownCookie)
	r["x_display_no_cookie"] = dialX(t.Display, "/nonexistent")
	r["x_display_their_cookie"] = dialX(t.Display, filepath.Join(t.SessionDir, "xauthority"))
	r["signal_server"] = syscall.Kill(t.ServerPID, 0)
	_, r["read_environ"] = os.ReadFile(fmt.Sprintf("/proc/%d/environ", t.ServerPID))
	return r
}

func dialX(display, xauthority string) error {
	os.Setenv("XAUTHORITY", xauthority)
	done := make(chan error, 1)
	go func() {
		c, err := xgb.NewConnDisplay(display)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("timed out")
	}
}

// get is a GET with a bearer token.
func (s *server) get(path, token string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// agentGet calls a GET endpoint of a desktop's agent through the broker, waiting (10 s at most) for an
// agent that is still starting.
func (s *server) agentGet(id, endpoint, token string) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := s.get("/spawner/"+id+endpoint, token)
		if st == 200 {
			return body
		}
		if st != http.StatusBadGateway || time.Now().After(deadline) {
			s.t.Fatalf("agent %s of %s: %d %s", endpoint, id, st, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sessionObject answers the session/list object of a session.
func (s *server) sessionObject(token, id string) map[string]any {
	s.t.Helper()
	m := s.must("/v3/api/session/list", token, map[string]any{})
	items, _ := m["result"].([]any)
	for _, it := range items {
		if o, _ := it.(map[string]any); o["id"] == id {
			return o
		}
	}
	s.t.Fatalf("session %s not in list %v", id, m)
	return nil
}

// waitFile waits for a file to exist.
func waitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// probeCopy puts a copy of this test binary where every desktop user may run it.
func probeCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(filepath.Dir(binary(t)), "probe")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCrossAccountProbe: nothing Alice runs in her desktop reaches Bob's files, agent, RFB socket, X
// display, PulseAudio or processes, while the same probe reaches all of Alice's own.
func TestCrossAccountProbe(t *testing.T) {
	xtest.Ensure(t)
	if os.Geteuid() != 0 {
		t.Fatal("the cross-account probe needs root (deskhub creates a Unix identity per account)")
	}
	data := newDataDir(t)
	addUser(t, data, "alice", "alice-password-1", false)
	addUser(t, data, "bob", "bob-password-12", false)
	s := startServer(t, data)
	alice, bob := s.login("alice", "alice-password-1"), s.login("bob", "bob-password-12")

	desks := map[string]probeTarget{}
	for _, u := range []struct{ login, token string }{{"alice", alice}, {"bob", bob}} {
		id := s.startDesktop(u.token, "xterm")["id"].(string)
		t.Cleanup(func() { s.call("/v3/api/session/terminate", u.token, map[string]any{"id": id}) })
		obj := s.sessionObject(u.token, id)
		home := filepath.Join(data, "homes", u.login)
		secret := filepath.Join(home, "secret.txt")
		// The owner writes a private file from inside the desktop.
		s.must("/v3/api/session/exec", u.token, map[string]any{"id": id,
			"command": "sh", "args": []string{"-c", "umask 077; echo secret-of-" + u.login + " > " + secret}})
		// PulseAudio starts on first use (getSettings asks it).
		s.agentGet(id, "/getSettings", u.token)
		pulse := filepath.Join(home, ".cache", "deskhub-pulse")
		waitFile(t, secret, 10*time.Second)
		waitFile(t, filepath.Join(pulse, "pulse", "native"), 15*time.Second)
		desks[u.login] = probeTarget{Home: home, SecretFile: secret, SessionDir: filepath.Join(data, "sessions", id),
			Display: obj["display"].(string), PulseDir: pulse, ServerPID: int(obj["serverPid"].(float64))}
		desks[u.login+".id"] = probeTarget{Home: id}
	}

	// Alice's uid must differ from Bob's, and neither may be root.
	var ua, ub syscall.Stat_t
	if err := syscall.Stat(desks["alice"].Home, &ua); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(desks["bob"].Home, &ub); err != nil {
		t.Fatal(err)
	}
	if ua.Uid == ub.Uid || ua.Uid == 0 || ub.Uid == 0 {
		t.Errorf("homes owned by uid %d (alice) and %d (bob): want two distinct non-root identities", ua.Uid, ub.Uid)
	}

	probe := probeCopy(t)
	in := probeInput{Own: desks["alice"], Other: desks["bob"], Out: filepath.Join(desks["alice"].Home, "probe.json")}
	inPath := filepath.Join(desks["alice"].Home, "probe-in.json")
	b, _ := json.Marshal(in)
	if err := os.WriteFile(inPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chown(inPath, int(ua.Uid), int(ua.Gid))
	s.must("/v3/api/session/exec", alice, map[string]any{"id": desks["alice.id"].Home, "command": probe, "args": []string{"probe", inPath}})
	waitFile(t, in.Out, 30*time.Second)
	raw, err := os.ReadFile(in.Out)
	if err != nil {
		t.Fatal(err)
	}
	var res probeResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("probe output %q: %v", raw, err)
	}
	attempts := []string{"read_file", "list_home", "write_home", "read_xauthority", "agent_socket", "rfb_socket",
		"pulse_socket", "x_display", "x_display_no_cookie", "x_display_their_cookie", "signal_server", "read_environ"}
	for _, a := range attempts {
		own, other := res["own."+a], res["other."+a]
		// Controls: Alice reaches her own desktop every way but one (no cookie is no way in, even for her).
		if a == "x_display_no_cookie" {
			if own == "" {
				t.Errorf("own X display accepted a connection without its cookie")
			}
		} else if own != "" {
			t.Errorf("control failed: Alice's probe cannot %s in her own desktop: %s", a, own)
		}
		if other == "" {
			t.Errorf("ISOLATION BROKEN: Alice's desktop could %s in Bob's desktop", a)
		} else {
			t.Logf("bob.%s refused: %s", a, other)
		}
	}
	if _, err := os.Stat(filepath.Join(desks["bob"].Home, "planted-by-probe")); err == nil {
		t.Error("a file planted by Alice's probe is in Bob's home")
	}
	if strings.Contains(string(raw), "secret-of-bob") {
		t.Error("Bob's secret reached Alice's probe output")
	}
}
