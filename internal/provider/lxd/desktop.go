package lxd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/rfb"
	"github.com/deskhub/deskhub/internal/provider/shot"
)

// notFound is execScript's exit code for a program that does not exist (not the shell's 127: LXD turns
// that into a failed operation).
const notFound = 3

// persistent tells whether anything of a desktop outlives its instance's stop (a per-user instance, a
// home volume): then it is stopped gracefully, so that programs may save.
func (p *Provider) persistent() bool { return p.o.Per == PerUser || p.o.HomeVolumes }

// Stop implements provider.Provider: the instance is deleted (per session) or stopped (per user). A
// server that does not answer has the instance removed once it is back.
func (p *Provider) Stop(ctx context.Context, id string) error {
	d, err := p.get(id)
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	_ = p.thaw(ctx, d) // a frozen instance stops gracefully only once thawed
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	return p.remove(ctx, d)
}

// remove stops or deletes d's instance and forgets d; while its server does not answer, d stays
// (stopping) and the watcher tries again.
func (p *Provider) remove(ctx context.Context, d *desktop) error {
	d.mu.Lock()
	if d.removing || d.removed {
		d.mu.Unlock()
		return nil // Stop and the watcher at once: one of them does it
	}
	d.removing = true
	d.mu.Unlock()
	done := false
	defer func() {
		d.mu.Lock()
		d.removing, d.removed = false, done
		d.mu.Unlock()
	}()
	cl, err := p.client(d.rt.Server)
	if err != nil {
		p.log.Warn("the desktop's server does not answer; its instance is removed once it does", "session", d.id,
			"instance", d.rt.Instance, "error", err)
		return nil
	}
	if err := p.halt(ctx, cl, d.rt.Instance, d.rt.Per == PerSession, p.persistent()); err != nil {
		return err
	}
	done = true
	p.forget(d)
	if d.rt.Dir != "" {
		_ = os.RemoveAll(d.rt.Dir)
	}
	return nil
}

// Running implements provider.Provider.
func (p *Provider) Running(ctx context.Context, id string) (bool, error) {
	d, err := p.running(id)
	if err != nil {
		return false, err
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return false, err
	}
	st, _, err := cl.GetInstanceState(d.rt.Instance)
	if lxdconn.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.StatusCode == api.Running || st.StatusCode == api.Frozen, nil
}

// execScript runs "$@" in the background, detached from the exec call, and prints its pid; exit
// notFound when the program does not exist. What the program writes goes to init's output FIFO, which
// init logs (proc "exec") into its log, the desktop's session/log, after a line naming the program —
// as the local provider appends an exec'd program's output to session.log. An image whose init has no
// such FIFO (older than the broker) gets /dev/null.
const execScript = `command -v "$1" >/dev/null 2>&1 || exit 3
o=` + outputFIFO + `
if [ -p "$o" ] && [ -w "$o" ]; then printf 'deskhub: exec %s\n' "$*" >>"$o"; else o=/dev/null; fi
"$@" </dev/null >>"$o" 2>&1 &
echo $!`

// Exec implements provider.Provider: the program runs in the desktop's display as its user, through
// LXD's exec API; the pid is the container's.
func (p *Provider) Exec(ctx context.Context, id string, argv []string) (int, error) {
	if len(argv) == 0 || argv[0] == "" {
		return 0, fmt.Errorf("lxd: no program: %w", provider.ErrBadCommand)
	}
	d, err := p.running(id)
	if err != nil {
		return 0, err
	}
	if err := p.thaw(ctx, d); err != nil {
		return 0, err
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return 0, err
	}
	var out bytes.Buffer
	code, err := p.run(ctx, cl, d.rt.Instance, d.rt.Ready, append([]string{"/bin/sh", "-c", execScript, "sh"}, argv...), &out)
	if err != nil {
		return 0, fmt.Errorf("lxd: exec in %s: %w", d.rt.Instance, err)
	}
	if code == notFound {
		return 0, fmt.Errorf("lxd: %s: not found in the desktop: %w", argv[0], provider.ErrBadCommand)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if code != 0 || err != nil {
		return 0, fmt.Errorf("lxd: exec in %s: exit %d, %q", d.rt.Instance, code, out.String())
	}
	return pid, nil
}

// Screenshot implements provider.Provider: one frame read from the desktop's RFB server.
func (p *Provider) Screenshot(ctx context.Context, id string, o provider.ScreenshotOptions) ([]byte, error) {
	c, err := p.DialRFB(ctx, id)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	img, err := rfb.Capture(cctx, c)
	if err != nil {
		return nil, fmt.Errorf("lxd: screenshot of %s: %w", id, err)
	}
	return shot.Encode(img, o)
}

// Log implements provider.Provider: the end of the desktop's init log.
func (p *Provider) Log(ctx context.Context, id string, max int) ([]byte, error) {
	d, err := p.get(id)
	if err != nil {
		return nil, err
	}
	cl, err := p.client(d.rt.Server)
	if err != nil {
		return nil, err
	}
	b, err := readFile(cl, d.rt.Instance, initLog, max)
	if lxdconn.IsNotFound(err) {
		return nil, fmt.Errorf("lxd: %s: %w", id, provider.ErrNotFound)
	}
	if err == nil && len(b) < max {
		// Just rotated (docs/INIT.md, Logs): the end of the previous file comes first.
		if prev, perr := readFile(cl, d.rt.Instance, initLog+".1", max-len(b)); perr == nil {
			b = append(prev, b...)
		}
	}
	return b, err
}
