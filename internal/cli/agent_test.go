package cli

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAgentServesOnUnixSocket(t *testing.T) {
	home := t.TempDir()
	sock := filepath.Join(home, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		done <- runCtx(ctx, t, nil, "", "agent", "--display", ":99", "--home", home, "--listen", "unix:"+sock)
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = client.Get("http://agent/version"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("agent did not answer on its socket: %v", err)
	}
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if v["code"] != 200.0 {
		t.Fatalf("version: %v", v)
	}
	cancel()
	if r := <-done; r.code != 0 {
		t.Fatalf("agent exit %d: %s", r.code, r.stderr)
	}
	if r := run(t, nil, "", "agent", "--display", ":1", "--home", home, "--listen", "0.0.0.0:9999"); r.code != 1 || !strings.Contains(r.stderr, "loopback") {
		t.Fatalf("non-loopback listen: %+v", r)
	}
	if r := run(t, nil, "", "agent"); r.code != 1 || !strings.Contains(r.stderr, "--display and --home are required") {
		t.Fatalf("missing flags: %+v", r)
	}
}
