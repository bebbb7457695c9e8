package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/xauth"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// Adopt implements provider.Provider.
func (p *Provider) Adopt(ctx context.Context, in provider.Desktop) (*provider.Desktop, error) {
	if err := checkID(in.ID); err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("local: provider closed")
	}
	if d, ok := p.desktops[in.ID]; ok && d.state() == stateRunning {
		p.mu.Unlock()
		out := d.d
		return &out, nil
	}
	p.mu.Unlock()

	var rt runtimeInfo
	if err := json.Unmarshal(in.Runtime, &rt); err != nil || rt.V != 1 || rt.Display <= 0 || !filepath.IsAbs(rt.Dir) {
		return nil, fmt.Errorf("local: adopt %s: unusable runtime data", in.ID)
	}
	dt := &desktop{
		id:         in.ID,
		wmRestarts: p.o.WMRestarts,
		rt:         rt,
		d:          in,
		marker:     "DESKHUB_SESSION=" + in.ID,
		tornDown:   make(chan struct{}),
		stopWatch:  make(chan struct{}),
	}
	gone := func(why string) (*provider.Desktop, error) {
		p.log.Info("desktop gone at adopt", "session", in.ID, "why", why)
		p.kill(dt) // survivors
		p.cleanupFiles(dt)
		return nil, fmt.Errorf("local: adopt %s: %s: %w", in.ID, why, provider.ErrGone)
	}
	owned := func(r procRef) bool {
		u, err := procUID(r.PID)
		return r.alive() && err == nil && u == rt.User.UID
	}
	if !owned(rt.Server) {
		return gone("display server not running")
	}
	if !rt.Rootless && !owned(rt.App) {
		return gone("command not running")
	}
	cookie, err := xauth.ReadCookie(dt.xauthPath())
	if err != nil {
		return gone("xauthority unreadable")
	}
	dt.cookie = cookie
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	x, err := xdesk.DialX(cctx, rt.Display, cookie)
	cancel()
	if err != nil {
		return gone("display does not answer")
	}
	x.Close()
	p.mu.Lock()
	if other, ok := p.displays[rt.Display]; ok && other != in.ID {
		p.mu.Unlock()
		return nil, fmt.Errorf("local: adopt %s: display :%d belongs to %s", in.ID, rt.Display, other)
	}
	p.mu.Unlock()
	if err := p.register(dt); err != nil {
		return nil, err
	}
	p.log.Info("desktop adopted", "session", in.ID, "display", rt.Display, "server_pid", rt.Server.PID)
	out := in
	out.User = rt.User.Name
	dt.d.User = rt.User.Name
	return &out, nil
}
