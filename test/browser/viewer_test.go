package browser

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// The viewer test runs the real deskhub binary (built here) with real desktops (Xvnc + openbox +
// xterm), and drives its home page, the noVNC viewer, in headless Chromium (viewer.mjs).

// buildDeskhub builds ./cmd/deskhub into a temporary directory.
func buildDeskhub(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A directory the desktops' users can reach: every desktop runs this binary as its agent.
	dir, err := os.MkdirTemp("", "deskhub-browser-bin-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "deskhub")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/deskhub")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/deskhub: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe for a child process to write while the test reads.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// v3 calls the session API and decodes {result} into out (when not nil); it returns the API's error
// message, if any.
func v3(t *testing.T, base, token, call string, body any, out any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+"/v3/api/"+call, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", call, err)
	}
	defer resp.Body.Close()
	var doc struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("%s: HTTP %d, undecodable answer: %v", call, resp.StatusCode, err)
	}
	if doc.Error != nil {
		return doc.Error.Message
	}
	if out != nil {
		if err := json.Unmarshal(doc.Result, out); err != nil {
			t.Fatalf("%s: %v in %s", call, err, doc.Result)
		}
	}
	return ""
}

func v3Login(t *testing.T, base, login, password string) string {
	t.Helper()
	var stage struct{ Stage, Token string }
	if msg := v3(t, base, "", "user/login", map[string]string{"username": login, "password": password}, &stage); msg != "" || stage.Stage != "success" {
		t.Fatalf("user/login: %q, stage %q", msg, stage.Stage)
	}
	return stage.Token
}

type v3Session struct {
	ID       string `json:"id"`
	Geometry string `json:"geometry"`
	State    string `json:"state"`
}

