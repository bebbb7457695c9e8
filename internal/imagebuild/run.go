package imagebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// command makes a child process in its own process group, so that cancelling ctx kills it and
// everything it started (debootstrap's dpkg and maintainer scripts, tar, xz) with one SIGKILL, and so
// that a terminal's Ctrl-C reaches deskhub, which then cleans up, rather than the children directly.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive")
	return cmd
}

// killGroup SIGKILLs the process group of a started command (whatever of it is left after it exited:
// a maintainer script's daemon, say).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// waitGroupGone waits (at most timeout) until no process of the command's process group is left, so
// that nothing still writes into a tree about to be removed.
func waitGroupGone(cmd *exec.Cmd, timeout time.Duration) {
	if cmd.Process == nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-cmd.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isolation is the command prefix that runs debootstrap's offline install in a new mount and network
// namespace (util-linux unshare, mounts private): whatever it mounts (proc, sys, /dev binds) goes away
// with it even if it is killed, and it cannot reach the network. Empty when unshare is unavailable or
// not permitted here; then the build unmounts by itself.
var isolation = sync.OnceValue(func() []string {
	path, err := exec.LookPath("unshare")
	if err != nil {
		return nil
	}
	prefix := []string{path, "--mount", "--net", "--propagation", "private"}
	if err := exec.Command(prefix[0], append(prefix[1:], "true")...).Run(); err != nil {
		return nil
	}
	return prefix
})

// runLogged runs argv with stdout and stderr appended to logPath. On failure the error carries the
// log's path and its last lines.
func runLogged(ctx context.Context, logPath string, argv []string) error {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n== %s %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(argv, " "))
	cmd := command(ctx, argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	err = cmd.Run()
	killGroup(cmd)
	waitGroupGone(cmd, 10*time.Second)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &StepError{Cmd: strings.Join(argv, " "), Err: err, Log: logPath, Tail: tail(logPath, 15)}
}

// StepError is a failed external command: the command, its log file and the log's last lines.
type StepError struct {
	Cmd  string
	Err  error
	Log  string
	Tail string
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s: %v\nlog: %s (last lines below)\n%s", e.Cmd, e.Err, e.Log, e.Tail)
}

func (e *StepError) Unwrap() error { return e.Err }

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 16 << 10
	if info, err := f.Stat(); err == nil && info.Size() > max {
		_, _ = f.Seek(info.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + string(bytes.Join(lines, []byte("\n  ")))
}
