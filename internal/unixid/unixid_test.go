package unixid

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("unixid tests create system users: run them as root (make test does)")
	}
}

func owner(t *testing.T, path string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid
}

func TestNamesAndBadInput(t *testing.T) {
	for _, p := range []string{"", "Dh-", "1dh", "dh:", "a-very-long-prefix-x"} {
		if _, err := New(p, "/tmp"); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if _, err := New("dh-", "relative"); err == nil {
		t.Error("relative home root accepted")
	}
	r, err := New("dh-", "/srv/homes")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name(42) != "dh-42" {
		t.Errorf("Name(42) = %q", r.Name(42))
	}
	for _, l := range []string{"", ".", "..", "a/b", ".hidden", "x\x00y"} {
		if _, err := r.Home(l); err == nil {
			t.Errorf("login %q makes a home", l)
		}
	}
	if h, _ := r.Home("ann"); h != "/srv/homes/ann" {
		t.Errorf("Home(ann) = %q", h)
	}
}

// TestEnsureReownsOldHome: a home left by the shared desktop user of older versions is given to the
// account's own identity, symbolic links re-owned themselves and never followed.
func TestEnsureReownsOldHome(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	homes := filepath.Join(root, "homes")
	outside := filepath.Join(root, "outside.txt")
	home := filepath.Join(homes, "ann")
	if err := os.MkdirAll(filepath.Join(home, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{outside, filepath.Join(home, "docs", "a.txt")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	nuid, _ := strconv.Atoi(nobody.Uid)
	if err := filepath.Walk(home, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nuid, nuid) }); err != nil {
		t.Fatal(err)
	}
	r, err := New("dhtest-r", homes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", r.Name(7)).Run() })
	as, err := r.Ensure(7, "ann")
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(as.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if uid == 0 || uid == nuid || as.Home != home {
		t.Fatalf("Ensure: %+v uid %d", as, uid)
	}
	for _, p := range []string{home, filepath.Join(home, "docs"), filepath.Join(home, "docs", "a.txt"), filepath.Join(home, "link")} {
		if got := owner(t, p); int(got) != uid {
			t.Errorf("%s owned by %d, want %d", p, got, uid)
		}
	}
	if got := owner(t, outside); got != 0 {
		t.Errorf("the symlink's target outside the home was re-owned (uid %d)", got)
	}
	if fi, _ := os.Stat(home); fi.Mode().Perm() != 0o700 {
		t.Errorf("home mode %v, want 0700", fi.Mode().Perm())
	}
	// A second Ensure finds the same identity.
	if again, err := r.Ensure(7, "ann"); err != nil || again != as {
		t.Errorf("second Ensure: %+v %v", again, err)
	}
	// Retire: renamed and locked, uid kept, home moved aside.
	if err := r.Retire(7, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Lookup(as.User); err == nil {
		t.Error("the retired identity keeps its name")
	}
	ru, err := user.LookupId(u.Uid)
	if err != nil {
		t.Fatalf("the retired uid lost its passwd entry: %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", ru.Username).Run() })
	if _, err := os.Stat(home); err == nil {
		t.Error("the home is still in place")
	}
	if m, _ := filepath.Glob(filepath.Join(homes, ".retired", "ann-*", "docs", "a.txt")); len(m) != 1 {
		t.Errorf("the old home is not under .retired: %v", m)
	}
	if _, err := user.LookupGroup(as.User); err == nil {
		t.Error("the retired identity's group keeps its name")
	}
}

// FuzzHome: a login either names no home or a directory right under the home root.
func FuzzHome(f *testing.F) {
	for _, s := range []string{"ann", "..", "a/../b", ".x", "a b", "ä", "x\x00"} {
		f.Add(s)
	}
	r, _ := New("dh-", "/srv/homes")
	f.Fuzz(func(t *testing.T, login string) {
		h, err := r.Home(login)
		if err != nil {
			return
		}
		if filepath.Dir(h) != "/srv/homes" || filepath.Base(h) != login {
			t.Fatalf("login %q makes home %q", login, h)
		}
	})
}
