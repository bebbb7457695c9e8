//go:build linux

package initd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/internal/xdesk"
)

// Hello is `deskhub agent ready`, run as root in a desktop container through LXD's exec API right after
// the container started: the whole of a cold start's work inside the container in one exec, so that the
// broker makes one round trip through LXD instead of polling the ready file and running the command
// check, the SSH keys and the RFB check one exec each (docs/LXD-DESKTOPS.md "What a session on LXD
// is"). It waits for <run>/ready, checks as the desktop's user that the session's program is found,
// writes the account's SSH keys as that user, then writes one status line (HelloStatus, JSON) to stdout;
// with Bridge, what follows on stdin and stdout is a connection to the desktop's RFB socket (the broker
// proves the display through it, as through any later bridge).
type HelloOptions struct {
	RunDir  string        // init's run directory (DefaultRunDir)
	Wait    time.Duration // how long to wait for the ready file
	Program string        // the session's program, looked up as the desktop's user ("": no check)
	Keys    int           // bytes of authorized_keys lines on stdin before anything else (0: none)
	Bridge  bool          // bridge stdin/stdout to the RFB socket after the status line
	PATH    string        // the user's PATH for the check (default userPATH)
}

// HelloStatus is the status line: Ready once the desktop is ready and the work done, else Error and
// Code ("command": the program is not found; "keys": the keys could not be written; "timeout": no
// ready file in time; "failed": anything else).
type HelloStatus struct {
	Ready *Ready `json:"ready,omitempty"`
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// helloScript runs as the desktop's user: $1 the program (exit 3 when not found), $2 "keys" when stdin
// holds authorized_keys lines (exit 4 when they cannot be written; umask 077: a 0700 directory and a
// 0600 file of the user's, written as the user so that no link in their home leads root anywhere).
const helloScript = `if [ -n "$1" ]; then command -v "$1" >/dev/null 2>&1 || exit 3; fi
if [ "$2" = keys ]; then (umask 077 && mkdir -p "$HOME/.ssh" && cat > "$HOME/.ssh/authorized_keys.new" && mv -f "$HOME/.ssh/authorized_keys.new" "$HOME/.ssh/authorized_keys") || exit 4; fi`

// userPATH is the PATH programs of the desktop get (as the local provider and the LXD provider give).
const userPATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"

// Hello runs `deskhub agent ready` (HelloOptions). It answers an error only when it could not even
// write its status line.
func Hello(ctx context.Context, o HelloOptions, stdin io.Reader, stdout io.Writer) error {
	if o.RunDir == "" {
		o.RunDir = DefaultRunDir
	}
	if o.PATH == "" {
		o.PATH = userPATH
	}
	var keys []byte
	if o.Keys > 0 {
		keys = make([]byte, o.Keys)
		if _, err := io.ReadFull(stdin, keys); err != nil {
			return status(stdout, HelloStatus{Code: "keys", Error: "reading the keys: " + err.Error()})
		}
	}
	r, err := waitReadyFile(ctx, filepath.Join(o.RunDir, "ready"), o.Wait)
	if err != nil {
		code := "failed"
		if errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		return status(stdout, HelloStatus{Code: code, Error: err.Error()})
	}
	if o.Program != "" || len(keys) > 0 {
		acc, err := xdesk.LookupAccount(r.User, r.Home)
		if err != nil {
			return status(stdout, HelloStatus{Code: "failed", Error: err.Error()})
		}
		flag := "nokeys"
		if len(keys) > 0 {
			flag = "keys"
		}
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", helloScript, "sh", o.Program, flag)
		cmd.Env = []string{"HOME=" + acc.Home, "USER=" + acc.Name, "LOGNAME=" + acc.Name, "SHELL=/bin/sh", "PATH=" + o.PATH, "LANG=C.UTF-8"}
		cmd.Dir = acc.Home
		cmd.Stdin = bytes.NewReader(keys)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acc.Credential()}
		err = cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee) && ee.ExitCode() == 3:
			return status(stdout, HelloStatus{Code: "command", Error: o.Program + ": not found in the desktop image"})
		case errors.As(err, &ee) && ee.ExitCode() == 4:
			return status(stdout, HelloStatus{Code: "keys", Error: "writing the SSH keys: " + lastLine(errb.String())})
		default:
			return status(stdout, HelloStatus{Code: "failed", Error: fmt.Sprintf("as %s: %v %s", acc.Name, err, lastLine(errb.String()))})
		}
	}
	var conn net.Conn
	if o.Bridge {
		var d net.Dialer
		if conn, err = d.DialContext(ctx, "unix", r.RFB); err != nil {
			return status(stdout, HelloStatus{Code: "failed", Error: "the RFB socket: " + err.Error()})
		}
		defer conn.Close()
	}
	if err := status(stdout, HelloStatus{Ready: r}); err != nil || conn == nil {
		return err
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stdin); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stdout, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// waitReadyFile polls path (every 10 ms: the broker waits on this) until it holds a ready desktop.
func waitReadyFile(ctx context.Context, path string, wait time.Duration) (*Ready, error) {
	if wait <= 0 {
		wait = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var r Ready
			if json.Unmarshal(b, &r) == nil && r.RFB != "" && r.Agent != "" && r.Display != "" {
				if r.UID == 0 {
					return nil, errors.New("the desktop runs as root")
				}
				return &r, nil
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no ready desktop in %s: %w", wait, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func status(w io.Writer, s HelloStatus) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte{'\n'})
	return string(lines[len(lines)-1])
}
