// Package serve runs the deskhub binary for the benchmark programs: accounts through `deskhub user
// add`, and `deskhub serve` on a free loopback port with its log in a file.
package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// AddUser creates an account in the data directory with `deskhub user add`.
func AddUser(ctx context.Context, bin, data, login, password string) error {
	c := exec.CommandContext(ctx, bin, "user", "add", "--login", login, "--email", login+"@example.org",
		"--password-stdin", "--data", data)
	c.Stdin = strings.NewReader(password + "\n")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("user add %s: %v: %s", login, err, out)
	}
	return nil
}

// CopyFile copies an executable (the benchmarks run a copy of the binary they measure).
func CopyFile(from, to string) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, raw, 0o755)
}

// Proc is a running `deskhub serve`.
type Proc struct {
	Base   string        // http://127.0.0.1:port
	Cmd    *exec.Cmd     // the process
	Exited chan struct{} // closed when it has exited
}

// Start runs `deskhub serve` on data, logging (level warn, or the --log-level in args) into logPath,
// with args added to its command line, and waits until it answers health.alive (30 s at most). The
// process gets SIGTERM if the benchmark dies.
func Start(ctx context.Context, bin, data, logPath string, args ...string) (*Proc, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &Proc{Base: "http://" + addr, Exited: make(chan struct{})}
	p.Cmd = exec.Command(bin, append([]string{"serve", "--listen", addr, "--data", data, "--log-level", "warn"}, args...)...)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := p.Cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = p.Cmd.Wait(); logf.Close(); close(p.Exited) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Post(p.Base+"/api/v1/health.alive", "application/json", nil); err == nil {
			resp.Body.Close()
			return p, nil
		}
		select {
		case <-p.Exited:
			return nil, fmt.Errorf("deskhub serve exited; see %s", logPath)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		default:
		}
	}
	p.Stop()
	return nil, fmt.Errorf("deskhub serve did not come up within 30 s; see %s", logPath)
}

// Stop sends SIGTERM and waits for the exit, killing the process after 20 s.
func (p *Proc) Stop() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(20 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.Exited
	}
}

// Build runs `make -s build` (the benchmarks' -build flag), its output on stderr.
func Build(ctx context.Context) error {
	b := exec.CommandContext(ctx, "make", "-s", "build")
	b.Stdout, b.Stderr = os.Stderr, os.Stderr
	if err := b.Run(); err != nil {
		return fmt.Errorf("make build: %w", err)
	}
	return nil
}

// Workdir makes a temporary work directory "/tmp/<prefix>…" and its data directory "data", both 0711:
// the desktops' Unix users traverse them to reach their session directories. The caller removes work.
func Workdir(prefix string) (work, data string, err error) {
	work, err = os.MkdirTemp("/tmp", prefix)
	if err != nil {
		return "", "", err
	}
	data = filepath.Join(work, "data")
	for _, d := range []string{work, data} {
		if err = os.MkdirAll(d, 0o711); err == nil {
			err = os.Chmod(d, 0o711)
		}
		if err != nil {
			os.RemoveAll(work)
			return "", "", err
		}
	}
	return work, data, nil
}