// serveDeskhub runs `deskhub serve` on a free loopback port with its data in dir and an account
// login/password, and stops it (and any desktop left running) when the test ends.
func serveDeskhub(t *testing.T, bin, dir, login, password string) string {
	t.Helper()
	add := exec.Command(bin, "user", "add", "--data", dir, "--login", login, "--email", login+"@example.org", "--password-stdin")
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("deskhub user add: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := newSyncBuffer()
	srv := exec.Command(bin, "serve", "--listen", addr, "--data", dir, "--log-format", "text", "--log-level", "info", "--shutdown-grace", "3s")
	srv.Stdout, srv.Stderr = logs, logs
	if err := srv.Start(); err != nil {
		t.Fatalf("deskhub serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	base := "http://" + addr
	t.Cleanup(func() {
		// Desktops outlive deskhub: end the ones still running, then stop the server.
		select {
		case <-exited:
		default:
			var stage struct{ Token string }
			if v3(t, base, "", "user/login", map[string]string{"username": login, "password": password}, &stage) == "" {
				var list []v3Session
				v3(t, base, stage.Token, "session/list", map[string]any{}, &list)
				for _, s := range list {
					if msg := v3(t, base, stage.Token, "session/terminate", map[string]string{"id": s.ID}, nil); msg != "" {
						t.Errorf("terminating leftover session %s: %s", s.ID, msg)
					}
				}
			}
			_ = srv.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = srv.Process.Kill()
				<-exited
				t.Errorf("deskhub serve did not stop on SIGTERM")
			}
		}
		if t.Failed() {
			t.Logf("deskhub serve log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("deskhub serve exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("deskhub serve did not answer GET / within 20s (last error %v)\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type rgb [3]int

func (c rgb) white() bool { return c[0] >= 240 && c[1] >= 240 && c[2] >= 240 }
func (c rgb) dark() bool  { return c[0] < 64 && c[1] < 64 && c[2] < 64 }

type viewerRun struct {
	BadLoginMessage string `json:"badLoginMessage"`
	Cookie          *struct {
		HTTPOnly bool   `json:"httpOnly"`
		SameSite string `json:"sameSite"`
		Path     string `json:"path"`
	} `json:"cookie"`
	CookieVisibleToScript bool     `json:"cookieVisibleToScript"`
	StorageKeys           []string `json:"storageKeys"`
	SignedInAfterReload   bool     `json:"signedInAfterReload"`
	FirstLoadMS           int      `json:"firstLoadMs"`
	StartToConnectedMS    int      `json:"startToConnectedMs"`
	Dock                  []string `json:"dock"`
	ReconnectMessage      string   `json:"reconnectMessage"`
	Reconnected           bool     `json:"reconnected"`
	Card                  struct {
		State string
		Text  string
		Thumb int
	} `json:"card"`
	TerminateElsewhereStatus int    `json:"terminateElsewhereStatus"`
	EndedMessage             string `json:"endedMessage"`
	DefaultSize              string `json:"defaultSize"`
	Fit                      struct {
		Window, Screen, FB []int
	} `json:"fit"`
	FitSessionID        string                         `json:"fitSessionId"`
	Downloaded          struct{ Name, Content string } `json:"downloaded"`
	ViewerAxe           []any                          `json:"viewerAxe"`
	LauncherAxe         []any                          `json:"launcherAxe"`
	CookieAfterLogout   bool                           `json:"cookieAfterLogout"`
	LoggedOutEverywhere bool                           `json:"loggedOutEverywhere"`
	Frame               struct {
		Width, Height int
		White         int
		Box           *struct{ X0, Y0, X1, Y1 int }
		Corner        rgb
	} `json:"frame"`
	CanvasScreenshotBytes int `json:"canvasScreenshotBytes"`
	ScreenshotSamples     struct {
		Inside, Outside struct {
			At  [2]int `json:"at"`
			RGB rgb    `json:"rgb"`
		}
	} `json:"screenshotSamples"`
	TypedChangedPixels  int    `json:"typedChangedPixels"`
	ClipboardSent       int    `json:"clipboardSent"`
	StateAfterClipboard string `json:"stateAfterClipboard"`
	Resize              struct {
		Before, Scaled float64
		ScaledState    string
		Screen, Remote []int
		RemoteState    string
	} `json:"resize"`
	SessionID            string   `json:"sessionId"`
	StatusAfterTerminate string   `json:"statusAfterTerminate"`
	ForeignRequests      []string `json:"foreignRequests"`
	FailedRequests       []string `json:"failedRequests"`
	MS                   int      `json:"ms"`
}

// TestViewerInChromium: in deskhub's web app, log in (the login is an HttpOnly, SameSite=Strict cookie
// that survives a reload), start an xterm desktop at 800x600 from the launcher and see it through noVNC
// (pixels: the xterm's white background on the black desktop), see its window in the dock, type a
// command into it (the pixels change and the command's output file holds the typed text), paste text
// sent through the clipboard panel (it arrives in a file too), resize the window in scaling and
// remote-resize modes (the desktop stays connected, and follows the window in the second), drop the
// connection (the viewer reconnects), go back to the launcher (a card with a thumbnail) and open it in
// one click, terminate it elsewhere (the viewer says it ended), start one at the default size (the
// window's) and terminate it from the viewer, and log out (another tab follows). Screenshots of the
// login, launcher and viewer go to docs/screenshots.
func TestViewerInChromium(t *testing.T) {
	browserDeps(t)
	xtest.Ensure(t)
	started := time.Now()
	const login, password = "viewer", "viewer password long enough"
	bin := buildDeskhub(t)
	built := time.Since(started)
	dir := xtest.StateDir(t)
	base := serveDeskhub(t, bin, dir, login, password)
	t.Logf("deskhub built in %v, serving %s after %v", built.Round(time.Millisecond), base, time.Since(started).Round(time.Millisecond))

	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	nonce := fmt.Sprint(100000 + n.Int64())
	artifacts := t.ArtifactDir()

	var run viewerRun
	runScript(t, 150*time.Second, nil, func() string { return "artifacts: " + artifacts }, &run, "viewer.mjs", base, login, password, nonce, artifacts, screenshotDir(t))

	// Login: a wrong password shows the API's message; the right one is kept as a cookie the page's
	// script cannot read (and nothing in the page's storage), and a reload keeps it.
	if !strings.Contains(run.BadLoginMessage, "wrong") {
		t.Errorf("login: wrong-password message %q", run.BadLoginMessage)
	}
	if c := run.Cookie; c == nil || !c.HTTPOnly || c.SameSite != "Strict" || c.Path != "/" || run.CookieVisibleToScript || len(run.StorageKeys) > 0 || !run.SignedInAfterReload {
		t.Errorf("login cookie %+v, visible to script %v, page storage %v, signed in after reload %v", run.Cookie, run.CookieVisibleToScript, run.StorageKeys, run.SignedInAfterReload)
	}
	t.Logf("first load %d ms, start to connected %d ms (informational; bench/ measures)", run.FirstLoadMS, run.StartToConnectedMS)
	if len(run.ForeignRequests) > 0 {
		t.Errorf("the page loaded resources from elsewhere than deskhub: %v", run.ForeignRequests)
	}
	if len(run.FailedRequests) > 0 {
		t.Logf("failed requests (informational): %v", run.FailedRequests)
	}

	// The desktop on the canvas: 800x600, a white xterm (80x24 cells: about 480x320 pixels) on the
	// black root window.
	f := run.Frame
	if f.Width != 800 || f.Height != 600 || f.Box == nil {
		t.Fatalf("framebuffer %dx%d, white box %v", f.Width, f.Height, f.Box)
	}
	if w, h := f.Box.X1-f.Box.X0+1, f.Box.Y1-f.Box.Y0+1; w < 300 || h < 200 || w > 790 || h > 590 || f.White < 300*200/2 {
		t.Errorf("the xterm's white background: %dx%d box, %d white pixels", w, h, f.White)
	}
	if !f.Corner.dark() {
		t.Errorf("desktop background at the bottom-right corner is %v, want dark", f.Corner)
	}
	// The same points in Chromium's screenshot of the canvas.
	if s := run.ScreenshotSamples; !s.Inside.RGB.white() || !s.Outside.RGB.dark() || run.CanvasScreenshotBytes == 0 {
		t.Errorf("canvas screenshot: xterm point %v is %v (want white), desktop point %v is %v (want dark)",
			s.Inside.At, s.Inside.RGB, s.Outside.At, s.Outside.RGB)
	}

	// Typing: the xterm's pixels changed, and the shell ran exactly what was typed.
	if run.TypedChangedPixels < 400 {
		t.Errorf("typing changed only %d pixels of the xterm", run.TypedChangedPixels)
	}
	home := filepath.Join(dir, "homes", login)
	wantFile := func(name, want string) {
		t.Helper()
		var got []byte
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if got, err = os.ReadFile(filepath.Join(home, name)); err == nil && string(got) == want || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || string(got) != want {
			t.Errorf("%s in the desktop's home: %q (%v), want %q", name, got, err, want)
		}
	}
	wantFile("deskhub-typed.txt", "deskhub-typed-"+nonce+"\n")

	// Clipboard: sent without error, and the desktop's selection held it (a middle click pasted it).
	if run.ClipboardSent < 1 || run.StateAfterClipboard != "connected" {
		t.Errorf("clipboard: sent %d times, state after %q", run.ClipboardSent, run.StateAfterClipboard)
	}
	wantFile("deskhub-clip.txt", "deskhub-clip-"+nonce+"\n")

	// Resize: scaled down with the window, then the desktop itself resized to the window; connected
	// throughout.
	r := run.Resize
	if r.Scaled >= r.Before-50 || r.ScaledState != "connected" {
		t.Errorf("scaling: canvas %.0f px wide, then %.0f px after shrinking the window (state %q)", r.Before, r.Scaled, r.ScaledState)
	}
	if len(r.Screen) != 2 || len(r.Remote) != 2 || abs(r.Remote[0]-r.Screen[0]) > 2 || abs(r.Remote[1]-r.Screen[1]) > 2 || r.RemoteState != "connected" {
		t.Errorf("remote resize: desktop %v for a %v screen area (state %q)", r.Remote, r.Screen, r.RemoteState)
	}

	// Accessibility (axe-core): no serious or critical violation on the viewer and on the launcher with a
	// desktop's card.
	if len(run.ViewerAxe) > 0 || len(run.LauncherAxe) > 0 {
		t.Errorf("axe: viewer %v; launcher %v", run.ViewerAxe, run.LauncherAxe)
	}
	// Files: the upload is in the home; the download is the file the typed command wrote.
	wantFile("deskhub-upload-"+nonce+".txt", "uploaded-"+nonce+"\n")
	if run.Downloaded.Name != "deskhub-typed.txt" || run.Downloaded.Content != "deskhub-typed-"+nonce+"\n" {
		t.Errorf("download: %+v", run.Downloaded)
	}
	// The dock lists the xterm's window (the agent's window events).
	if len(run.Dock) == 0 {
		t.Errorf("the dock is empty")
	}
	// Reconnect after a dropped display connection.
	if !run.Reconnected || !strings.Contains(run.ReconnectMessage, "reconnecting") {
		t.Errorf("reconnect: %v, message %q", run.Reconnected, run.ReconnectMessage)
	}
	// The launcher's card: running, with a thumbnail.
	if run.Card.State != "running" || run.Card.Thumb < 100 {
		t.Errorf("card after going back: %+v", run.Card)
	}
	// Terminated elsewhere: the viewer says so.
	if run.TerminateElsewhereStatus != 200 || !strings.Contains(run.EndedMessage, "ended") {
		t.Errorf("terminate elsewhere: HTTP %d, viewer message %q", run.TerminateElsewhereStatus, run.EndedMessage)
	}
	// Default size: fit to the window — the desktop takes the viewer's screen area.
	if f := run.Fit; run.DefaultSize != "fit" || len(f.FB) != 2 || len(f.Screen) != 2 || abs(f.FB[0]-f.Screen[0]) > 2 || abs(f.FB[1]-f.Screen[1]) > 2 {
		t.Errorf("default size %q: desktop %v for screen area %v (window %v)", run.DefaultSize, f.FB, f.Screen, f.Window)
	}
	// Terminate from the viewer: the session is gone.
	tok := v3Login(t, base, login, password)
	var list []v3Session
	if msg := v3(t, base, tok, "session/list", map[string]any{}, &list); msg != "" {
		t.Fatalf("session/list: %s", msg)
	}
	for _, s := range list {
		if s.ID == run.SessionID || s.ID == run.FitSessionID {
			t.Errorf("session %s still listed after the page terminated it (state %s)", s.ID, s.State)
		}
	}
	if run.FitSessionID == "" || !strings.Contains(run.StatusAfterTerminate, "terminated") {
		t.Errorf("terminate: session %q, status %q", run.FitSessionID, run.StatusAfterTerminate)
	}
	// Logout: the cookie is gone and the other tab is logged out.
	if run.CookieAfterLogout || !run.LoggedOutEverywhere {
		t.Errorf("logout: cookie left %v, logged out everywhere %v", run.CookieAfterLogout, run.LoggedOutEverywhere)
	}
	t.Logf("viewer.mjs took %d ms; whole test %v", run.MS, time.Since(started).Round(time.Millisecond))
}

// screenshotDir is docs/screenshots of the repository, where the browser tests write the pages'
// screenshots (README.md shows some).
func screenshotDir(t *testing.T) string {
	dir, err := filepath.Abs("../../docs/screenshots")
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
