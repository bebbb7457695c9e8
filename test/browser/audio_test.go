package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// esbuildModule transpiles one of web/app's TypeScript modules (no imports) into a script that
// defines its exports as the global name, with esbuild from test/browser/node_modules
// (scripts/browser-deps.sh installs it).
func esbuildModule(t *testing.T, src, global string) string {
	t.Helper()
	esbuild, err := filepath.Abs("node_modules/.bin/esbuild")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), global+".js")
	cmd := exec.Command(esbuild, src, "--bundle", "--format=iife", "--global-name="+global, "--target=es2020", "--outfile="+out, "--log-level=warning")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild %s (scripts/browser-deps.sh installs it): %v\n%s", src, err, b)
	}
	return out
}

type audioTrial struct {
	Error     string   `json:"error"`
	Frames    int      `json:"frames"`
	Peak      float64  `json:"peak"`
	ArrivalMS *float64 `json:"arrivalMs"`
	HeardMS   *float64 `json:"heardMs"`
	Underruns int      `json:"underruns"`
}

// TestAudioInChromium: web/app/src/audio.ts's AudioPlayer, in headless Chromium on deskhub's origin,
// opens /ws/audio/<id> of a real desktop, gets the format header, and plays the 0.5 s 440 Hz sample
// the agent plays in the desktop: the frames arrive (about 25 of 20 ms) and an AnalyserNode on the
// player's output hears the tone; stop() closes the websocket and the player's AudioContext.
func TestAudioInChromium(t *testing.T) {
	browserDeps(t)
	xtest.Ensure(t)
	const login, password = "listener", "listener password long enough"
	bin := buildDeskhub(t)
	dir := xtest.StateDir(t)
	base := serveDeskhub(t, bin, dir, login, password)
	tok := v3Login(t, base, login, password)
	var sess v3Session
	if msg := v3(t, base, tok, "session/start", map[string]string{"command": "xterm", "geometry": "800x600"}, &sess); msg != "" || sess.ID == "" {
		t.Fatalf("session/start: %q, id %q", msg, sess.ID)
	}
	defer v3(t, base, tok, "session/terminate", map[string]string{"id": sess.ID}, nil)
	// The agent answers once the desktop is up.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest("GET", base+"/spawner/"+sess.ID+"/version", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the desktop's agent did not answer: %v", err)
		}
	}
	src, err := filepath.Abs("../../web/app/src/audio.ts")
	if err != nil {
		t.Fatal(err)
	}
	bundle := esbuildModule(t, src, "DeskhubAudio")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", "audio.mjs", base, tok, sess.ID, bundle, "2")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var run struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Header struct {
			Format       string `json:"format"`
			Rate         int    `json:"rate"`
			Channels     int    `json:"channels"`
			FrameMs      int    `json:"frameMs"`
			SkipsSilence bool   `json:"skipsSilence"`
		} `json:"header"`
		Trials           []audioTrial `json:"trials"`
		ClosedBeforeStop *string      `json:"closedBeforeStop"`
		Stopped          bool         `json:"stopped"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &run); err != nil || !run.OK || runErr != nil {
		t.Fatalf("audio.mjs: %v (ok=%v, error: %s)\nstdout: %s\nstderr:\n%s", runErr, run.OK, run.Error, stdout.String(), stderr.String())
	}
	if h := run.Header; h.Format != "s16le" || h.Rate != 24000 || h.Channels != 2 || h.FrameMs != 20 || !h.SkipsSilence {
		t.Errorf("header: %+v", h)
	}
	if len(run.Trials) != 2 {
		t.Fatalf("trials: %+v", run.Trials)
	}
	for i, tr := range run.Trials {
		// 0.5 s is 25 frames; the tone's peak is 0.4 of full scale.
		if tr.Frames < 22 || tr.Frames > 28 || tr.Peak < 0.3 || tr.ArrivalMS == nil || tr.HeardMS == nil || *tr.HeardMS < *tr.ArrivalMS {
			t.Errorf("trial %d: %+v (arrival %v, heard %v)\n%s", i, tr, deref(tr.ArrivalMS), deref(tr.HeardMS), stderr.String())
			continue
		}
		t.Logf("trial %d: %d frames, peak %.2f, first frame %.0f ms and heard %.0f ms after playAudioSample was sent",
			i, tr.Frames, tr.Peak, *tr.ArrivalMS, *tr.HeardMS)
	}
	if run.ClosedBeforeStop != nil {
		t.Errorf("the stream ended before stop(): %s", *run.ClosedBeforeStop)
	}
	if !run.Stopped {
		t.Errorf("stop() left the player playing")
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
