package browser

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider/xtest"
)

type shareRun struct {
	OK                    bool   `json:"ok"`
	Error                 string `json:"error"`
	Event                 string `json:"event"`
	GuestToken            bool   `json:"guestToken"`
	GuestSession          string `json:"guestSession"`
	GuestFrame            *frameSummary
	GuestChangedPixels    int      `json:"guestChangedPixels"`
	GuestSound            string   `json:"guestSound"`
	GuestSoundStatus      string   `json:"guestSoundStatus"`
	GuestSoundURLs        []string `json:"guestSoundURLs"`
	GuestStateAfterTyping string   `json:"guestStateAfterTyping"`
	OwnerFrame            *frameSummary
	OwnerChangedPixels    int `json:"ownerChangedPixels"`
	GuestSawOwnerPixels   int `json:"guestSawOwnerPixels"`
	GuestAfterReset       struct {
		State, Status, Session string
		Error                  bool
	} `json:"guestAfterReset"`
	OwnerStateAfterReset string `json:"ownerStateAfterReset"`
	ShareLinks           []struct {
		Perms, Link string
	} `json:"shareLinks"`
	ShareLinksAfter []string `json:"shareLinksAfter"`
	MS              int      `json:"ms"`
	Steps           []struct {
		Step string `json:"step"`
		MS   int    `json:"ms"`
	} `json:"steps"`
}

type frameSummary struct {
	Width, Height int
	White         int
	Box           *struct{ X0, Y0, X1, Y1 int }
	Corner        rgb
}

