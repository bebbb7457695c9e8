package local

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

// dialX opens an X connection to display :n with the cookie. The connection setup is bounded by ctx.
func dialX(ctx context.Context, n int, cookie []byte) (*xgb.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", "/tmp/.X11-unix/X"+strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	return xauth.Connect(nc, cookie, deadline)
}

// topLevelWindows counts the mapped, managed (not override-redirect) children of the root window.
func topLevelWindows(x *xgb.Conn) (int, error) {
	root := xproto.Setup(x).DefaultScreen(x).Root
	tree, err := xproto.QueryTree(x, root).Reply()
	if err != nil {
		return 0, err
	}
	cookies := make([]xproto.GetWindowAttributesCookie, len(tree.Children))
	for i, w := range tree.Children {
		cookies[i] = xproto.GetWindowAttributes(x, w)
	}
	n := 0
	for _, c := range cookies {
		a, err := c.Reply()
		if err != nil || a == nil { // the window went away meanwhile
			continue
		}
		if a.MapState != xproto.MapStateUnmapped && !a.OverrideRedirect && a.Class == xproto.WindowClassInputOutput {
			n++
		}
	}
	return n, nil
}

// wmRunning tells whether a window manager has taken the screen: it set the EWMH check window (openbox
// does so after selecting SubstructureRedirect on the root), or, when ownerOK, owns the ICCCM WM_S0
// selection (taken a little earlier, for window managers without EWMH).
func wmRunning(x *xgb.Conn, ownerOK bool) bool {
	root := xproto.Setup(x).DefaultScreen(x).Root
	const check = "_NET_SUPPORTING_WM_CHECK"
	if a, err := xproto.InternAtom(x, true, uint16(len(check)), check).Reply(); err == nil && a.Atom != xproto.AtomNone {
		if r, err := xproto.GetProperty(x, false, root, a.Atom, xproto.AtomWindow, 0, 1).Reply(); err == nil && len(r.Value) >= 4 {
			return true
		}
	}
	if ownerOK {
		if a, err := xproto.InternAtom(x, false, uint16(len("WM_S0")), "WM_S0").Reply(); err == nil {
			if o, err := xproto.GetSelectionOwner(x, a.Atom).Reply(); err == nil && o.Owner != xproto.WindowNone {
				return true
			}
		}
	}
	return false
}

// probeWM creates an unmapped InputOnly window, asks to resize it and waits for the ConfigureNotify: with a
// window manager holding SubstructureRedirect, the request goes to the window manager, which applies it
// once it handles events. It reports false when ctx ends first.
func probeWM(ctx context.Context, x *xgb.Conn) (bool, error) {
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
	events := make(chan xgb.Event, 16)
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
	// A window manager still starting drops ConfigureRequests (openbox does): ask again until one is served.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := uint32(0); ; i++ {
		if err := xproto.ConfigureWindowChecked(x, wid, xproto.ConfigWindowWidth, []uint32{2 + i%2}).Check(); err != nil {
			return false, fmt.Errorf("probe window: %w", err)
		}
		select {
		case <-tick.C:
			continue
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

var errNoDisplay = errors.New("display does not answer")
