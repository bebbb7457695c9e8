package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/spawner"
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
	ownerTok := h.user("ada", false)
	owner := h.client(ownerTok)
	other := h.client(h.user("bo", false))
	ctx := context.Background()
	conn, err := owner.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	id := conn.ID
	a := owner.Agent(id)
	var v spawner.Version
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, err = a.Version(ctx); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || v.Version == "" {
		t.Fatalf("agent version through the broker: %+v, %v", v, err)
	}
	// Files of the home (deskhub extension, the web app's upload and download): written, read back; a
	// viewer's share key may not read them.
	content := base64.StdEncoding.EncodeToString([]byte("uploaded from the browser\n"))
	if r := h.call("PUT", "/spawner/"+id+"/files", ownerTok, map[string]any{"path": "uploaded.txt", "content": content}); r.Status != 200 || r.get("data", "size") != 26.0 {
		t.Fatalf("PUT files through the proxy: %d %s", r.Status, r.Raw)
	}
	if r := h.call("GET", "/spawner/"+id+"/files?path=uploaded.txt", ownerTok, nil); r.Status != 200 || r.str("data", "content") != content || r.str("data", "mime") != "text/plain" {
		t.Fatalf("GET files through the proxy: %d %s", r.Status, r.Raw)
	}
	if r := h.call("GET", "/spawner/"+id+"/files?path=../../etc/passwd", ownerTok, nil); r.Status != 400 {
		t.Fatalf("GET files out of the home: %d %s", r.Status, r.Raw)
	}
	share := h.call("POST", "/v3/api/share/edit", ownerTok, map[string]any{"id": id, "key": "", "perms": []string{"viewer"}}).want(t, 200)
	if r := h.call("GET", "/spawner/"+id+"/files?path=uploaded.txt", "", nil, "X-Share-Key", share.str("result", 0, "key")); r.Status != 401 && r.Status != 403 {
		t.Fatalf("GET files with a viewer's share key: %d %s", r.Status, r.Raw)
	}
	h.call("POST", "/v3/api/share/reset", ownerTok, map[string]any{"id": id}).want(t, 200)

	// The agent's envelope as it comes through the proxy (raw calls: the wire shape is the point).
	if r := h.call("GET", "/spawner/"+id+"/version", ownerTok, nil); r.Status != 200 || r.get("code") != 200.0 {
		t.Fatalf("agent envelope through the proxy: %d %s", r.Status, r.Raw)
	}
	// Bodies over the limit are a 413 from the broker, before anything reaches the agent (streamed on,
	// they failed halfway and answered 502). Raw calls: the oversized body is the point.
	big := `{"command":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, ep := range []struct{ method, path string }{{"POST", "/launch"}, {"POST", "/setDesktop"},
		{"POST", "/setBackgroundColor"}, {"PUT", "/configurePulse"}, {"POST", "/activatewindows"}} {
		r := h.call(ep.method, "/spawner/"+id+ep.path, ownerTok, big)
		if r.Status != 413 || r.get("code") != 413.0 || !strings.Contains(r.str("data"), "larger than the limit") {
			t.Fatalf("%s %s with 2 MiB: %d %.200s", ep.method, ep.path, r.Status, r.Raw)
		}
	}
	about, err := h.client(ownerTok, "Accept-Language", "de-DE").Agent(id).About(ctx)
	must(t, err)
	if about.Language != "de" || about.ClientIPAddr != "192.0.2.10" {
		t.Fatalf("about: %+v", about)
	}
	_, err = a.Settings(ctx)
	must(t, err)
	// The agent's own errors come through in its envelope.
	if nf := h.call("GET", "/spawner/"+id+"/getDesktop?key=nothing", ownerTok, nil); nf.Status != 404 || nf.get("code") != 404.0 {
		t.Fatalf("agent error through the proxy: %d %s", nf.Status, nf.Raw)
	}

	// Live events through the broker: a new window shows up as a window.list message.
	ectx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	events, err := a.Events(ectx)
	if err != nil {
		t.Fatalf("events websocket: %v", err)
	}
	defer events.Close()
	first, err := events.Next(ectx)
	if err != nil || first.Type != "window.list" || !strings.Contains(string(first.Data), "XTerm") {
		t.Fatalf("first event: %+v %v", first, err)
	}

	// Windows: the xterm is listed with its pid; xclock appears (event and list); activate, tile, close.
	wl, err := a.Windows(ctx)
	must(t, err)
	if len(wl) == 0 || wl[0].WMClass != "XTerm" || wl[0].Pid <= 0 {
		t.Fatalf("window list: %+v", wl)
	}
	xterm := wl[0].ID
	_, err = owner.Exec(ctx, fastx.ExecRequest{ID: id, Command: "xclock"})
	must(t, err)
	for {
		e, err := events.Next(ectx)
		if err != nil {
			t.Fatalf("no window.list event with XClock: %v", err)
		}
		if strings.Contains(string(e.Data), "XClock") {
			break
		}
	}
	var clock int64
	wl, err = a.Windows(ctx)
	must(t, err)
	for _, w := range wl {
		if w.WMClass == "XClock" {
			clock = w.ID
		}
	}
	if clock == 0 {
		t.Fatalf("xclock not listed: %+v", wl)
	}
	hasWindow := func(s string) bool {
		wl, err := a.Windows(ctx)
		must(t, err)
		for _, w := range wl {
			if w.WMClass == s || w.Title == s {
				return true
			}
		}
		return false
	}
	_, err = a.ActivateWindows(ctx, xterm)
	must(t, err)
	_, err = a.ActivateWindows(ctx, 12345)
	wantErr(t, err, 404, "12345")
	// A malformed body stays a raw call.
	h.call("POST", "/spawner/"+id+"/activatewindows", ownerTok, `{"windowsid":"x"}`).wantErr(t, 400, "windowsid")
	_, err = a.PlaceAllWindows(ctx)
	must(t, err)
	_, err = a.CloseWindows(ctx, clock)
	must(t, err)
	waitFor(t, "xclock closed", func() bool { return !hasWindow("XClock") })
	// Launch: an application of the desktop, with real arguments, no shell.
	l, err := a.Launch(ctx, "xterm", "-title", "launched by deskhub")
	must(t, err)
	if l.Pid <= 0 {
		t.Fatalf("launch: %+v", l)
	}
	waitFor(t, "the launched window", func() bool { return hasWindow("launched by deskhub") })
	_, err = a.Launch(ctx, "/bin/sh")
	wantErr(t, err, 400, "not an application")
	// Sound: the agent starts the desktop's PulseAudio (null sink "deskhub") and plays a real tone.
	_, err = a.SetAudioQuality(ctx, "deskhub")
	must(t, err)
	_, err = a.SetAudioQuality(ctx, "nope")
	wantErr(t, err, 400, "no sink")
	_, err = a.PlayAudioSample(ctx)
	must(t, err)
	tabs, err := a.Settings(ctx)
	must(t, err)
	if b, _ := json.Marshal(tabs); !strings.Contains(string(b), `"audio"`) {
		t.Fatalf("getSettings without audio while PulseAudio runs: %s", b)
	}
	// Desktop store through the broker.
	_, err = a.SetDesktop(ctx, "k", struct {
		A int `json:"a"`
	}{1})
	must(t, err)
	raw, err := a.GetDesktop(ctx, "k")
	must(t, err)
	var stored struct {
		A int `json:"a"`
	}
	if err := json.Unmarshal(raw, &stored); err != nil || stored.A != 1 {
		t.Fatalf("getDesktop: %s", raw)
	}
	// Background colour: the root window's pixels change (read back through a screenshot's corner).
	_, err = a.SetBackgroundColor(ctx, "#00ff00")
	must(t, err)
	_, err = a.SetBackgroundColor(ctx, "green")
	wantErr(t, err, 400, "color")
	// The default wallpaper replaces the colour (dominant colour answered).
	if dw, err := a.SetDefaultImage(ctx); err != nil || !strings.HasPrefix(dw, "#") {
		t.Fatalf("setDefaultImage: %q, %v", dw, err)
	}
	_, err = a.SetBackgroundImage(ctx, "../../etc/passwd")
	wantErr(t, err, 400, "")
	_, err = a.SetBackgroundImage(ctx, "nope.png")
	wantErr(t, err, 404, "")
	_, err = a.SetBackgroundColor(ctx, "#00ff00")
	must(t, err)
	src, err := owner.Screenshot(ctx, fastx.ScreenshotRequest{ID: id, Format: "png"})
	must(t, err)
	shot := decodeDataURL(t, src.Src)
	b := shot.Bounds()
	if r, g, bl, _ := shot.At(b.Max.X-2, b.Max.Y-2).RGBA(); r>>8 > 30 || g>>8 < 220 || bl>>8 > 30 {
		t.Fatalf("corner pixel after setBackgroundColor #00ff00: %d,%d,%d", r>>8, g>>8, bl>>8)
	}
	// Share keys: a viewer reads (window list) but cannot act; a granter can.
	vk, err := owner.CreateShare(ctx, id, "viewer")
	must(t, err)
	viewer := other.Agent(id).WithShareKey(vk.Key)
	_, err = viewer.Windows(ctx)
	must(t, err)
	_, err = viewer.PlaceAllWindows(ctx)
	wantErr(t, err, 403, "viewer")
	_, err = viewer.SetDesktop(ctx, "x", 1)
	wantErr(t, err, 403, "")
	_, err = owner.ResetShares(ctx, id)
	must(t, err)
	gk, err := owner.CreateShare(ctx, id, "granter")
	must(t, err)
	_, err = other.Agent(id).WithShareKey(gk.Key).PlaceAllWindows(ctx)
	must(t, err)
	_, err = other.Agent(id).WithShareKey("wrong").Windows(ctx)
	wantErr(t, err, 404, "")
	_, err = owner.ResetShares(ctx, id)
	must(t, err)
	_, err = other.Agent(id).WithShareKey(gk.Key).Windows(ctx)
	wantErr(t, err, 404, "")
	// Another user's session answers like a missing one; no token is refused.
	_, err = other.Agent(id).Version(ctx)
	wantErr(t, err, 404, "")
	_, err = other.Agent("nope").Version(ctx)
	wantErr(t, err, 404, "")
	_, err = h.client("").Agent(id).Version(ctx)
	wantErr(t, err, 401, "")
	// The agent is restarted when it dies.
	list, err := owner.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(list) == 0 {
		t.Fatal("no session listed")
	}
	display := list[0].Display
	pid := agentPID(t, bin, display)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new agent", func() bool {
		p := agentPIDOrZero(bin, display)
		if p == 0 || p == pid {
			return false
		}
		_, err := a.Version(ctx)
		return err == nil
	})
	must(t, owner.TerminateSession(ctx, id))
	_, err = a.Version(ctx)
	wantErr(t, err, 409, "")
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
