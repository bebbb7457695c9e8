// Package servetest runs the real deskhub binary for tests of the Go client and the command-line
// client: it builds cmd/deskhub once, adds accounts with `deskhub user add`, and starts
// `deskhub serve` on a free loopback port with a data directory under /tmp. Only tests import it.
package servetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/deskhub once per process into a directory every user may enter (desktops run it
// as their agent under their own Unix identity) and answers its path.
func Binary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deskhub-servetest-bin")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			buildErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binPath = filepath.Join(dir, "deskhub")
		// Static, as make build makes it: desktop images take this very binary (deskhub image build).
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/deskhub")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// Cleanup removes the binary Binary built; call it from TestMain after the tests ran.
func Cleanup() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// Options of a server.
type Options struct {
	// UserPrefix is --session-user-prefix: the Unix users of the accounts' desktops. Tests give their
	// own, so that they never share identities with other deskhub runs on the machine.
	UserPrefix string
	// Flags are more flags of deskhub serve.
	Flags []string
}

// Server is one running `deskhub serve`.
type Server struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	Data string // the data directory

	cmd  *exec.Cmd
	done chan error
	logs *Output
	mu   sync.Mutex
}

// NewDataDir makes a data directory under /tmp, mode 0711 (desktop users traverse it to their
// session directories).
func NewDataDir() (string, error) {
	d, err := os.MkdirTemp("/tmp", "deskhub-servetest-")
	if err != nil {
		return "", err
	}
	return d, os.Chmod(d, 0o711)
}

// AddUser creates an account in data with `deskhub user add` (before or while a server runs).
func AddUser(data, login, password string, admin bool) error {
	args := []string{"user", "add", "--login", login, "--email", login + "@example.org", "--password-stdin"}
	if admin {
		args = append(args, "--admin")
	}
	_, err := Run(data, password+"\n", args...)
	return err
}

// Run runs a deskhub subcommand on the data directory data and answers its combined output.
func Run(data, stdin string, args ...string) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), "DESKHUB_DATA="+data)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("deskhub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Start runs deskhub serve on data and waits until it answers health.alive.
func Start(data string, o Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--listen", addr, "--data", data}
	if o.UserPrefix != "" {
		args = append(args, "--session-user-prefix", o.UserPrefix)
	}
	s := &Server{URL: "http://" + addr, Addr: addr, Data: data, done: make(chan error, 1), logs: &Output{}}
	s.cmd = exec.Command(bin, append(args, o.Flags...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Post(s.URL+"/api/v1/health.alive", "application/json", nil); err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("deskhub serve exited early (%v):\n%s", err, s.logs)
		default:
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.Stop()
	return nil, errors.New("deskhub serve did not come up:\n" + s.logs.String())
}

// Logs is what the server printed so far (its JSON log).
func (s *Server) Logs() string { return s.logs.String() }

// Stop ends the server with SIGTERM, then SIGKILL after 30 seconds, and then the desktops it left
// running (desktops outlive deskhub by design; a test's must not outlive the test).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	KillDesktops(s.Data)
}

// KillDesktops kills every process of the desktops of the deskhub whose data directory is data (they
// carry DESKHUB_STATE=<data>/sessions), for at most 5 seconds.
func KillDesktops(data string) {
	marker := []byte("DESKHUB_STATE=" + filepath.Join(data, "sessions") + "\x00")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ents, _ := os.ReadDir("/proc")
		found := false
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
			if err == nil && bytes.Contains(append(env, 0), marker) {
				found = true
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if !found {
			return
		}
	}
}

// Kill ends the server with SIGKILL, as a crash would: its desktops keep running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Output collects a process's output; safe for concurrent writes and reads.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Output) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Output) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
