package lxd

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
)

// DialRFB implements provider.Provider.
func (p *Provider) DialRFB(ctx context.Context, id string) (net.Conn, error) {
	d, err := p.running(id)
	if err != nil {
		return nil, err
	}
	return p.dial(ctx, d, rfbPath)
}

// DialAgent implements provider.AgentDialer.
func (p *Provider) DialAgent(ctx context.Context, id string) (net.Conn, error) {
	d, err := p.running(id)
	if err != nil {
		return nil, err
	}
	return p.dial(ctx, d, agentPath)
}

// dial connects to the desktop's socket inner (rfbPath or agentPath): through the proxy device's socket
// on this machine, or through the exec bridge.
func (p *Provider) dial(ctx context.Context, d *desktop, inner string) (net.Conn, error) {
	if err := p.thaw(ctx, d); err != nil {
		return nil, err
	}
	if d.rt.Transport == TransportProxy {
		sock := "rfb.sock"
		if inner == agentPath {
			sock = "agent.sock"
		}
		var dialer net.Dialer
		return dialer.DialContext(ctx, "unix", filepath.Join(d.rt.Dir, sock))
	}
	if inner == rfbPath && d.rt.Ready.RFB != "" {
		inner = d.rt.Ready.RFB
	} else if inner == agentPath && d.rt.Ready.Agent != "" {
		inner = d.rt.Ready.Agent
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return nil, err
	}
	return p.bridge(ctx, cl, d.rt.Instance, inner)
}

// bridge runs `deskhub agent bridge SOCKET` in the instance through LXD's exec API and answers one end
// of a pipe whose other end is the command's standard input and output: one connection to the socket,
// carried by the exec API's websockets. Closing the answer closes the command's standard input, and
// the bridge ends; the bridge ending (the desktop closed the connection) ends the answer's reads.
func (p *Provider) bridge(ctx context.Context, cl incus.InstanceServer, name, sock string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	mine, theirs := net.Pipe()
	var stderr limited
	done := make(chan bool)
	argv := append(slices.Clone(p.o.BridgeCommand), sock)
	_, err := cl.ExecInstance(name, api.InstanceExecPost{Command: argv, WaitForWS: true},
		&incus.InstanceExecArgs{Stdin: theirs, Stdout: theirs, Stderr: &stderr, DataDone: done})
	if err != nil {
		mine.Close()
		theirs.Close()
		return nil, fmt.Errorf("lxd: bridge to %s in %s: %w", sock, name, err)
	}
	go func() {
		<-done
		theirs.Close()
		if s := stderr.String(); s != "" {
			p.log.Debug("bridge ended", "instance", name, "socket", sock, "stderr", s)
		}
	}()
	return mine, nil
}
