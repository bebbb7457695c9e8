package client_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
)

// waitWindows waits until the desktop's agent answers and lists a window.
func waitWindows(t *testing.T, a *client.Agent) []int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws, err := a.Windows(context.Background())
		if err == nil && len(ws) > 0 {
			ids := make([]int64, 0, len(ws))
			for _, w := range ws {
				ids = append(ids, w.ID)
			}
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("no window listed after 30s: %v, %v", ws, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAgentThroughBroker(t *testing.T) {
	ctx := context.Background()
	c := login(t, "bob", bobPW)
	conn := startDesktop(t, c)
	a := c.Agent(conn.ID)
	ids := waitWindows(t, a)

	if v, err := a.Version(ctx); err != nil || v.Version == "" {
		t.Fatalf("Version: %+v, %v", v, err)
	}
	if ab, err := a.About(ctx); err != nil || ab.Hostname == "" {
		t.Fatalf("About: %+v, %v", ab, err)
	}
	if tabs, err := a.Settings(ctx); err != nil || len(tabs) == 0 {
		t.Fatalf("Settings: %+v, %v", tabs, err)
	}
	if _, err := a.SetDesktop(ctx, "dock", map[string]any{"apps": []string{"xterm"}}); err != nil {
		t.Fatal(err)
	}
	if raw, err := a.GetDesktop(ctx, "dock"); err != nil || !json.Valid(raw) || !strings.Contains(string(raw), "xterm") {
		t.Fatalf("GetDesktop: %s, %v", raw, err)
	}
	if _, err := a.SetDesktop(ctx, "../escape", 1); client.StatusCode(err) != 400 {
		t.Fatalf("SetDesktop with a path: %v", err)
	}
	if _, err := c.Exec(ctx, fastx.ExecRequest{ID: conn.ID, Command: "sh", Args: []string{"-c", "echo hi > $HOME/sdk-notes.txt"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, err := a.FileSearch(ctx, "SDK-NOTES", 5)
		if err == nil && len(files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FileSearch: %+v, %v", files, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m, err := a.MimeForFile(ctx, "sdk-notes.txt"); err != nil || m.Mime == "" {
		t.Fatalf("MimeForFile: %+v, %v", m, err)
	}
	if _, err := a.AppsForFile(ctx, "sdk-notes.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GenerateDesktopFiles(ctx, nil); err != nil && client.StatusCode(err) != 400 {
		t.Fatalf("GenerateDesktopFiles: %v", err)
	}
	if _, err := a.SetBackgroundColor(ctx, "#336699"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetBackgroundColor(ctx, "blue"); client.StatusCode(err) != 400 {
		t.Fatalf("SetBackgroundColor(blue): %v", err)
	}
	if _, err := a.SetDefaultImage(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetBackgroundImage(ctx, "no-such-image.png"); client.StatusCode(err)/100 != 4 {
		t.Fatalf("SetBackgroundImage of a missing image: %v", err)
	}
	// Nothing selected yet: the agent says so, as an agent-surface error.
	if _, err := a.ClipboardSync(ctx); err != nil {
		if e, ok := err.(*client.Error); !ok || e.Surface != client.SurfaceAgent || !strings.Contains(e.Message, "PRIMARY") {
			t.Fatalf("ClipboardSync: %v (%T)", err, err)
		}
	}
	if _, err := a.ActivateWindows(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PlaceAllWindows(ctx); err != nil {
		t.Fatal(err)
	}

	// The live events: a broadcast comes as window.list.
	ev, err := a.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if _, err := a.BroadcastWindows(ctx); err != nil {
		t.Fatal(err)
	}
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		e, err := ev.Next(ectx)
		if err != nil {
			t.Fatalf("agent events: %v", err)
		}
		if e.Type == "window.list" {
			break
		}
	}

	// Audio: answers, or a clear agent error when the desktop has no sound server.
	for name, call := range map[string]func() error{
		"SetAudioQuality": func() error { _, err := a.SetAudioQuality(ctx, "no-such-sink"); return err },
		"PlayAudioSample": func() error { _, err := a.PlayAudioSample(ctx); return err },
		"ConfigurePulse":  func() error { _, err := a.ConfigurePulse(ctx, "not-an-ip", "5004"); return err },
	} {
		if err := call(); err != nil {
			if e, ok := err.(*client.Error); !ok || e.Surface != client.SurfaceAgent || e.Message == "" {
				t.Errorf("%s: %v (%T)", name, err, err)
			}
		}
	}
	if _, err := a.ConfigurePulse(ctx, "not-an-ip", "5004"); client.StatusCode(err) != 400 {
		t.Errorf("ConfigurePulse with a bad address: %v", err)
	}

	// A viewer share key reads the desktop but does not drive it.
	key, err := c.CreateShare(ctx, conn.ID, fastx.PermViewer)
	if err != nil {
		t.Fatal(err)
	}
	carol := login(t, "carol", "carol-password-1")
	viewer := carol.Agent(conn.ID).WithShareKey(key.Key)
	if _, err := viewer.Windows(ctx); err != nil {
		t.Fatalf("viewer Windows: %v", err)
	}
	_, err = viewer.Launch(ctx, "xterm")
	wantStatus(t, "viewer Launch", err, client.SurfaceAgent, 403)
	_, err = carol.Agent(conn.ID).Windows(ctx)
	wantStatus(t, "Windows of someone else's desktop", err, client.SurfaceAgent, 404)

	if res, err := a.Launch(ctx, "xterm"); err != nil || res.Pid == 0 {
		t.Fatalf("Launch: %+v, %v", res, err)
	}
	if _, err := a.CloseWindows(ctx, ids...); err != nil {
		// Seen once in ~60 runs under load (an "internal error" from the agent): show the desktop's log,
		// where the agent writes the cause, so that a failure in CI says why.
		b, _ := os.ReadFile(srv.Data + "/sessions/" + conn.ID + "/session.log")
		t.Fatalf("CloseWindows %v: %v\ndesktop log:\n%s", ids, err, b)
	}
}
