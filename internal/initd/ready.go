//go:build linux

package initd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Ready is the content of <run>/ready: where the desktop is reached, and what runs. It is written
// (replaced atomically) whenever Xvnc answers on its RFB socket and the agent on its socket, with the
// current pids, and removed as soon as one of them goes down and when init stops.
type Ready struct {
	Display    string         `json:"display"`     // ":0"
	RFB        string         `json:"rfb"`         // <run>/rfb.sock
	Agent      string         `json:"agent"`       // <run>/agent.sock
	XAuthority string         `json:"xauthority"`  // the display's cookie, readable by User
	User       string         `json:"user"`        // the desktop's Unix user
	UID        uint32         `json:"uid"`         // its uid
	Home       string         `json:"home"`        // its home
	RuntimeDir string         `json:"runtime_dir"` // its XDG_RUNTIME_DIR
	PIDs       map[string]int `json:"pids"`        // init, xvnc, wm, pulseaudio, agent, command (those that run)
	Since      time.Time      `json:"since"`       // when init started
}

// writeReady replaces path with r (0644), through a temporary file in the same directory.
func writeReady(path string, r Ready) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// probeRFB tells whether an RFB server answers on the unix socket path with a protocol version.
func probeRFB(ctx context.Context, path string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	v := make([]byte, 12)
	if _, err := io.ReadFull(c, v); err != nil {
		return fmt.Errorf("rfb: %w", err)
	}
	if !strings.HasPrefix(string(v), "RFB ") {
		return fmt.Errorf("rfb: not an RFB server: %q", v)
	}
	return nil
}

// probeAgent tells whether the agent answers on the unix socket path: GET /version answers 200. A
// hand-written HTTP/1.0 request keeps net/http out of this package (docs/ARCHITECTURE.md).
func probeAgent(ctx context.Context, path string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET /version HTTP/1.0\r\nHost: agent\r\n\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if f := strings.Fields(line); len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") || f[1] != "200" {
		return fmt.Errorf("agent: GET /version: %q", strings.TrimSpace(line))
	}
	return nil
}

// until calls probe every 100 ms until it succeeds, done closes (the program exited), or ctx ends.
func until(ctx context.Context, done <-chan struct{}, probe func(context.Context) error) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := probe(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("exited (last: %v)", err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
