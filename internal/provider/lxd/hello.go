package lxd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/rfb"
)

// A cold start's work inside the instance is one exec (docs/LXD-DESKTOPS.md "What a session on LXD is"):
// `deskhub agent ready` (internal/initd Hello) waits for init's ready file inside the container, checks
// as the desktop's user that the image has the session's program, writes the account's SSH keys as that
// user, and answers one JSON status line; with the exec transport it then bridges to the RFB socket, and
// the broker's RFB handshake through it proves the display and the transport. Before, the broker polled
// the ready file through LXD's file API and ran three execs (command check, keys, RFB bridge): four
// round trips through LXD and a poll's delay, each ~0.1–0.3 s on a loaded machine.

// errOldImage: the image's deskhub has no `agent ready` (an image older than the broker); the start
// takes the old steps.
var errOldImage = errors.New("the image's deskhub has no agent ready")

// helloStatus is initd.HelloStatus.
type helloStatus struct {
	Ready *readyInfo `json:"ready"`
	Code  string     `json:"code"`
	Error string     `json:"error"`
}

// bufConn reads through the buffer that read the status line.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// hello readies a started desktop in one exec and answers what its init's ready file says. With rfb,
// the same exec then carries a connection to the RFB server, on which hello completes an RFB handshake
// (the proof a start gives: the display answers through the transport). An image without the
// subcommand is errOldImage.
func (p *Provider) hello(ctx context.Context, cl incus.InstanceServer, name string, s provider.Spec, rfbCheck bool) (*readyInfo, error) {
	keys := ""
	if len(s.SSHKeys) > 0 {
		keys = strings.Join(s.SSHKeys, "\n") + "\n"
	}
	wait := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), time.Second)
	}
	argv := append(slices.Clone(p.o.ReadyCommand), "--wait", wait.Round(time.Second).String(), "--program", s.Command[0],
		"--keys", strconv.Itoa(len(keys)))
	if rfbCheck {
		argv = append(argv, "--bridge")
	}
	mine, theirs := net.Pipe()
	defer mine.Close()
	stop := context.AfterFunc(ctx, func() { mine.Close() })
	defer stop()
	var stderr limited
	done := make(chan bool)
	op, err := cl.ExecInstance(name, api.InstanceExecPost{Command: argv, WaitForWS: true},
		&incus.InstanceExecArgs{Stdin: theirs, Stdout: theirs, Stderr: &stderr, DataDone: done})
	if err != nil {
		theirs.Close()
		return nil, fmt.Errorf("lxd: readying %s: %w", name, err)
	}
	go func() {
		<-done
		theirs.Close()
	}()
	if keys != "" {
		if _, err := mine.Write([]byte(keys)); err != nil {
			return nil, p.helloEnded(ctx, cl, name, s, op, &stderr, err)
		}
	}
	br := bufio.NewReader(mine)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, p.helloEnded(ctx, cl, name, s, op, &stderr, err)
	}
	var st helloStatus
	if err := json.Unmarshal(line, &st); err != nil {
		return nil, fmt.Errorf("lxd: readying %s: a bad status line %q", name, line)
	}
	switch {
	case st.Code == "command":
		return nil, fmt.Errorf("lxd: %s: not found in the desktop image: %w", s.Command[0], provider.ErrBadCommand)
	case st.Code == "keys":
		return nil, fmt.Errorf("lxd: installing the SSH keys in %s: %s", name, st.Error)
	case st.Ready == nil || st.Code != "":
		return nil, fmt.Errorf("lxd: readying %s: %s (%s)", name, st.Error, st.Code)
	case st.Ready.UID == 0:
		return nil, fmt.Errorf("lxd: the desktop of %s runs as root", name)
	}
	if rfbCheck {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if _, err := rfb.Handshake(cctx, bufConn{mine, br}); err != nil {
			return nil, fmt.Errorf("lxd: the desktop's RFB server does not answer through %s: %w", TransportExec, err)
		}
	}
	return st.Ready, nil
}

// helloEnded is why the exec of hello ended without its status line: an image without the subcommand
// (errOldImage), the instance stopping (init's reason), or else the exec's failure.
func (p *Provider) helloEnded(ctx context.Context, cl incus.InstanceServer, name string, s provider.Spec, op incus.Operation, stderr *limited, rerr error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("lxd: the desktop of %s was not ready in time: %w", name, ctx.Err())
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code, err := p.execResult(wctx, cl, op)
	if err == nil && code == 2 { // a usage error: no such subcommand, or flags it does not know
		return errOldImage
	}
	// An instance that stops (init gave up, or the command could not run) ends the exec.
	for i := 0; i < 50; i++ {
		st, _, serr := cl.GetInstanceState(name)
		if serr != nil {
			return fmt.Errorf("lxd: reading %s: %w", name, serr)
		}
		if st.StatusCode != api.Running {
			why := p.stopReason(cl, name)
			if badCommand(why) {
				return fmt.Errorf("lxd: %s: %s: %w", s.Command[0], why, provider.ErrBadCommand)
			}
			return fmt.Errorf("lxd: %s stopped before its desktop was ready: %s", name, why)
		}
		if err == nil && code == 0 {
			break
		}
		select {
		case <-wctx.Done():
			i = 50
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("lxd: readying %s: the exec ended (exit %d, %v; %v): %s", name, code, err, rerr, strings.TrimSpace(stderr.String()))
}

// execResult waits for an exec operation's end and answers the command's exit code.
func (p *Provider) execResult(ctx context.Context, cl incus.InstanceServer, op incus.Operation) (int, error) {
	for {
		o, err := lxdconn.WaitOperation(cl, op.Get().ID, 2)
		if err != nil {
			return -1, err
		}
		if o.StatusCode.IsFinal() {
			if o.StatusCode != api.Success {
				return -1, errors.New(o.Err)
			}
			switch v := o.Metadata["return"].(type) {
			case float64:
				return int(v), nil
			case string:
				if n, err := strconv.Atoi(v); err == nil {
					return n, nil
				}
			}
			return -1, nil
		}
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
	}
}
