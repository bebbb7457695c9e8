// Package x11 is the desktop agent's X11 client: it lists, activates, closes and tiles windows through
// EWMH/ICCCM, watches the window list, synchronises PRIMARY into CLIPBOARD and sets the root background,
// all over one xgb connection (no wmctrl/xdotool).
package x11

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/res"
	"github.com/jezek/xgb/xproto"
)

// Conn is one xgb connection to a display. Its methods are safe for concurrent use.
type Conn struct {
	x      *xgb.Conn
	screen *xproto.ScreenInfo
	root   xproto.Window

	atomMu sync.Mutex
	atoms  map[string]xproto.Atom

	resOnce sync.Once
	resOK   bool

	subMu sync.Mutex
	subs  map[*subscriber]struct{}

	bgMu sync.Mutex // serialises background changes

	done chan struct{}
}

type subscriber struct {
	ch   chan xgb.Event
	done chan struct{}
}

// Window is one managed client window.
type Window struct {
	ID          uint32 `json:"id"`
	PID         int    `json:"pid"`
	WMClass     string `json:"wm_class"`
	WMInstance  string `json:"wm_instance"` // the instance part of WM_CLASS (abcdesktop lists instance.Class)
	Title       string `json:"title"`
	MachineName string `json:"machine_name"`
}

