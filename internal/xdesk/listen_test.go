package xdesk_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/xauth"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// TestWaitListening: against a real Xvnc, WaitListening returns once the server's lock and socket are
// there — not later than WaitX, which then finds the display serving the cookie; a display whose lock
// belongs to another live process is ErrDisplayBusy; a server that exits is ErrServerExited.
func TestWaitListening(t *testing.T) {
	xtest.Ensure(t)
	dir := t.TempDir()
	cookie := []byte("0123456789abcdef")
	auth := filepath.Join(dir, "xauthority")
	if err := os.WriteFile(auth, xauth.Entry(cookie), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	for n = 470; n < 500; n++ {
		if _, err := os.Lstat(xdesk.LockPath(n)); errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	argv := xdesk.Xvnc{Display: n, Width: 320, Height: 240, Depth: 24, RFBSocket: filepath.Join(dir, "rfb.sock"), Auth: auth}.Args("Xvnc")
	cmd := exec.Command("Xvnc", argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := xdesk.WaitListening(ctx, n, cmd.Process.Pid, done); err != nil {
		t.Fatalf("WaitListening: %v", err)
	}
	if pid, ok := xdesk.LockPID(n); !ok || pid != cmd.Process.Pid {
		t.Fatalf("lock of :%d holds %d, want %d", n, pid, cmd.Process.Pid)
	}
	if err := xdesk.WaitX(ctx, n, cookie, cmd.Process.Pid, done); err != nil {
		t.Fatalf("WaitX after WaitListening: %v", err)
	}
	// Another server's pid waiting for this display: the lock is not its.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	if err := xdesk.WaitListening(ctx, n, other.Process.Pid, nil); !errors.Is(err, xdesk.ErrDisplayBusy) {
		t.Fatalf("WaitListening for another pid: %v, want ErrDisplayBusy", err)
	}
	// A server that exits before it listens.
	bad := exec.Command("Xvnc", ":"+strconv.Itoa(n), "-bogus-option")
	if err := bad.Start(); err != nil {
		t.Fatal(err)
	}
	badDone := make(chan struct{})
	go func() { _ = bad.Wait(); close(badDone) }()
	if err := xdesk.WaitListening(ctx, n+1000, bad.Process.Pid, badDone); !errors.Is(err, xdesk.ErrServerExited) {
		t.Fatalf("WaitListening for an exiting server: %v, want ErrServerExited", err)
	}
}
