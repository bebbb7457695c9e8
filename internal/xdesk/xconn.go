package xdesk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/xauth"
)

// DialX opens an X connection to display :n with the cookie. The connection setup is bounded by ctx.
func DialX(ctx context.Context, n int, cookie []byte) (*xgb.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", SocketPath(n))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	return xauth.Connect(nc, cookie, deadline)
}

// WMRunning tells whether a window manager has taken the screen: it set the EWMH check window (openbox
// does so after selecting SubstructureRedirect on the root), or, when ownerOK, owns the ICCCM WM_S0
// selection (taken a little earlier, for window managers without EWMH). The EWMH property outlives a
// window manager that died: WMOwned tells whether one runs now.
func WMRunning(x *xgb.Conn, ownerOK bool) bool {
	root := xproto.Setup(x).DefaultScreen(x).Root
	const check = "_NET_SUPPORTING_WM_CHECK"
	if a, err := xproto.InternAtom(x, true, uint16(len(check)), check).Reply(); err == nil && a.Atom != xproto.AtomNone {
		if r, err := xproto.GetProperty(x, false, root, a.Atom, xproto.AtomWindow, 0, 1).Reply(); err == nil && len(r.Value) >= 4 {
			return true
		}
	}
	return ownerOK && WMOwned(x)
}

// WMOwned tells whether a client owns the WM_S0 selection (a window manager runs on screen 0; the X
// server clears the owner when that client goes).
func WMOwned(x *xgb.Conn) bool {
	a, err := xproto.InternAtom(x, false, uint16(len("WM_S0")), "WM_S0").Reply()
	if err != nil {
		return false
	}
	o, err := xproto.GetSelectionOwner(x, a.Atom).Reply()
	return err == nil && o.Owner != xproto.WindowNone
}

// ProbeWM creates an unmapped InputOnly window, asks to resize it and waits for the ConfigureNotify: with a
// window manager holding SubstructureRedirect, the request goes to the window manager, which applies it
// once it handles events. It reports false when ctx ends first.
func ProbeWM(ctx context.Context, x *xgb.Conn) (bool, error) {
	return probeWM(ctx, x, readEvents(x))
}

// readEvents hands the connection's events over on a channel (closed with the connection). Events that
// find the channel full are dropped: readers look for one event and ask again if they miss it.
func readEvents(x *xgb.Conn) <-chan xgb.Event {
	events := make(chan xgb.Event, 64)
	go func() {
		defer close(events)
		for {
			ev, xerr := x.WaitForEvent()
			if ev == nil && xerr == nil {
				return // connection closed
			}
			if ev != nil {
				select {
				case events <- ev:
				default:
				}
			}
		}
	}()
	return events
}

// probeTick is how often ProbeWM asks again: a window manager still starting drops ConfigureRequests
// (openbox does), and serves them some 10–30 ms after it announced itself. Each ask is one small request;
// at 10 ms a start waited 5 ms on average past the moment openbox would have answered, at 2 ms 1 ms.
const probeTick = 2 * time.Millisecond

func probeWM(ctx context.Context, x *xgb.Conn, events <-chan xgb.Event) (bool, error) {
	scr := xproto.Setup(x).DefaultScreen(x)
	wid, err := xproto.NewWindowId(x)
	if err != nil {
		return false, err
	}
	if err := xproto.CreateWindowChecked(x, 0, wid, scr.Root, -10, -10, 1, 1, 0,
		xproto.WindowClassInputOnly, 0, xproto.CwEventMask,
		[]uint32{xproto.EventMaskStructureNotify}).Check(); err != nil {
		return false, fmt.Errorf("probe window: %w", err)
	}
	defer xproto.DestroyWindow(x, wid)
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	for i := uint32(0); ; i++ {
		if err := xproto.ConfigureWindowChecked(x, wid, xproto.ConfigWindowWidth, []uint32{2 + i%2}).Check(); err != nil {
			return false, fmt.Errorf("probe window: %w", err)
		}
	wait:
		for {
			select {
			case <-tick.C:
				break wait
			case ev, ok := <-events:
				if !ok {
					return false, errors.New("X connection closed")
				}
				if cn, ok := ev.(xproto.ConfigureNotifyEvent); ok && cn.Window == wid {
					return true, nil
				}
			case <-ctx.Done():
				return false, nil
			}
		}
	}
}

// ErrWMExited is WaitWM's answer when the window manager exits before it is in charge.
var ErrWMExited = errors.New("exited at start")

// WaitWM waits (at most 5 s) until a window manager runs on display n and handles requests: it has
// announced itself (see WMRunning), and a ConfigureWindow of an unmapped probe window, which the window
// manager receives as a ConfigureRequest, comes back as a ConfigureNotify. Without the second step, a
// program started right away (xterm) can wait 5 s for a window manager still busy starting (Xt wmTimeout),
// or end up unmanaged and unmapped (seen with openbox). It reports whether the window manager answered;
// false with a nil error means the 5 s passed (a window manager that never announces itself gets them).
// The window manager's exit (exited closing) is ErrWMExited.
func WaitWM(ctx context.Context, n int, cookie []byte, exited <-chan struct{}) (bool, error) {
	return WaitWMTimed(ctx, n, cookie, exited, nil)
}

// WaitWMTimed is WaitWM, calling announced (when not nil) once the window manager has announced itself,
// before the probe (start phases are logged).
//
// The announcement is waited for on the root window's PropertyNotify events (a window manager announces
// itself by setting root properties), not by polling: each event, and every 25 ms in case, the check is
// made again.
func WaitWMTimed(ctx context.Context, n int, cookie []byte, exited <-chan struct{}, announced func()) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	x, err := DialX(ctx, n, cookie)
	if err != nil {
		return false, err
	}
	defer x.Close()
	timedOut := func() (bool, error) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return false, nil
		}
		return false, ctx.Err()
	}
	events := readEvents(x)
	root := xproto.Setup(x).DefaultScreen(x).Root
	// Selected before the first look, so that no announcement falls between a look and the wait.
	if err := xproto.ChangeWindowAttributesChecked(x, root, xproto.CwEventMask,
		[]uint32{xproto.EventMaskPropertyChange}).Check(); err != nil {
		return false, fmt.Errorf("watch root properties: %w", err)
	}
	t0 := time.Now()
	fallback := time.NewTicker(25 * time.Millisecond)
	defer fallback.Stop()
	for !WMRunning(x, time.Since(t0) > 2*time.Second) {
	wait:
		for {
			select {
			case <-exited:
				return false, ErrWMExited
			case <-ctx.Done():
				return timedOut()
			case <-fallback.C:
				break wait
			case ev, ok := <-events:
				if !ok {
					return false, errors.New("X connection closed")
				}
				if _, ok := ev.(xproto.PropertyNotifyEvent); ok {
					break wait
				}
			}
		}
	}
	if announced != nil {
		announced()
	}
	ok, err := probeWM(ctx, x, events)
	if err != nil {
		return false, err
	}
	if !ok {
		return timedOut()
	}
	return true, nil
}

// DisplayName is ":n".
func DisplayName(n int) string { return ":" + strconv.Itoa(n) }