// Rect is where Tile puts a window: the outer (frame) rectangle in root coordinates.
type Rect struct {
	ID     uint32 `json:"id"`
	X      int    `json:"x"`
	Y      int    `json:"y"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Event is what Watch reports.
type Event struct {
	Type    string   `json:"type"` // "window.list"
	Windows []Window `json:"windows"`
	Active  uint32   `json:"active"`
}

// UnknownWindowsError names window ids that are not in the client list.
type UnknownWindowsError struct{ IDs []uint32 }

func (e *UnknownWindowsError) Error() string {
	s := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return "x11: unknown windows: " + strings.Join(s, ", ")
}

// ErrClosed is returned when the X connection is gone.
var ErrClosed = errors.New("x11: connection closed")

// Dial connects to display (":N") with the MIT cookie of xauthorityPath ("" uses $XAUTHORITY/~/.Xauthority).
func Dial(display, xauthorityPath string) (*Conn, error) {
	x, err := dialRaw(display, xauthorityPath)
	if err != nil {
		return nil, err
	}
	return NewConn(x), nil
}

// NewConn wraps an open xgb connection. The Conn reads the connection's events itself, so the caller must
// not call WaitForEvent/PollForEvent on x; Close closes x.
func NewConn(x *xgb.Conn) *Conn {
	scr := xproto.Setup(x).DefaultScreen(x)
	c := &Conn{x: x, screen: scr, root: scr.Root, atoms: map[string]xproto.Atom{},
		subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
	go c.readEvents()
	return c
}

// Close closes the connection (ends Watch and clipboard serving).
func (c *Conn) Close() { c.x.Close() }

func (c *Conn) readEvents() {
	defer close(c.done)
	for {
		ev, err := c.x.WaitForEvent()
		if ev == nil && err == nil {
			return
		}
		if ev == nil {
			continue // asynchronous error of an unchecked request
		}
		c.subMu.Lock()
		subs := make([]*subscriber, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.subMu.Unlock()
		for _, s := range subs {
			select {
			case s.ch <- ev:
			case <-s.done:
			}
		}
	}
}

// subscribe returns a subscriber receiving every event; it must read until unsubscribe.
func (c *Conn) subscribe() *subscriber {
	s := &subscriber{ch: make(chan xgb.Event, 256), done: make(chan struct{})}
	c.subMu.Lock()
	c.subs[s] = struct{}{}
	c.subMu.Unlock()
	return s
}

func (c *Conn) unsubscribe(s *subscriber) {
	c.subMu.Lock()
	delete(c.subs, s)
	c.subMu.Unlock()
	close(s.done)
}

func (c *Conn) atom(name string) (xproto.Atom, error) {
	c.atomMu.Lock()
	a, ok := c.atoms[name]
	c.atomMu.Unlock()
	if ok {
		return a, nil
	}
	r, err := xproto.InternAtom(c.x, false, uint16(len(name)), name).Reply()
	if err != nil {
		return 0, fmt.Errorf("x11: intern %s: %w", name, err)
	}
	c.atomMu.Lock()
	c.atoms[name] = r.Atom
	c.atomMu.Unlock()
	return r.Atom, nil
}

// atomList interns several atoms (one round trip each the first time, cached afterwards).
func (c *Conn) atomList(names ...string) ([]xproto.Atom, error) {
	out := make([]xproto.Atom, len(names))
	for i, n := range names {
		a, err := c.atom(n)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

func (c *Conn) getProp(w xproto.Window, name string, typ xproto.Atom) (*xproto.GetPropertyReply, error) {
	a, err := c.atom(name)
	if err != nil {
		return nil, err
	}
	return xproto.GetProperty(c.x, false, w, a, typ, 0, 1<<20).Reply()
}

func u32s(r *xproto.GetPropertyReply) []uint32 {
	if r == nil || r.Format != 32 {
		return nil
	}
	out := make([]uint32, len(r.Value)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(r.Value[i*4:]) // xgb connections are little endian
	}
	return out
}

// clientList reads _NET_CLIENT_LIST.
func (c *Conn) clientList() ([]uint32, error) {
	r, err := c.getProp(c.root, "_NET_CLIENT_LIST", xproto.AtomWindow)
	if err != nil {
		return nil, fmt.Errorf("x11: _NET_CLIENT_LIST: %w", err)
	}
	return u32s(r), nil
}

// ActiveWindow reads _NET_ACTIVE_WINDOW (0: none).
func (c *Conn) ActiveWindow() (uint32, error) {
	r, err := c.getProp(c.root, "_NET_ACTIVE_WINDOW", xproto.AtomWindow)
	if err != nil {
		return 0, fmt.Errorf("x11: _NET_ACTIVE_WINDOW: %w", err)
	}
	if v := u32s(r); len(v) > 0 {
		return v[0], nil
	}
	return 0, nil
}

// Windows lists the managed windows in _NET_CLIENT_LIST order. Windows that vanish meanwhile are left out.
func (c *Conn) Windows() ([]Window, error) {
	ids, err := c.clientList()
	if err != nil {
		return nil, err
	}
	names := []string{"_NET_WM_PID", "WM_CLASS", "_NET_WM_NAME", "WM_NAME", "WM_CLIENT_MACHINE", "UTF8_STRING"}
	at, err := c.atomList(names...)
	if err != nil {
		return nil, err
	}
	type cookies struct{ pid, class, netName, name, machine xproto.GetPropertyCookie }
	cs := make([]cookies, len(ids))
	for i, id := range ids {
		w := xproto.Window(id)
		cs[i] = cookies{
			pid:     xproto.GetProperty(c.x, false, w, at[0], xproto.AtomCardinal, 0, 1),
			class:   xproto.GetProperty(c.x, false, w, at[1], xproto.AtomString, 0, 1024),
			netName: xproto.GetProperty(c.x, false, w, at[2], at[5], 0, 4096),
			name:    xproto.GetProperty(c.x, false, w, at[3], xproto.GetPropertyTypeAny, 0, 4096),
			machine: xproto.GetProperty(c.x, false, w, at[4], xproto.GetPropertyTypeAny, 0, 1024),
		}
	}
	out := make([]Window, 0, len(ids))
	for i, id := range ids {
		pid, err1 := cs[i].pid.Reply()
		class, err2 := cs[i].class.Reply()
		netName, err3 := cs[i].netName.Reply()
		name, err4 := cs[i].name.Reply()
		machine, err5 := cs[i].machine.Reply()
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, ErrClosed
			}
			continue // BadWindow: gone meanwhile
		}
		w := Window{ID: id}
		if v := u32s(pid); len(v) > 0 {
			w.PID = int(v[0])
		}
		if class != nil && class.Format == 8 {
			parts := bytes.Split(bytes.TrimRight(class.Value, "\x00"), []byte{0})
			w.WMClass = string(parts[len(parts)-1])
			if len(parts) > 1 {
				w.WMInstance = string(parts[0])
			}
		}
		if netName != nil && netName.Format == 8 && len(netName.Value) > 0 {
			w.Title = string(netName.Value)
		} else if name != nil && name.Format == 8 {
			w.Title = string(name.Value)
		}
		if machine != nil && machine.Format == 8 {
			w.MachineName = string(bytes.TrimRight(machine.Value, "\x00"))
		}
		out = append(out, w)
	}
	// Clients without _NET_WM_PID (older toolkits): ask the X-Resource extension for the client's pid.
	for i := range out {
		if out[i].PID == 0 {
			out[i].PID = c.resPID(out[i].ID)
		}
	}
	return out, nil
}

// resPID asks X-Resource (QueryClientIds, LocalClientPID) for the pid of the client owning window id.
func (c *Conn) resPID(id uint32) int {
	c.resOnce.Do(func() { c.resOK = res.Init(c.x) == nil })
	if !c.resOK {
		return 0
	}
	r, err := res.QueryClientIds(c.x, 1, []res.ClientIdSpec{{Client: id, Mask: res.ClientIdMaskLocalClientPID}}).Reply()
	if err != nil {
		return 0
	}
	for _, v := range r.Ids {
		if v.Spec.Mask&res.ClientIdMaskLocalClientPID != 0 && len(v.Value) > 0 {
			return int(v.Value[0])
		}
	}
	return 0
}

// checkKnown fails with *UnknownWindowsError when any id is not in the client list.
func (c *Conn) checkKnown(ids []uint32) error {
	list, err := c.clientList()
	if err != nil {
		return err
	}
	var unknown []uint32
	for _, id := range ids {
		if !slices.Contains(list, id) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return &UnknownWindowsError{IDs: unknown}
	}
	return nil
}

// clientMessage sends an EWMH client message about w to the root window.
func (c *Conn) clientMessage(w uint32, typ string, data ...uint32) error {
	a, err := c.atom(typ)
	if err != nil {
		return err
	}
	var d [5]uint32
	copy(d[:], data)
	ev := xproto.ClientMessageEvent{Format: 32, Window: xproto.Window(w), Type: a,
		Data: xproto.ClientMessageDataUnionData32New(d[:])}
	return xproto.SendEventChecked(c.x, false, c.root,
		xproto.EventMaskSubstructureNotify|xproto.EventMaskSubstructureRedirect, string(ev.Bytes())).Check()
}

// Activate asks the window manager to activate each window in turn (the last one ends up active).
func (c *Conn) Activate(ids []uint32) error {
	if err := c.checkKnown(ids); err != nil {
		return err
	}
	for _, id := range ids {
		cur, _ := c.ActiveWindow()
		// source 2: pager (the request comes from the user), timestamp 0 (CurrentTime).
		if err := c.clientMessage(id, "_NET_ACTIVE_WINDOW", 2, 0, cur); err != nil {
			return fmt.Errorf("x11: activate %d: %w", id, err)
		}
	}
	return nil
}

// CloseWindows asks the window manager to close each window (_NET_CLOSE_WINDOW).
func (c *Conn) CloseWindows(ids []uint32) error {
	if err := c.checkKnown(ids); err != nil {
		return err
	}
	for _, id := range ids {
		if err := c.clientMessage(id, "_NET_CLOSE_WINDOW", 0, 2); err != nil {
			return fmt.Errorf("x11: close %d: %w", id, err)
		}
	}
	return nil
}

// workArea is the current desktop's _NET_WORKAREA, or the root geometry.
func (c *Conn) workArea() (x, y, w, h int) {
	x, y, w, h = 0, 0, int(c.screen.WidthInPixels), int(c.screen.HeightInPixels)
	r, err := c.getProp(c.root, "_NET_WORKAREA", xproto.AtomCardinal)
	if err != nil {
		return
	}
	v := u32s(r)
	desk := 0
	if cr, err := c.getProp(c.root, "_NET_CURRENT_DESKTOP", xproto.AtomCardinal); err == nil {
		if d := u32s(cr); len(d) > 0 {
			desk = int(d[0])
		}
	}
	if len(v) < 4*(desk+1) {
		desk = 0
	}
	if len(v) >= 4*(desk+1) {
		a := v[4*desk : 4*desk+4]
		if a[2] > 0 && a[3] > 0 {
			return int(int32(a[0])), int(int32(a[1])), int(a[2]), int(a[3])
		}
	}
	return
}

// tileable tells whether a window is normal (type normal or unset) and not minimised/hidden.
func (c *Conn) tileable(w uint32) bool {
	at, err := c.atomList("_NET_WM_WINDOW_TYPE_NORMAL", "_NET_WM_STATE_HIDDEN")
	if err != nil {
		return false
	}
	t, err := c.getProp(xproto.Window(w), "_NET_WM_WINDOW_TYPE", xproto.AtomAtom)
	if err != nil {
		return false
	}
	if types := u32s(t); len(types) > 0 && !slices.Contains(types, uint32(at[0])) {
		return false
	}
	s, err := c.getProp(xproto.Window(w), "_NET_WM_STATE", xproto.AtomAtom)
	if err != nil {
		return false
	}
	if slices.Contains(u32s(s), uint32(at[1])) {
		return false
	}
	st, err := c.getProp(xproto.Window(w), "WM_STATE", xproto.GetPropertyTypeAny)
	if err == nil {
		if v := u32s(st); len(v) > 0 && v[0] == 3 { // IconicState
			return false
		}
	}
	return true
}

// grid splits the area into cells for n windows: cols=ceil(sqrt(n)), rows=ceil(n/cols).
func grid(n, x, y, w, h int) [][4]int {
	if n <= 0 {
		return nil
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	rows := (n + cols - 1) / cols
	out := make([][4]int, n)
	for i := range out {
		r, col := i/cols, i%cols
		x0, x1 := x+col*w/cols, x+(col+1)*w/cols
		y0, y1 := y+r*h/rows, y+(r+1)*h/rows
		out[i] = [4]int{x0, y0, x1 - x0, y1 - y0}
	}
	return out
}

// Tile arranges every normal, visible window in a grid over the work area and returns the target rects
// (outer frame rectangles; the client area is the rect less the window manager's frame extents).
func (c *Conn) Tile() ([]Rect, error) {
	ids, err := c.clientList()
	if err != nil {
		return nil, err
	}
	var wins []uint32
	for _, id := range ids {
		if c.tileable(id) {
			wins = append(wins, id)
		}
	}
	ax, ay, aw, ah := c.workArea()
	cells := grid(len(wins), ax, ay, aw, ah)
	at, err := c.atomList("_NET_WM_STATE_MAXIMIZED_VERT", "_NET_WM_STATE_MAXIMIZED_HORZ", "_NET_WM_STATE_FULLSCREEN")
	if err != nil {
		return nil, err
	}
	out := make([]Rect, 0, len(wins))
	for i, id := range wins {
		cell := cells[i]
		// Unmaximise first: window managers ignore geometry requests of maximised windows.
		if err := c.clientMessage(id, "_NET_WM_STATE", 0, uint32(at[0]), uint32(at[1]), 2); err != nil {
			return nil, err
		}
		if err := c.clientMessage(id, "_NET_WM_STATE", 0, uint32(at[2]), 0, 2); err != nil {
			return nil, err
		}
		var l, r, t, b int
		if fe, err := c.getProp(xproto.Window(id), "_NET_FRAME_EXTENTS", xproto.AtomCardinal); err == nil {
			if v := u32s(fe); len(v) == 4 {
				l, r, t, b = int(v[0]), int(v[1]), int(v[2]), int(v[3])
			}
		}
		cw, ch := max(1, cell[2]-l-r), max(1, cell[3]-t-b)
		// flags: gravity NorthWest (1) | x | y | width | height given | source pager (2<<12).
		flags := uint32(1) | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 2<<12
		if err := c.clientMessage(id, "_NET_MOVERESIZE_WINDOW", flags, uint32(int32(cell[0])), uint32(int32(cell[1])),
			uint32(cw), uint32(ch)); err != nil {
			return nil, fmt.Errorf("x11: tile %d: %w", id, err)
		}
		out = append(out, Rect{ID: id, X: cell[0], Y: cell[1], Width: cell[2], Height: cell[3]})
	}
	return out, nil
}

// Watch reports the window list (type "window.list") whenever _NET_CLIENT_LIST or _NET_ACTIVE_WINDOW
// change, debounced by 50 ms. It returns when ctx ends or the connection closes.
func (c *Conn) Watch(ctx context.Context, fn func(Event)) {
	at, err := c.atomList("_NET_CLIENT_LIST", "_NET_ACTIVE_WINDOW")
	if err != nil {
		return
	}
	s := c.subscribe()
	defer c.unsubscribe(s)
	// Event masks are per client: keep whatever this connection selected on the root and add PropertyChange.
	if a, err := xproto.GetWindowAttributes(c.x, c.root).Reply(); err == nil {
		mask := a.YourEventMask | xproto.EventMaskPropertyChange
		if err := xproto.ChangeWindowAttributesChecked(c.x, c.root, xproto.CwEventMask, []uint32{mask}).Check(); err != nil {
			return
		}
	} else {
		return
	}
	const debounce = 50 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case ev := <-s.ch:
			if p, ok := ev.(xproto.PropertyNotifyEvent); ok && p.Window == c.root && (p.Atom == at[0] || p.Atom == at[1]) {
				timer.Reset(debounce)
			}
		case <-timer.C:
			wins, err := c.Windows()
			if err != nil {
				if errors.Is(err, ErrClosed) {
					return
				}
				continue
			}
			active, _ := c.ActiveWindow()
			fn(Event{Type: "window.list", Windows: wins, Active: active})
		}
	}
}
