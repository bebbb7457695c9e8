package security

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// markedDesktops maps desktop ids to the pids of live processes of desktops of the deskhub whose session
// state directory is stateDir: every desktop process is started with XAUTHORITY=<stateDir>/<id>/xauthority
// (Xvnc reads its cookie from there, clients present it).
func markedDesktops(stateDir string) map[string][]int {
	out := map[string][]int{}
	ents, _ := os.ReadDir("/proc")
	want := []byte("XAUTHORITY=" + stateDir + "/")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err != nil ||
			bytes.Contains(st, []byte(") Z ")) || bytes.Contains(st, []byte(") X ")) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if rest, ok := bytes.CutPrefix(kv, want); ok {
				id, _, _ := strings.Cut(string(rest), "/")
				out[id] = append(out[id], pid)
			}
		}
	}
	return out
}

// TestKill9DuringStartBurstLeavesNoOrphans: deskhub is killed with SIGKILL while a burst of session/start
// calls is under way; the next deskhub adopts each desktop it can and stops every other process of its
// desktops, so that afterwards every desktop process belongs to a running session the API lists and can
// terminate.
func TestKill9DuringStartBurstLeavesNoOrphans(t *testing.T) {
	xtest.Ensure(t)
	data := newDataDir(t)
	addUser(t, data, "carol", "carol-password-1", false)
	stateDir := filepath.Join(data, "sessions")
	t.Cleanup(func() {
		for _, pids := range markedDesktops(stateDir) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	for round, delay := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond} {
		s := startServer(t, data)
		tok := s.login("carol", "carol-password-1")
		const burst = 6
		var wg sync.WaitGroup
		for i := 0; i < burst; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Errors are expected: the server dies under these calls.
				req := map[string]any{"command": "xterm", "geometry": "640x480"}
				_, _ = s.callNoFail("/v3/api/session/start", tok, req)
			}()
		}
		time.Sleep(delay)
		s.kill()
		wg.Wait()
		before := markedDesktops(stateDir)

		s2 := startServer(t, data)
		tok = s2.login("carol", "carol-password-1")
		running := map[string]bool{}
		items, _ := s2.must("/v3/api/session/list", tok, map[string]any{})["result"].([]any)
		for _, it := range items {
			o := it.(map[string]any)
			running[o["id"].(string)] = true
		}
		after := markedDesktops(stateDir)
		var orphans []string
		for id := range after {
			if !running[id] {
				orphans = append(orphans, id)
			}
		}
		sort.Strings(orphans)
		swept := strings.Count(s2.logs.String(), "left by a crash")
		t.Logf("round %d (kill after %v): %d desktops with processes at the kill, %d adopted as running, %d swept",
			round+1, delay, len(before), len(running), swept)
		if len(orphans) > 0 {
			t.Errorf("round %d: processes of desktops the API does not list as running survive the restart: %v", round+1, orphans)
		}
		for id := range running {
			if len(after[id]) == 0 {
				t.Errorf("round %d: session %s is listed as running but has no processes", round+1, id)
			}
			if st, m := s2.call("/v3/api/session/terminate", tok, map[string]any{"id": id}); st != 200 {
				t.Errorf("round %d: terminate %s: %d %v", round+1, id, st, m)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(markedDesktops(stateDir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if left := markedDesktops(stateDir); len(left) > 0 {
			t.Errorf("round %d: processes left after terminating every listed session: %v", round+1, left)
		}
		s2.stop()
	}
}
