// Package xtest prepares real X desktops for tests: it installs the Debian packages (TigerVNC Xvnc, openbox,
// xterm, X utilities, xdotool for tests that type or observe) and creates a throwaway Unix user.
//
// Tests that need X call Ensure first. Set DESKHUB_SKIP_X=1 to skip them; otherwise a missing or failed
// installation fails the test.
package xtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/deskhub/deskhub/internal/provider"
)

// Packages are the Debian packages the X tests need.
var Packages = []string{"tigervnc-standalone-server", "openbox", "xterm", "x11-apps", "x11-utils", "xdotool", "shared-mime-info", "pulseaudio", "pulseaudio-utils"}

// binaries proves each package is installed.
var binaries = map[string]string{
	"tigervnc-standalone-server": "Xvnc",
	"openbox":                    "openbox",
	"xterm":                      "xterm",
	"x11-apps":                   "xclock",
	"x11-utils":                  "xwininfo",
	"xdotool":                    "xdotool",
	"shared-mime-info":           "update-mime-database",
	"pulseaudio":                 "pulseaudio",
	"pulseaudio-utils":           "pactl",
}

// TestUser is the throwaway account desktops run as in tests.
const TestUser = "dhtest-desk"

var (
	once    sync.Once
	onceErr error
)

// Ensure makes sure the X packages are installed (apt-get, as root), once per test binary. It skips the
// test when DESKHUB_SKIP_X=1 and fails it when the packages cannot be installed.
func Ensure(t testing.TB) {
	t.Helper()
	if os.Getenv("DESKHUB_SKIP_X") == "1" {
		t.Skip("DESKHUB_SKIP_X=1: skipping X desktop test")
	}
	once.Do(func() { onceErr = install() })
	if onceErr != nil {
		t.Fatalf("xtest: X packages unavailable: %v", onceErr)
	}
}

func missing() []string {
	var out []string
	for _, p := range Packages {
		if _, err := exec.LookPath(binaries[p]); err != nil {
			out = append(out, p)
		}
	}
	return out
}

func install() error {
	if len(missing()) == 0 {
		return nil
	}
	// Test binaries of several packages may get here at once: apt/dpkg want one at a time.
	unlock, err := lockFile("/tmp/deskhub-xtest.lock")
	if err != nil {
		return err
	}
	defer unlock()
	need := missing()
	if len(need) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("packages %v are missing and installing them needs root (or set DESKHUB_SKIP_X=1)", need)
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) error {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 3000))
		}
		return nil
	}
	if err := run("apt-get", "update", "-qq"); err != nil {
		return err
	}
	args := append([]string{"apt-get", "install", "-y", "-qq", "--no-install-recommends"}, need...)
	if err := run(args...); err != nil {
		return err
	}
	if still := missing(); len(still) > 0 {
		return fmt.Errorf("still missing after apt-get install: %v", still)
	}
	return nil
}

// User creates the test Unix user (dhtest-desk, home /home/dhtest-desk, shell /bin/bash) if missing and
// returns it as a RunAs. It needs root.
func User(t testing.TB) provider.RunAs {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("xtest: creating the test user %s needs root", TestUser)
	}
	u, err := user.Lookup(TestUser)
	if err != nil {
		unlock, lerr := lockFile("/tmp/deskhub-xtest-user.lock")
		if lerr != nil {
			t.Fatalf("xtest: %v", lerr)
		}
		if u, err = user.Lookup(TestUser); err != nil {
			out, cerr := exec.Command("useradd", "--create-home", "--shell", "/bin/bash", TestUser).CombinedOutput()
			if cerr != nil {
				unlock()
				t.Fatalf("xtest: useradd %s: %v: %s", TestUser, cerr, out)
			}
			u, err = user.Lookup(TestUser)
		}
		unlock()
		if err != nil {
			t.Fatalf("xtest: %v", err)
		}
	}
	return provider.RunAs{User: u.Username, Home: u.HomeDir}
}

// StateDir returns a fresh directory (mode 0711, so session users can reach their session directories)
// under /tmp, removed when the test ends.
func StateDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "deskhub-xtest-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("xtest: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("xtest: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
