package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultMonitor names the monitor source of the server's default sink (PulseAudio's special name):
// what plays in the desktop.
const DefaultMonitor = "@DEFAULT_MONITOR@"

// Capture is a running recorder (parec) of one PulseAudio source as raw s16le PCM. Read the samples
// from it; Close stops it.
type Capture struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tailBuffer
	done   chan struct{}
	once   sync.Once
}

// Capture starts recording source (a source name, e.g. DefaultMonitor or "<sink>.monitor") as s16le
// at rate with channels, asking the server for latency-sized fragments. It runs
//
//	parec --device=<source> --format=s16le --rate=<rate> --channels=<channels> --latency-msec=<ms> --raw
//
// (no shell) in its own process group with the server's environment. The recorder ends with ctx or
// Close, whichever comes first.
func (p *Pulse) Capture(ctx context.Context, source string, rate, channels int, latency time.Duration) (*Capture, error) {
	if source == "" || source[0] == '-' {
		return nil, fmt.Errorf("audio: bad source %q", source)
	}
	if rate < 1000 || rate > 192000 || channels < 1 || channels > 8 {
		return nil, fmt.Errorf("audio: bad format %d Hz × %d", rate, channels)
	}
	path, err := exec.LookPath("parec")
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	ms := max(1, int(latency/time.Millisecond))
	cmd := exec.Command(path, "--device="+source, "--format=s16le", "--rate="+strconv.Itoa(rate),
		"--channels="+strconv.Itoa(channels), "--latency-msec="+strconv.Itoa(ms), "--raw",
		"--client-name=deskhub", "--stream-name=deskhub listener")
	cmd.Env = p.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	c := &Capture{cmd: cmd, out: out, stderr: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("audio: parec: %w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-c.done:
		}
	}()
	return c, nil
}

// Read reads recorded samples. At the recorder's end it answers an error that carries its
// complaint (a missing source, a server gone).
func (c *Capture) Read(b []byte) (int, error) {
	n, err := c.out.Read(b)
	if errors.Is(err, io.EOF) {
		c.Close() // reading is over: waiting completes stderr
		if msg := c.stderr.String(); msg != "" {
			err = fmt.Errorf("audio: parec ended: %s", msg)
		}
	}
	return n, err
}

// Close stops the recorder (its process group) and waits for it.
func (c *Capture) Close() error {
	c.once.Do(func() {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		_ = c.cmd.Wait()
		close(c.done)
	})
	return nil
}

// Silent reports whether s16le samples are all zero (a null sink's monitor with nothing playing).
func Silent(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}

// Recorders answers how many recording streams (source outputs) the server has: a Capture is one.
func (p *Pulse) Recorders(ctx context.Context) (int, error) {
	out, err := p.run(ctx, "pactl", "list", "short", "source-outputs")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n, nil
}
