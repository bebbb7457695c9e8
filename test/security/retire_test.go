package security

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// TestDeleteAccountRetiresIdentity: `deskhub user delete` stops the account's desktops, locks and renames
// its Unix user (the uid stays reserved) and moves its home aside; an account created later under the
// same login (in SQLite, even under the same id) gets a new identity and an empty home.
func TestDeleteAccountRetiresIdentity(t *testing.T) {
	xtest.Ensure(t)
	data := newDataDir(t)
	const prefix = "dhsecdel-" // its own prefix: retiring kills every process of the identity
	t.Setenv("DESKHUB_SESSION_USER_PREFIX", prefix)
	addUser(t, data, "dora", "dora-password-1", false)
	s := startServer(t, data, "--session-user-prefix", prefix)
	tok := s.login("dora", "dora-password-1")
	id := s.startDesktop(tok, "xterm")["id"].(string)
	obj := s.sessionObject(tok, id)
	xvnc := int(obj["serverPid"].(float64))
	home := filepath.Join(data, "homes", "dora")
	s.must("/v3/api/session/exec", tok, map[string]any{"id": id, "command": "sh",
		"args": []string{"-c", "echo old-dora > " + filepath.Join(home, "mine.txt")}})
	waitFile(t, filepath.Join(home, "mine.txt"), 10*time.Second)
	var st syscall.Stat_t
	if err := syscall.Stat(home, &st); err != nil {
		t.Fatal(err)
	}
	oldUID := st.Uid

	out := cli(t, data, "", "user", "delete", "--yes", "dora")
	t.Log(strings.TrimSpace(out))
	if err := syscall.Kill(xvnc, 0); err == nil {
		t.Errorf("the deleted account's X server (pid %d) still runs", xvnc)
	}
	if _, err := os.Stat(home); err == nil {
		t.Errorf("the deleted account's home %s is still in place", home)
	}
	retired, _ := filepath.Glob(filepath.Join(data, "homes", ".retired", "dora-*"))
	if len(retired) != 1 {
		t.Errorf("want the old home under homes/.retired, found %v", retired)
	}
	if fi, err := os.Stat(filepath.Join(data, "homes", ".retired")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("homes/.retired: %v %v, want 0700", fi, err)
	}
	u, err := user.LookupId(strconv.Itoa(int(oldUID)))
	if err != nil {
		t.Fatalf("the old uid %d lost its passwd entry (it must stay reserved): %v", oldUID, err)
	}
	if strings.HasPrefix(u.Username, prefix) && !strings.Contains(u.Username, "x") {
		t.Errorf("the old identity kept its name %s", u.Username)
	}
	shadow, err := exec.Command("getent", "shadow", u.Username).Output()
	if err != nil || !strings.Contains(string(shadow), ":!") {
		t.Errorf("the retired identity %s is not locked: %q %v", u.Username, shadow, err)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", u.Username).Run() })

	// The same login again: a new identity, an empty home.
	addUser(t, data, "dora", "dora-password-2", false)
	tok = s.login("dora", "dora-password-2")
	id = s.startDesktop(tok, "xterm")["id"].(string)
	t.Cleanup(func() { s.call("/v3/api/session/terminate", tok, map[string]any{"id": id}) })
	if err := syscall.Stat(home, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid == oldUID {
		t.Errorf("the new dora runs as the deleted dora's uid %d", oldUID)
	}
	if _, err := os.Stat(filepath.Join(home, "mine.txt")); err == nil {
		t.Error("the new dora sees the deleted dora's file")
	}
	t.Cleanup(func() {
		if nu, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
			_ = exec.Command("pkill", "-KILL", "-u", nu.Username).Run()
			time.Sleep(200 * time.Millisecond)
			_ = exec.Command("userdel", nu.Username).Run()
		}
	})
}
