package lxddesktop

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/vmm"
)

// lxdForward is a unix socket that forwards to the LXD daemon's: a second "server" that can be made to
// stop answering (its event stream stays up), as a daemon that hangs.
type lxdForward struct {
	path   string
	ln     net.Listener
	mu     sync.Mutex
	dead   bool
	others []net.Conn // connections other than the event stream: cut by kill
}

func newLXDForward(t *testing.T, target string) *lxdForward {
	t.Helper()
	f := &lxdForward{path: filepath.Join(t.TempDir(), "lxd.sock")}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	t.Cleanup(func() { ln.Close(); f.kill() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c, target)
		}
	}()
	return f
}

func (f *lxdForward) serve(c net.Conn, target string) {
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.Peek(32)
	if err != nil && len(line) == 0 {
		return
	}
	events := strings.HasPrefix(string(line), "GET /1.0/events")
	f.mu.Lock()
	if f.dead && !events {
		f.mu.Unlock()
		return // a daemon that no longer answers
	}
	if !events {
		f.others = append(f.others, c)
	}
	f.mu.Unlock()
	up, err := net.Dial("unix", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, br); up.Close() }()
	_, _ = io.Copy(c, up)
}

// kill cuts every connection but the event stream's, and refuses the new ones.
func (f *lxdForward) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = true
	for _, c := range f.others {
		c.Close()
	}
	f.others = nil
}

// TestLXDStartFailover: the LXD server first in line by the strategy stops answering; the session goes
// to the next server by the strategy, a real LXD desktop, and the log says why. A start that names the dead server fails with 503 and nothing is left.
func TestLXDStartFailover(t *testing.T) {
	d := startDeskhub(t, "--max-sessions-per-server", "2", "--placement", "fewest-sessions")
	ctx := context.Background()
	fwd := newLXDForward(t, d.env.Socket)
	doc, err := d.admin.AddServer(ctx, vmm.ServerAddRequest{ServerPath: fwd.path, ServerProtocol: "lxd", ServerProject: d.env.Project})
	if err != nil {
		t.Fatalf("server.add of the forwarded socket: %v\n%s", err, d.srv.Logs())
	}
	dead := "lxd-" + doc.Data.ID
	d.waitServer(t, dead, "online")

	// The host full (2 of 2), the LXD server with one session, the other with none: fewest-sessions
	// puts the next session on the other — which stops answering now.
	for range 2 {
		if _, err := d.admin.StartSession(ctx, fastx.StartRequest{Command: "xterm", ServerID: d.host}); err != nil {
			t.Fatalf("session/start on the host: %v", err)
		}
	}
	first := d.startLXD(t, d.admin, "xterm")
	fwd.kill()
	// deskhub notices at once (its requests on the cut connections fail): the server is reported
	// unreachable, and placement passes it over with the reason in the log. (A start that fails on a
	// server still reported online goes the same way through the session service's failover:
	// internal/session TestStartFailover.)
	d.waitServer(t, dead, "unreachable")

	t0 := time.Now()
	conn, err := d.admin.StartSession(ctx, fastx.StartRequest{Command: "xterm -title failed-over"})
	if err != nil {
		t.Fatalf("session/start with a dead server first in line: %v\n%s", err, d.srv.Logs())
	}
	t.Logf("placed on the next server in %s", time.Since(t0).Round(time.Millisecond))
	s := session(t, d.admin, conn.ID)
	if s == nil || s.ServerID != d.lxdID {
		t.Fatalf("the session runs on %+v, want %s", s, d.lxdID)
	}
	if w, h := frame(t, d.admin, conn); w != 800 || h != 600 {
		t.Errorf("first frame %dx%d", w, h)
	}
	logs := d.srv.Logs()
	said := false
	for _, line := range strings.Split(logs, "\n") {
		said = said || ((strings.Contains(line, "placement skips a server") || strings.Contains(line, "trying the next")) &&
			strings.Contains(line, `"server":"`+dead+`"`))
	}
	if !said {
		t.Errorf("the log does not say why %s was passed over\n%s", dead, logs)
	}

	// Named: no other server; nothing is left of the attempt.
	before, err := d.admin.ListSessions(ctx, fastx.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := d.admin.StartSession(sctx, fastx.StartRequest{Command: "xterm", ServerID: dead}); err == nil {
		t.Errorf("session/start on the dead server by name succeeded")
	}
	after, err := d.admin.ListSessions(ctx, fastx.ListRequest{})
	if err != nil || len(after) != len(before) {
		t.Errorf("sessions before the named start %d, after %d (%v)", len(before), len(after), err)
	}
	if err := d.admin.TerminateSession(ctx, first.ID); err != nil {
		t.Error(err)
	}
}
