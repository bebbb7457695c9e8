package lxddesktop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
)

// TestWarmPoolServe: `deskhub serve --lxd-pool-size 1` on the btrfs pool (when the kernel has btrfs): system/server/list shows the spare as pooled, not as a session, and session/list
// shows nothing; session/start takes the spare (its instance dh-p…), the first frame comes through the
// relay, session/list shows that one session, the pool refills; terminate deletes the instance;
// server.delete removes the spares (and base instances) deskhub kept on the server.
func TestWarmPoolServe(t *testing.T) {
	env := lxdtest.Get(t)
	// Without --lxd-base-instance: spares copied from a base instance failed once under the full suite's
	// load (Xvnc exiting at once in every spare, not reproduced alone; docs/LXD-DESKTOPS.md). Base
	// instances have their own test (internal/provider/lxd TestBaseInstance).
	flags := []string{"--lxd-pool-size", "1"}
	if pool := env.CoWPool(t); pool != "" {
		flags = append(flags, "--lxd-storage-pool", pool)
	}
	d := startDeskhub(t, flags...)
	ctx := context.Background()
	d.waitPooled(t, 1)
	if s := d.servers(t)[d.lxdID]; s.Sessions != 0 || s.Pooled != 1 {
		t.Errorf("server with a spare: sessions %d, pooled %d", s.Sessions, s.Pooled)
	}
	if list, err := d.admin.ListSessions(ctx, fastx.ListRequest{}); err != nil || len(list) != 0 {
		t.Fatalf("session/list with only a spare: %v %v", list, err)
	}
	conn := d.startLXD(t, d.admin, "xterm")
	name := instanceName(t, d.admin, conn.ID)
	if !strings.HasPrefix(name, "dh-p") {
		t.Errorf("the session runs in %s, not in a spare", name)
	}
	if w, h := frame(t, d.admin, conn); w != 800 || h != 600 {
		t.Errorf("first frame %dx%d", w, h)
	}
	if list, err := d.admin.ListSessions(ctx, fastx.ListRequest{}); err != nil || len(list) != 1 || list[0].ID != conn.ID {
		t.Errorf("session/list: %v %v", list, err)
	}
	d.waitPooled(t, 1)
	if s := d.servers(t)[d.lxdID]; s.Sessions != 1 {
		t.Errorf("server: sessions %d, want 1", s.Sessions)
	}
	if err := d.admin.TerminateSession(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
	d.waitGone(t, d.admin, conn.ID, time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, _, err := d.env.Client(t).GetInstance(name); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance %s of the ended session is still there", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.waitPooled(t, 1)
	if kept := keptAhead(t, d.env); len(kept) == 0 {
		t.Fatal("no spare on the server before server.delete")
	}
	id, _ := strconv.Atoi(strings.TrimPrefix(d.lxdID, "lxd-"))
	if _, err := d.admin.DeleteServer(ctx, vmm.ServerDeleteRequest{Provider: vmm.ProviderLXD, ServerID: vmm.FlexInt(id)}); err != nil {
		t.Fatalf("server.delete: %v", err)
	}
	// Removed before server.delete answers; and no new spare comes after.
	if kept := keptAhead(t, d.env); len(kept) != 0 {
		t.Errorf("after server.delete the server still has %v\n%s", kept, d.srv.Logs())
	}
	time.Sleep(3 * time.Second)
	if kept := keptAhead(t, d.env); len(kept) != 0 {
		t.Errorf("3 s after server.delete the server has %v", kept)
	}
}

// keptAhead are the instances deskhub keeps ahead in the run's project: spares and base instances.
func keptAhead(t *testing.T, env *lxdtest.Env) []string {
	t.Helper()
	list, err := env.Client(t).GetInstances(api.InstanceTypeAny)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, inst := range list {
		if (inst.Config["user.deskhub.pool"] != "" && inst.Config["user.deskhub.session"] == "") || inst.Config["user.deskhub.base"] != "" {
			out = append(out, inst.Name)
		}
	}
	return out
}
