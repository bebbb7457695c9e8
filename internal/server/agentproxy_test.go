package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/internal/config"
)

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

// agentBinary builds deskhub once into a directory the desktops' users can execute from.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deskhub-agent-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "deskhub")
		if out, err := exec.Command("go", "build", "-o", agentBin, "../../cmd/deskhub").CombinedOutput(); err != nil {
			agentBinErr = err
			t.Logf("%s", out)
		}
	})
	if agentBinErr != nil {
		t.Fatalf("building deskhub for the agent: %v", agentBinErr)
	}
	return agentBin
}

// TestAgentProxy: every desktop runs `deskhub agent`; the broker proxies /spawner/{id}/… to it for the
// session's owner only.
func TestAgentProxy(t *testing.T) {
	bin := agentBinary(t)
	h := desktopHarness(t, func(c *config.Config, _ *Options) { c.Sessions.AgentCommand = []string{bin, "agent"} })
	owner := h.user("ada", false)
	other := h.user("bo", false)
	id := h.call("POST", "/v3/api/session/start", owner, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	var r reply
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = h.call("GET", "/spawner/"+id+"/version", owner, nil)
		if r.Status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Status != 200 || r.get("code") != 200.0 || r.str("data", "version") == "" {
		t.Fatalf("agent version through the broker: %d %s", r.Status, r.Raw)
	}
	// Bodies over the limit are a 413 from the broker, before anything reaches the agent (streamed on,
	// they failed halfway and answered 502).
	big := `{"command":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, ep := range []struct{ method, path string }{{"POST", "/launch"}, {"POST", "/setDesktop"},
		{"POST", "/setBackgroundColor"}, {"PUT", "/configurePulse"}, {"POST", "/activatewindows"}} {
		r := h.call(ep.method, "/spawner/"+id+ep.path, owner, big)
		if r.Status != 413 || r.get("code") != 413.0 || !strings.Contains(r.str("data"), "larger than the limit") {
			t.Fatalf("%s %s with 2 MiB: %d %.200s", ep.method, ep.path, r.Status, r.Raw)
		}
	}
	about := h.call("GET", "/spawner/"+id+"/about", owner, nil, "Accept-Language", "de-DE").want(t, 200)
	if about.str("data", "language") != "de" || about.str("data", "clientipaddr") != "192.0.2.10" {
		t.Fatalf("about: %s", about.Raw)
	}
	h.call("GET", "/spawner/"+id+"/getSettings", owner, nil).want(t, 200)
	// The agent's own errors come through in its envelope.
	if nf := h.call("GET", "/spawner/"+id+"/getDesktop?key=nothing", owner, nil); nf.Status != 404 || nf.get("code") != 404.0 {
		t.Fatalf("agent error through the proxy: %d %s", nf.Status, nf.Raw)
	}

	// Live events through the broker: a new window shows up as a window.list message.
	ts := httptest.NewServer(h.s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/spawner/"+id+"/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + owner}}})
	if err != nil {
		t.Fatalf("events websocket: %v", err)
	}
	defer ws.CloseNow()
	_, first, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(first), `"window.list"`) || !strings.Contains(string(first), "XTerm") {
		t.Fatalf("first event: %s %v", first, err)
	}

	// Windows: the xterm is listed with its pid; xclock appears (event and list); activate, tile, close.
	wl := h.call("GET", "/spawner/"+id+"/getwindowslist", owner, nil).want(t, 200)
	if wl.str("data", 0, "wm_class") != "XTerm" || wl.get("data", 0, "pid").(float64) <= 0 {
		t.Fatalf("window list: %s", wl.Raw)
	}
	h.call("POST", "/v3/api/session/exec", owner, map[string]any{"id": id, "command": "xclock"}).want(t, 200)
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("no window.list event with XClock: %v", err)
		}
		if strings.Contains(string(msg), "XClock") {
			break
		}
	}
	var clock float64
	for _, w := range h.call("GET", "/spawner/"+id+"/getwindowslist", owner, nil).want(t, 200).get("data").([]any) {
		if w.(map[string]any)["wm_class"] == "XClock" {
			clock = w.(map[string]any)["id"].(float64)
		}
	}
	xterm := wl.get("data", 0, "id")
	h.call("POST", "/spawner/"+id+"/activatewindows", owner, map[string]any{"windowsid": []any{xterm}}).want(t, 200)
	h.call("POST", "/spawner/"+id+"/activatewindows", owner, map[string]any{"windowsid": []any{12345}}).wantErr(t, 404, "12345")
	h.call("POST", "/spawner/"+id+"/activatewindows", owner, map[string]any{"windowsid": "x"}).wantErr(t, 400, "windowsid")
	h.call("POST", "/spawner/"+id+"/placeAllWindows", owner, nil).want(t, 200)
	h.call("POST", "/spawner/"+id+"/closewindows", owner, map[string]any{"windowsid": []any{clock}}).want(t, 200)
	waitFor(t, "xclock closed", func() bool {
		return !strings.Contains(h.call("GET", "/spawner/"+id+"/getwindowslist", owner, nil).Raw, "XClock")
	})
	// Launch: an application of the desktop, with real arguments, no shell.
	l := h.call("POST", "/spawner/"+id+"/launch", owner, map[string]any{"command": "xterm", "args": []string{"-title", "launched by deskhub"}}).want(t, 200)
	if l.get("data", "pid").(float64) <= 0 {
		t.Fatalf("launch: %s", l.Raw)
	}
	waitFor(t, "the launched window", func() bool {
		return strings.Contains(h.call("GET", "/spawner/"+id+"/getwindowslist", owner, nil).Raw, "launched by deskhub")
	})
	h.call("POST", "/spawner/"+id+"/launch", owner, map[string]any{"command": "/bin/sh"}).wantErr(t, 400, "not an application")
	// Sound: the agent starts the desktop's PulseAudio (null sink "deskhub") and plays a real tone.
	h.call("POST", "/spawner/"+id+"/setAudioQuality", owner, map[string]any{"sink": "deskhub"}).want(t, 200)
	h.call("POST", "/spawner/"+id+"/setAudioQuality", owner, map[string]any{"sink": "nope"}).wantErr(t, 400, "no sink")
	h.call("POST", "/spawner/"+id+"/playAudioSample", owner, nil).want(t, 200)
	if st := h.call("GET", "/spawner/"+id+"/getSettings", owner, nil).want(t, 200); !strings.Contains(st.Raw, `"audio"`) {
		t.Fatalf("getSettings without audio while PulseAudio runs: %s", st.Raw)
	}
	// Desktop store through the broker.
	h.call("POST", "/spawner/"+id+"/setDesktop", owner, map[string]any{"key": "k", "value": map[string]any{"a": 1}}).want(t, 200)
	if v := h.call("GET", "/spawner/"+id+"/getDesktop?key=k", owner, nil).want(t, 200); v.get("data", "a") != 1.0 {
		t.Fatalf("getDesktop: %s", v.Raw)
	}
	// Background colour: the root window's pixels change (read back through a screenshot's corner).
	h.call("POST", "/spawner/"+id+"/setBackgroundColor", owner, map[string]any{"color": "#00ff00"}).want(t, 200)
	h.call("POST", "/spawner/"+id+"/setBackgroundColor", owner, map[string]any{"color": "green"}).wantErr(t, 400, "color")
	// The default wallpaper replaces the colour (dominant colour answered).
	if dw := h.call("POST", "/spawner/"+id+"/setDefaultImage", owner, nil).want(t, 200); !strings.HasPrefix(dw.str("data"), "#") {
		t.Fatalf("setDefaultImage: %s", dw.Raw)
	}
	h.call("POST", "/spawner/"+id+"/setBackgroundImage", owner, map[string]any{"imgName": "../../etc/passwd"}).want(t, 400)
	h.call("POST", "/spawner/"+id+"/setBackgroundImage", owner, map[string]any{"imgName": "nope.png"}).want(t, 404)
	h.call("POST", "/spawner/"+id+"/setBackgroundColor", owner, map[string]any{"color": "#00ff00"}).want(t, 200)
	shot := decodeDataURL(t, h.call("POST", "/v3/api/session/screenshot", owner, map[string]any{"id": id, "format": "png"}).want(t, 200).str("result", "src"))
	b := shot.Bounds()
	if r, g, bl, _ := shot.At(b.Max.X-2, b.Max.Y-2).RGBA(); r>>8 > 30 || g>>8 < 220 || bl>>8 > 30 {
		t.Fatalf("corner pixel after setBackgroundColor #00ff00: %d,%d,%d", r>>8, g>>8, bl>>8)
	}
	// Share keys: a viewer reads (window list) but cannot act; a granter can.
	vk := h.call("POST", "/v3/api/share/edit", owner, map[string]any{"id": id, "key": "", "perms": []string{"viewer"}}).want(t, 200).str("result", 0, "key")
	h.call("GET", "/spawner/"+id+"/getwindowslist", other, nil, "X-Share-Key", vk).want(t, 200)
	h.call("POST", "/spawner/"+id+"/placeAllWindows", other, nil, "X-Share-Key", vk).wantErr(t, 403, "viewer")
	h.call("POST", "/spawner/"+id+"/setDesktop", other, map[string]any{"key": "x", "value": 1}, "X-Share-Key", vk).want(t, 403)
	h.call("POST", "/v3/api/share/reset", owner, map[string]any{"id": id}).want(t, 200)
	gk := h.call("POST", "/v3/api/share/edit", owner, map[string]any{"id": id, "key": "", "perms": []string{"granter"}}).want(t, 200).str("result", 0, "key")
	h.call("POST", "/spawner/"+id+"/placeAllWindows", other, nil, "X-Share-Key", gk).want(t, 200)
	h.call("GET", "/spawner/"+id+"/getwindowslist", other, nil, "X-Share-Key", "wrong").want(t, 404)
	h.call("POST", "/v3/api/share/reset", owner, map[string]any{"id": id}).want(t, 200)
	h.call("GET", "/spawner/"+id+"/getwindowslist", other, nil, "X-Share-Key", gk).want(t, 404)
	// Another user's session answers like a missing one; no token is refused.
	h.call("GET", "/spawner/"+id+"/version", other, nil).want(t, 404)
	h.call("GET", "/spawner/nope/version", other, nil).want(t, 404)
	h.call("GET", "/spawner/"+id+"/version", "", nil).want(t, 401)
	// The agent is restarted when it dies.
	display := h.call("POST", "/v3/api/session/list", owner, "{}").str("result", 0, "display")
	pid := agentPID(t, bin, display)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new agent", func() bool {
		p := agentPIDOrZero(bin, display)
		return p != 0 && p != pid && h.call("GET", "/spawner/"+id+"/version", owner, nil).Status == 200
	})
	h.call("POST", "/v3/api/session/terminate", owner, map[string]any{"id": id}).want(t, 200)
	h.call("GET", "/spawner/"+id+"/version", owner, nil).want(t, 409)
}

// agentPIDOrZero finds the agent process of a display by its command line.
func agentPIDOrZero(bin, display string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmd, "\x00"), []byte{0})
		if len(args) > 3 && string(args[0]) == bin && string(args[1]) == "agent" && bytes.Contains(cmd, []byte("\x00"+display+"\x00")) {
			return pid
		}
	}
	return 0
}

func agentPID(t *testing.T, bin, display string) int {
	t.Helper()
	if pid := agentPIDOrZero(bin, display); pid != 0 {
		return pid
	}
	t.Fatalf("no agent process for display %s", display)
	return 0
}
