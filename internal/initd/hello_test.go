//go:build linux

package initd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helloFixture is a run directory with a ready file of an unprivileged user (nobody when the test runs
// as root, else the test's own user) and an echo server on its rfb.sock.
func helloFixture(t *testing.T) (runDir, home string) {
	t.Helper()
	runDir = t.TempDir()
	home = t.TempDir()
	name := "nobody"
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		name = u.Username
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if os.Geteuid() == 0 {
		_ = os.Chmod(filepath.Dir(home), 0o755)
		if err := os.Chown(home, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	rfbSock := filepath.Join(runDir, "rfb.sock")
	ln, err := net.Listen("unix", rfbSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("RFB 003.008\n"))
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					_, _ = c.Write([]byte(strings.ToUpper(sc.Text()) + "\n"))
				}
			}()
		}
	}()
	go func() {
		time.Sleep(150 * time.Millisecond) // written while Hello waits
		if err := writeReady(filepath.Join(runDir, "ready"), Ready{Display: ":0", RFB: rfbSock, Agent: filepath.Join(runDir, "agent.sock"),
			User: name, UID: uint32(uid), Home: home}); err != nil {
			t.Error(err)
		}
	}()
	return runDir, home
}

func helloStatusOf(t *testing.T, out *bufio.Reader) HelloStatus {
	t.Helper()
	line, err := out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("no status line: %v", err)
	}
	var st HelloStatus
	if err := json.Unmarshal(line, &st); err != nil {
		t.Fatalf("status line %q: %v", line, err)
	}
	return st
}

// TestHello: `deskhub agent ready` waits for the ready file, checks the program as the desktop's user,
// writes the keys as that user (0700 directory, 0600 file of theirs), answers the ready file in its
// status line, and with --bridge carries a connection to the RFB socket.
func TestHello(t *testing.T) {
	runDir, home := helloFixture(t)
	keys := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample one\n"
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Hello(context.Background(), HelloOptions{RunDir: runDir, Wait: 10 * time.Second, Program: "sh", Keys: len(keys), Bridge: true}, inR, outW)
		outW.Close()
	}()
	if _, err := io.WriteString(inW, keys); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(outR)
	st := helloStatusOf(t, out)
	if st.Ready == nil || st.Code != "" || st.Ready.Home != home {
		t.Fatalf("status %+v", st)
	}
	if v, err := out.ReadString('\n'); err != nil || v != "RFB 003.008\n" {
		t.Fatalf("bridge: the RFB socket's greeting %q, %v", v, err)
	}
	if _, err := io.WriteString(inW, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if v, err := out.ReadString('\n'); err != nil || v != "HELLO\n" {
		t.Fatalf("bridge answered %q, %v", v, err)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(home, ".ssh", "authorized_keys"))
	if err != nil || string(b) != keys {
		t.Fatalf("authorized_keys %q, %v", b, err)
	}
	for path, mode := range map[string]os.FileMode{filepath.Join(home, ".ssh"): 0o700 | os.ModeDir, filepath.Join(home, ".ssh", "authorized_keys"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
		if home, _ := os.Stat(home); fi.Sys().(*syscall.Stat_t).Uid != home.Sys().(*syscall.Stat_t).Uid {
			t.Errorf("%s is not the desktop user's", path)
		}
	}
}

// TestHelloRefusals: a program the user does not find is code "command"; no ready file in time is code
// "timeout"; neither bridges.
func TestHelloRefusals(t *testing.T) {
	runDir, _ := helloFixture(t)
	var out bytes.Buffer
	if err := Hello(context.Background(), HelloOptions{RunDir: runDir, Wait: 10 * time.Second, Program: "no-such-program-here", Bridge: true},
		strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	st := helloStatusOf(t, bufio.NewReader(&out))
	if st.Code != "command" || st.Ready != nil || !strings.Contains(st.Error, "no-such-program-here") {
		t.Errorf("status %+v", st)
	}
	out.Reset()
	if err := Hello(context.Background(), HelloOptions{RunDir: t.TempDir(), Wait: 100 * time.Millisecond, Program: "sh"}, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	all := out.String()
	if st := helloStatusOf(t, bufio.NewReader(&out)); st.Code != "timeout" || st.Ready != nil {
		t.Errorf("status %+v", st)
	}
	if strings.Count(all, "\n") != 1 {
		t.Errorf("more than the status line: %q", all)
	}
}
