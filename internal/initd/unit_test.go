//go:build linux

package initd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestValidate(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		env string
		mod func(*Config)
	}{
		{"DESKHUB_USER", func(c *Config) { c.User = "" }},
		{"DESKHUB_USER", func(c *Config) { c.User = "a:b" }},
		{"DESKHUB_GEOMETRY", func(c *Config) { c.Width = 10 }},
		{"DESKHUB_DEPTH", func(c *Config) { c.Depth = 8 }},
		{"DESKHUB_DISPLAY", func(c *Config) { c.Display = -1 }},
		{"DESKHUB_ON_EXIT", func(c *Config) { c.OnExit = "reboot" }},
		{"DESKHUB_AUDIO", func(c *Config) { c.Audio = "maybe" }},
		{"DESKHUB_RUN_DIR", func(c *Config) { c.RunDir = "run" }},
		{"DESKHUB_RUN_DIR", func(c *Config) { c.RunDir = "/" }},
		{"DESKHUB_RUN_DIR", func(c *Config) { c.RunDir = "/" + strings.Repeat("x", 90) }},
		{"DESKHUB_STOP_GRACE", func(c *Config) { c.StopGrace = 0 }},
		{"DESKHUB_LOG_FILE", func(c *Config) { c.LogFile = "init.log" }},
	} {
		c := Defaults()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.env+": ") {
			t.Errorf("%s: %v", tc.env, err)
		}
	}
	c.WM, c.Command, c.LogFile = nil, "", ""
	if err := c.Validate(); err != nil {
		t.Errorf("no window manager, command or log file: %v", err)
	}
}

// TestRotating: past its size the log becomes init.log.1 (the one before is replaced) and a new file
// starts; nothing is truncated away.
func TestRotating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "init.log")
	r, err := openRotating(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	line := func(c byte) []byte { return append(bytes.Repeat([]byte{c}, 39), '\n') }
	for _, c := range []byte("abcdefg") {
		if _, err := r.Write(line(c)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	// 40-byte lines, 100 bytes a file: ab | cd | ef | g.
	if string(cur) != string(line('g')) || string(old) != string(line('e'))+string(line('f')) {
		t.Fatalf("current %q, previous %q", cur, old)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	// Reopened, it appends.
	r, _ = openRotating(path, 100)
	r.Write(line('h'))
	r.Close()
	if cur, _ := os.ReadFile(path); string(cur) != string(line('g'))+string(line('h')) {
		t.Errorf("after reopening: %q", cur)
	}
	// A console that fails does not cost the file its lines.
	var got bytes.Buffer
	tee{failing{}, &got}.Write([]byte("x\n"))
	if got.String() != "x\n" {
		t.Error("tee stopped at a failing writer")
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("gone") }

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"LANG=de_DE.UTF-8", "HOME=/root", "TZ=UTC", "junk", "DISPLAY=:9"},
		[]string{"HOME=/home/d", "DISPLAY=:0"})
	want := []string{"LANG=de_DE.UTF-8", "TZ=UTC", "HOME=/home/d", "DISPLAY=:0"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q", got)
	}
}

// TestLoopbackUp brings lo up in a network namespace of its own (a thread that unshares it and dies
// with it), as in a container without a network device.
func TestLoopbackUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (a network namespace)")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, and its namespace
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return err
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifr, _ := unix.NewIfreq("lo")
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil || ifr.Uint16()&unix.IFF_UP != 0 {
				return errors.New("a new network namespace has lo up already: the test proves nothing")
			}
			for i := 0; i < 2; i++ { // twice: the second finds it up
				if err := loopbackUp(); err != nil {
					return err
				}
			}
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil || ifr.Uint16()&unix.IFF_UP == 0 {
				return errors.New("lo is not up")
			}
			a, _ := unix.NewIfreq("lo")
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFADDR, a); err != nil {
				return err
			}
			if ip, _ := a.Inet4Addr(); !bytes.Equal(ip, []byte{127, 0, 0, 1}) {
				return errors.New("lo has not 127.0.0.1")
			}
			// Something listens and answers on 127.0.0.1 now.
			s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(s)
			if err := unix.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			return unix.Listen(s, 1)
		}()
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
	}
}

func TestIsMountPoint(t *testing.T) {
	if !isMountPoint("/") || !isMountPoint("/proc") {
		t.Error("/ or /proc not seen as mount points")
	}
	if isMountPoint(t.TempDir()) {
		t.Error("a temporary directory seen as a mount point")
	}
	if unescapeMount(`/a\040b`) != "/a b" {
		t.Error("unescape")
	}
}
