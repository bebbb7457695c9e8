package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/deskhub/deskhub/internal/provider/xtest"
)

func postJSON(t *testing.T, addr, path, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestKill9KeepsDesktops: deskhub is killed with SIGKILL while a desktop runs; the next deskhub adopts
// it under the same id, and its screen still answers.
func TestKill9KeepsDesktops(t *testing.T) {
	xtest.Ensure(t)
	data := xtest.StateDir(t)
	env := []string{"DESKHUB_DATA=" + data}
	add := exec.Command(deskhub(t), "user", "add", "--login", "kim", "--email", "kim@example.org", "--password-stdin")
	add.Env = append(os.Environ(), env...)
	add.Stdin = strings.NewReader("kims-password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	p := startServe(t, env)
	_, login := postJSON(t, p.addr, "/v3/api/user/login", "", map[string]any{"username": "kim", "password": "kims-password"})
	tok, _ := login["result"].(map[string]any)["token"].(string)
	status, start := postJSON(t, p.addr, "/v3/api/session/start", tok, map[string]any{"command": "xterm"})
	if status != 200 {
		t.Fatalf("start: %d %v", status, start)
	}
	id := start["result"].(map[string]any)["id"].(string)
	_, list := postJSON(t, p.addr, "/v3/api/session/list", tok, map[string]any{})
	xvnc := int(list["result"].([]any)[0].(map[string]any)["serverPid"].(float64))
	t.Cleanup(func() { _ = syscall.Kill(-xvnc, syscall.SIGKILL); _ = syscall.Kill(xvnc, syscall.SIGKILL) })

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if err := syscall.Kill(xvnc, 0); err != nil {
		t.Fatalf("the desktop died with deskhub: %v", err)
	}

	p2 := startServe(t, env)
	_, list = postJSON(t, p2.addr, "/v3/api/session/list", tok, map[string]any{})
	items, _ := list["result"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != id || items[0].(map[string]any)["state"] != "running" {
		t.Fatalf("after kill -9 and restart: %v", list)
	}
	if status, shot := postJSON(t, p2.addr, "/v3/api/session/screenshot", tok, map[string]any{"id": id, "width": 100, "height": 100}); status != 200 {
		t.Fatalf("screenshot of the adopted desktop: %d %v", status, shot)
	}
	if status, _ := postJSON(t, p2.addr, "/v3/api/session/terminate", tok, map[string]any{"id": id}); status != 200 {
		t.Fatalf("terminate: %d", status)
	}
	if code, _ := p2.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
