package lxd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/lxd"
	"github.com/deskhub/deskhub/internal/provider/rfb"
)

// waitPool waits until the provider's warm pool on the server holds n started spares.
func waitPool(t *testing.T, p *lxd.Provider, serverID string, n int) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		st := p.Pool(serverID)
		if st.Ready >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the warm pool of %s holds %+v after 4 min, want %d ready", serverID, st, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// spares lists the instances of the run's project that are spares of broker.
func (f *fixture) spares(t *testing.T, broker string) []string {
	t.Helper()
	list, err := f.env.Client(t).GetInstances("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, inst := range list {
		if inst.Config[lxd.KeyBroker] == broker && inst.Config[lxd.KeyPool] != "" {
			out = append(out, inst.Name)
		}
	}
	return out
}

// agentCall calls the desktop's agent and answers the status and body.
func agentCall(t *testing.T, p provider.AgentDialer, id, method, path string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return p.DialAgent(ctx, id) }}}
	req, _ := http.NewRequest(method, "http://agent"+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("agent %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// setClipboard gives the desktop's X clipboard a text as a viewer does: an RFB ClientCutText. Xvnc
// keeps it while the viewer's connection lasts: the caller closes the answer.
func setClipboard(t *testing.T, p provider.Provider, id, text string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := p.DialRFB(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := rfb.Handshake(ctx, c); err != nil {
		t.Fatal(err)
	}
	msg := []byte{6, 0, 0, 0}
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(text)))
	if _, err := c.Write(append(msg, text...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	return c
}

// TestWarmPool: with --lxd-pool-size 1 (on the btrfs pool when the kernel has btrfs) a started spare
// waits, with no session marker and no NIC; a session claims it (the session's command runs in it,
// its keys are installed, the screen takes the session's size) while the pool refills; user A's
// session leaves a file in the home, a process, a window and a clipboard text; once it ends its
// instance is gone, and user B, who gets the next spare, sees none of it. A missing command is a
// bad-command error on a spare too. A second provider of the same deskhub (a restart) deletes the
// spares the first left and makes its own.
func TestWarmPool(t *testing.T) {
	f := setup(t)
	pool := f.env.CoWPool(t)
	broker := "test-broker-" + t.Name()
	p := f.provider(t, func(o *lxd.Options) { o.PoolSize, o.StoragePool, o.PoolWidth, o.PoolHeight = 1, pool, 1024, 768 })
	sid := provider.StoredServerID(f.server.ID)
	ctx := context.Background()
	waitPool(t, p, sid, 1)
	sp := f.spares(t, broker)
	if len(sp) != 1 {
		t.Fatalf("spares %v, want one", sp)
	}
	inst := f.instance(t, sp[0])
	if inst.StatusCode != api.Running || inst.Config[lxd.KeySession] != "" || inst.Config[lxd.KeyPool] != "1024x768x24" {
		t.Errorf("spare %s: %s, config %v", sp[0], inst.Status, inst.Config)
	}
	if pool != "" && inst.ExpandedDevices["root"]["pool"] != pool {
		t.Errorf("spare's root disk %v, want pool %s", inst.ExpandedDevices["root"], pool)
	}
	f.env.CheckNoNIC(t, sp[0])
	if l, err := p.ServerLoad(ctx, sid); err != nil || l.Sessions != 0 {
		t.Errorf("load with a spare only: %+v %v (a spare is no session)", l, err)
	}

	// User A takes the spare.
	sa := f.spec("pool-a", f.server, "xterm", "-title", "alice-window")
	sa.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@test"}
	t0 := time.Now()
	da := start(t, p, sa)
	t.Logf("warm start of A: %s", time.Since(t0).Round(time.Millisecond))
	if da.Hostname != sp[0] {
		t.Fatalf("A runs in %s, not in the spare %s", da.Hostname, sp[0])
	}
	inst = f.instance(t, sp[0])
	if inst.Config[lxd.KeySession] != "pool-a" || inst.Config[lxd.KeyOwner] != "alice" || inst.Config[lxd.KeyPool] != "" {
		t.Errorf("claimed instance's config %v", inst.Config)
	}
	if got := f.env.ExecOut(t, sp[0], "cat", "/home/desktop/.ssh/authorized_keys"); got != sa.SSHKeys[0]+"\n" {
		t.Errorf("authorized_keys of A: %q", got)
	}
	if w, h := shotSizeOf(t, p, sa.ID); w != 800 || h != 600 {
		t.Errorf("A's screen %dx%d, want the session's 800x600", w, h)
	}
	waitTitle(t, p, sa.ID, "alice-window")
	if pid, err := p.Exec(ctx, sa.ID, []string{"sh", "-c", "echo alice-secret > $HOME/alice.txt; exec sleep 4242"}); err != nil || pid <= 1 {
		t.Fatalf("Exec in A: %d %v", pid, err)
	}
	viewer := setClipboard(t, p, sa.ID, "alice-clipboard")
	if code, body := agentCall(t, p, sa.ID, "POST", "/clipboardsync"); code != 200 {
		t.Errorf("A's clipboard after a ClientCutText: %d %s", code, body)
	}
	viewer.Close()
	if got := f.env.ExecOut(t, sp[0], "cat", "/home/desktop/alice.txt"); got != "alice-secret\n" {
		t.Errorf("A's file: %q", got)
	}

	// The pool refills while A runs; A ends and its instance goes.
	waitPool(t, p, sid, 1)
	if err := p.Stop(ctx, sa.ID); err != nil {
		t.Fatal(err)
	}
	if f.instance(t, sp[0]) != nil {
		t.Errorf("A's instance %s outlives its session", sp[0])
	}

	// User B gets the next spare and sees nothing of A.
	bob, err := auth.NewLocalUser("bob", "bob@example.org", "bob-password-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateUser(ctx, &bob); err != nil {
		t.Fatal(err)
	}
	sb := provider.Spec{ID: "pool-b", Login: "bob", UserID: bob.ID, ServerID: sid, Command: []string{"xterm", "-title", "bob-window"},
		Width: 1024, Height: 768, Depth: 24, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBobBob bob@test"}}
	db := start(t, p, sb)
	if db.Hostname == da.Hostname || !strings.HasPrefix(db.Hostname, "dh-p") {
		t.Fatalf("B runs in %s (A ran in %s): want another spare", db.Hostname, da.Hostname)
	}
	if out := f.env.ExecOut(t, db.Hostname, "sh", "-c", "ls -A /home/desktop; cat /home/desktop/.ssh/authorized_keys"); strings.Contains(out, "alice") {
		t.Errorf("B's home shows A's traces: %q", out)
	}
	if out := f.env.ExecOut(t, db.Hostname, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"); strings.Contains(out, "4242") ||
		strings.Contains(out, "alice") {
		t.Errorf("B's instance runs A's processes: %q", out)
	}
	waitTitle(t, p, sb.ID, "bob-window")
	if _, body := agentCall(t, p, sb.ID, "GET", "/getwindowslist"); strings.Contains(body, "alice") {
		t.Errorf("B's windows show A's: %s", body)
	}
	if code, body := agentCall(t, p, sb.ID, "POST", "/clipboardsync"); code != 409 || strings.Contains(body, "alice") {
		t.Errorf("B's clipboard: %d %s, want 409 (no text)", code, body)
	}

	// A command the image lacks is a bad command on a spare too, and the spare goes.
	waitPool(t, p, sid, 1)
	before := f.spares(t, broker)
	if _, err := p.Start(ctx, f.spec("pool-bad", f.server, "no-such-program")); !errors.Is(err, provider.ErrBadCommand) {
		t.Errorf("Start of a missing command on a spare: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(before) > 0 && f.instance(t, before[0]) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the spare %s that got a bad command is still there", before[0])
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A restart: the spares left behind are deleted, new ones made.
	waitPool(t, p, sid, 1)
	left := f.spares(t, broker)
	p.Close()
	p2 := f.provider(t, func(o *lxd.Options) {
		o.BrokerID, o.PoolSize, o.StoragePool = broker, 1, pool
	})
	waitPool(t, p2, sid, 1)
	for _, name := range left {
		if f.instance(t, name) != nil {
			t.Errorf("the spare %s of the earlier run is still there", name)
		}
	}
	if now := f.spares(t, broker); len(now) != 1 {
		t.Errorf("spares after the restart: %v, want one", now)
	}
}

// shotSizeOf is the size of a screenshot of the desktop.
func shotSizeOf(t *testing.T, p provider.Provider, id string) (int, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.DialRFB(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	img, err := rfb.Capture(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// waitTitle waits until the desktop shows a window of that title (its command ran).
func waitTitle(t *testing.T, p provider.AgentDialer, id, title string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := agentCall(t, p, id, "GET", "/getwindowslist")
		if strings.Contains(body, `"title":"`+title+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no window %q in %s: %s", title, id, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
