package e2e

import (
	"context"
	"syscall"
	"testing"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// TestKill9KeepsDesktops: deskhub is killed with SIGKILL while a desktop runs; the next deskhub adopts
// it under the same id, and its screen still answers.
func TestKill9KeepsDesktops(t *testing.T) {
	xtest.Ensure(t)
	data := xtest.StateDir(t)
	env := []string{"DESKHUB_DATA=" + data}
	if err := servetest.AddUser(data, "kim", "kims-password", false); err != nil {
		t.Fatalf("user add: %v", err)
	}
	ctx := context.Background()
	p := startServe(t, env)
	c := p.api(t, "")
	if _, err := c.Login(ctx, fastx.LoginRequest{Username: "kim", Password: "kims-password"}); err != nil {
		t.Fatalf("login: %v", err)
	}
	tok := c.Token()
	start, err := c.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	id := start.ID
	list, err := c.ListSessions(ctx, fastx.ListRequest{})
	if err != nil || len(list) == 0 {
		t.Fatalf("list: %v %+v", err, list)
	}
	xvnc := list[0].ServerPid
	t.Cleanup(func() { _ = syscall.Kill(-xvnc, syscall.SIGKILL); _ = syscall.Kill(xvnc, syscall.SIGKILL) })

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if err := syscall.Kill(xvnc, 0); err != nil {
		t.Fatalf("the desktop died with deskhub: %v", err)
	}

	p2 := startServe(t, env)
	c2 := p2.api(t, tok)
	list, err = c2.ListSessions(ctx, fastx.ListRequest{})
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].State != "running" {
		t.Fatalf("after kill -9 and restart: %v %+v", err, list)
	}
	if _, err := c2.Screenshot(ctx, fastx.ScreenshotRequest{ID: id, Width: 100, Height: 100}); err != nil {
		t.Fatalf("screenshot of the adopted desktop: %v", err)
	}
	if err := c2.TerminateSession(ctx, id); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	if code, _ := p2.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