// TestShareViewOnlyInChromium: the owner starts an xterm desktop and makes a "viewer" share key through
// the API; a guest with no login opens the share link in the web app and sees the desktop, but what it
// types never reaches it, while the same typing from the owner's own page does; in between the owner
// uses the card's share dialog (create viewer and granter links, revoke one, mail one); resetting the
// session's share keys ends the guest's view with a message.
func TestShareViewOnlyInChromium(t *testing.T) {
	browserDeps(t)
	xtest.Ensure(t)
	started := time.Now()
	const login, password = "sharer", "sharer password long enough"
	bin := buildDeskhub(t)
	dir := xtest.StateDir(t)
	base := serveDeskhub(t, bin, dir, login, password)
	t.Logf("deskhub serving %s after %v", base, time.Since(started).Round(time.Millisecond))

	tok := v3Login(t, base, login, password)
	var sess v3Session
	if msg := v3(t, base, tok, "session/start", map[string]string{"command": "xterm", "geometry": "800x600"}, &sess); msg != "" || sess.ID == "" {
		t.Fatalf("session/start: %q, id %q", msg, sess.ID)
	}
	defer func() {
		if msg := v3(t, base, tok, "session/terminate", map[string]string{"id": sess.ID}, nil); msg != "" {
			t.Errorf("session/terminate: %s", msg)
		}
	}()
	var keys []struct {
		Key   string   `json:"key"`
		Perms []string `json:"perms"`
	}
	if msg := v3(t, base, tok, "share/edit", map[string]any{"id": sess.ID, "key": "", "perms": []string{"viewer"}}, &keys); msg != "" || len(keys) != 1 || keys[0].Key == "" {
		t.Fatalf("share/edit: %q, keys %+v", msg, keys)
	}
	key := keys[0].Key
	t.Logf("session %s shared with a viewer key after %v", sess.ID, time.Since(started).Round(time.Millisecond))

	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	nonce := fmt.Sprint(100000 + n.Int64())
	home := filepath.Join(dir, "homes", login)
	artifacts := t.ArtifactDir()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", "share.mjs", base, sess.ID, key, login, password, nonce, artifacts)
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "DESKHUB_SCREENSHOTS="+screenshotDir(t))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node share.mjs: %v", err)
	}

	// The script stops at each event until the test answers "next".
	var run shareRun
	var viewerFileErr, ownerFileErr error
	var ownerFile []byte
	resetMsg := "(share/reset not called)"
	var lines []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var ev shareRun
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		switch ev.Event {
		case "guest-typed":
			time.Sleep(2 * time.Second)
			_, viewerFileErr = os.Stat(filepath.Join(home, "viewer.txt"))
		case "owner-typed":
			want := "owner-typed-" + nonce + "\n"
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if ownerFile, ownerFileErr = os.ReadFile(filepath.Join(home, "owner.txt")); ownerFileErr == nil && string(ownerFile) == want || time.Now().After(deadline) {
					break
				}
			}
			resetMsg = v3(t, base, tok, "share/reset", map[string]string{"id": sess.ID}, nil)
		default:
			run = ev
			continue
		}
		if _, err := fmt.Fprintln(stdin, "next"); err != nil {
			t.Errorf("answering %s: %v", ev.Event, err)
		}
	}
	stdin.Close()
	runErr := cmd.Wait()
	if !run.OK || runErr != nil {
		t.Fatalf("share.mjs: %v (ok=%v, error: %s)\nartifacts: %s\nstdout:\n%s\nstderr:\n%s", runErr, run.OK, run.Error, artifacts, strings.Join(lines, "\n"), stderr.String())
	}
	for _, s := range run.Steps {
		t.Logf("%6d ms  %s", s.MS, s.Step)
	}

	// The guest sees the desktop: an 800x600 framebuffer with the xterm's white background, without a
	// login of its own.
	f := run.GuestFrame
	if f == nil || f.Width != 800 || f.Height != 600 || f.Box == nil || f.White < 300*200/2 || !f.Corner.dark() {
		t.Errorf("the guest's canvas: %+v", f)
	}
	if run.GuestToken || run.GuestSession != sess.ID {
		t.Errorf("guest page: token stored %v, session %q (want %q)", run.GuestToken, run.GuestSession, sess.ID)
	}

	// The guest cannot control the desktop: nothing ran, nothing was echoed, and it stayed connected.
	if !errors.Is(viewerFileErr, fs.ErrNotExist) {
		t.Errorf("~/viewer.txt 2s after the guest typed: %v (want it not to exist)", viewerFileErr)
	}
	if _, err := os.Stat(filepath.Join(home, "viewer.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("~/viewer.txt at the end: %v (want it not to exist)", err)
	}
	if run.GuestSound != "true" || len(run.GuestSoundURLs) != 1 || strings.Contains(run.GuestSoundURLs[0], "key") {
		t.Errorf("the guest's Unmute: pressed %q (status %q), sound websockets %v: want one, without the key in its URL",
			run.GuestSound, run.GuestSoundStatus, run.GuestSoundURLs)
	}
	if run.GuestChangedPixels > 50 || run.GuestStateAfterTyping != "connected" {
		t.Errorf("the guest's typing changed %d xterm pixels (state %q): want no echo", run.GuestChangedPixels, run.GuestStateAfterTyping)
	}

	// Positive control: the owner's page types into the same desktop, and the guest watches it happen.
	if want := "owner-typed-" + nonce + "\n"; ownerFileErr != nil || string(ownerFile) != want {
		t.Errorf("~/owner.txt after the owner typed: %q (%v), want %q", ownerFile, ownerFileErr, want)
	}
	if run.OwnerChangedPixels < 400 {
		t.Errorf("the owner's typing changed only %d pixels of its canvas", run.OwnerChangedPixels)
	}
	if run.GuestSawOwnerPixels < 400 {
		t.Errorf("the guest's canvas changed only %d pixels while the owner typed", run.GuestSawOwnerPixels)
	}

	// share/reset: the guest's page left the desktop; the owner's did not.
	if resetMsg != "" {
		t.Errorf("share/reset: %s", resetMsg)
	}
	// The guest has no login: the viewer says the sharing ended (no desktop list to go back to).
	if g := run.GuestAfterReset; g.State != "ended" || g.Session != sess.ID || !strings.Contains(g.Status, "stopped sharing") && !strings.Contains(g.Status, "no longer opens") {
		t.Errorf("guest page after share/reset: %+v, want state ended with the reason", g)
	}
	// The share dialog: the test's viewer key, then a viewer and a granter link made in the dialog, each a
	// URL of this deskhub naming the session; the granter one revoked, one more (viewer) mailed.
	perms := map[string]int{}
	for _, l := range run.ShareLinks {
		perms[l.Perms]++
		if !strings.HasPrefix(l.Link, base+"/#session="+sess.ID+"&key=") {
			t.Errorf("share link %q", l.Link)
		}
	}
	if len(run.ShareLinks) != 3 || perms["viewer"] != 2 || perms["granter"] != 1 {
		t.Errorf("share dialog links: %+v", run.ShareLinks)
	}
	if strings.Join(run.ShareLinksAfter, " ") != "viewer viewer viewer" {
		t.Errorf("share dialog after revoking the granter link and mailing one: %v", run.ShareLinksAfter)
	}
	mails, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	mailed := false
	for _, m := range mails {
		if b, err := os.ReadFile(m); err == nil && strings.Contains(string(b), "guest@example.org") && strings.Contains(string(b), sess.ID) {
			mailed = true
		}
	}
	if !mailed {
		t.Errorf("no mail to guest@example.org with the share link in %s (%d mails)", filepath.Join(dir, "outbox"), len(mails))
	}
	if run.OwnerStateAfterReset != "connected" {
		t.Errorf("owner page after share/reset: state %q, want connected", run.OwnerStateAfterReset)
	}
	var after []struct {
		Key string `json:"key"`
	}
	if msg := v3(t, base, tok, "share/list", map[string]string{"id": sess.ID}, &after); msg == "" && len(after) != 0 {
		t.Errorf("share keys after share/reset: %+v", after)
	}
	t.Logf("guest page after share/reset: %+v", run.GuestAfterReset)
	t.Logf("share.mjs took %d ms; whole test %v", run.MS, time.Since(started).Round(time.Millisecond))
}
