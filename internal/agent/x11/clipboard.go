package x11

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// ErrNoSelection: PRIMARY has no owner or its owner refused to convert it to text.
var ErrNoSelection = errors.New("x11: PRIMARY holds no text")

// selectionTimeout bounds how long SyncClipboard waits for the PRIMARY owner.
const selectionTimeout = 3 * time.Second

// SyncClipboard copies the PRIMARY selection into CLIPBOARD: it reads PRIMARY as text, takes ownership of
// CLIPBOARD and serves it (TARGETS, UTF8_STRING, STRING, TEXT, TIMESTAMP) from a goroutine until ctx ends,
// the connection closes or another client takes CLIPBOARD. It returns the text. Text too large for one
// request (no INCR transfers) is read as an error and refused to requestors.
func (c *Conn) SyncClipboard(ctx context.Context) (string, error) {
	at, err := c.atomList("CLIPBOARD", "UTF8_STRING", "TARGETS", "TEXT", "TIMESTAMP", "DESKHUB_SELECTION", "INCR")
	if err != nil {
		return "", err
	}
	clipboard, utf8Str, targets, text, timestamp, prop, incr := at[0], at[1], at[2], at[3], at[4], at[5], at[6]

	s := c.subscribe()
	wid, err := xproto.NewWindowId(c.x)
	if err != nil {
		c.unsubscribe(s)
		return "", fmt.Errorf("x11: %w", err)
	}
	if err := xproto.CreateWindowChecked(c.x, 0, wid, c.root, -10, -10, 1, 1, 0, xproto.WindowClassInputOnly, 0,
		xproto.CwEventMask, []uint32{xproto.EventMaskPropertyChange}).Check(); err != nil {
		c.unsubscribe(s)
		return "", fmt.Errorf("x11: selection window: %w", err)
	}
	serving := false
	defer func() {
		if !serving {
			xproto.DestroyWindow(c.x, wid)
			c.unsubscribe(s)
		}
	}()

	wctx, cancel := context.WithTimeout(ctx, selectionTimeout)
	defer cancel()
	wait := func(match func(xgb.Event) bool) (xgb.Event, error) {
		for {
			select {
			case ev := <-s.ch:
				if match(ev) {
					return ev, nil
				}
			case <-c.done:
				return nil, ErrClosed
			case <-wctx.Done():
				return nil, fmt.Errorf("x11: waiting for the selection: %w", wctx.Err())
			}
		}
	}

	// A server timestamp: append nothing to a property of our window and read the PropertyNotify time.
	xproto.ChangeProperty(c.x, xproto.PropModeAppend, wid, prop, utf8Str, 8, 0, nil)
	ev, err := wait(func(ev xgb.Event) bool {
		p, ok := ev.(xproto.PropertyNotifyEvent)
		return ok && p.Window == wid
	})
	if err != nil {
		return "", err
	}
	ts := ev.(xproto.PropertyNotifyEvent).Time

	var txt string
	got := false
	for _, target := range []xproto.Atom{utf8Str, xproto.AtomString} {
		xproto.ConvertSelection(c.x, wid, xproto.AtomPrimary, target, prop, ts)
		ev, err := wait(func(ev xgb.Event) bool {
			n, ok := ev.(xproto.SelectionNotifyEvent)
			return ok && n.Requestor == wid && n.Selection == xproto.AtomPrimary
		})
		if err != nil {
			return "", err
		}
		if ev.(xproto.SelectionNotifyEvent).Property == xproto.AtomNone {
			continue
		}
		r, err := xproto.GetProperty(c.x, true, wid, prop, xproto.GetPropertyTypeAny, 0, 1<<28).Reply()
		if err != nil {
			return "", fmt.Errorf("x11: reading PRIMARY: %w", err)
		}
		if r.Type == incr {
			return "", errors.New("x11: PRIMARY is too large (INCR transfers are not supported)")
		}
		if r.Format != 8 {
			continue
		}
		if r.Type == xproto.AtomString {
			txt = latin1ToUTF8(r.Value)
		} else {
			txt = string(r.Value)
		}
		got = true
		break
	}
	if !got {
		return "", ErrNoSelection
	}

	if err := xproto.SetSelectionOwnerChecked(c.x, wid, clipboard, ts).Check(); err != nil {
		return "", fmt.Errorf("x11: taking CLIPBOARD: %w", err)
	}
	if o, err := xproto.GetSelectionOwner(c.x, clipboard).Reply(); err != nil || o.Owner != wid {
		return "", errors.New("x11: could not take CLIPBOARD")
	}
	serving = true
	maxData := int(xproto.Setup(c.x).MaximumRequestLength)*4 - 64
	go func() {
		defer c.unsubscribe(s)
		defer xproto.DestroyWindow(c.x, wid)
		for {
			var ev xgb.Event
			select {
			case ev = <-s.ch:
			case <-ctx.Done():
				return
			case <-c.done:
				return
			}
			switch e := ev.(type) {
			case xproto.SelectionClearEvent:
				if e.Owner == wid && e.Selection == clipboard {
					return
				}
			case xproto.SelectionRequestEvent:
				if e.Owner != wid {
					continue
				}
				p := e.Property
				if p == xproto.AtomNone {
					p = e.Target // obsolete requestors
				}
				ok := e.Selection == clipboard
				if ok {
					switch e.Target {
					case targets:
						list := []xproto.Atom{targets, utf8Str, xproto.AtomString, text, timestamp}
						b := make([]byte, 4*len(list))
						for i, a := range list {
							binary.LittleEndian.PutUint32(b[4*i:], uint32(a))
						}
						xproto.ChangeProperty(c.x, xproto.PropModeReplace, e.Requestor, p, xproto.AtomAtom, 32, uint32(len(list)), b)
					case utf8Str, text:
						ok = len(txt) <= maxData
						if ok {
							xproto.ChangeProperty(c.x, xproto.PropModeReplace, e.Requestor, p, utf8Str, 8, uint32(len(txt)), []byte(txt))
						}
					case xproto.AtomString:
						b := utf8ToLatin1(txt)
						ok = len(b) <= maxData
						if ok {
							xproto.ChangeProperty(c.x, xproto.PropModeReplace, e.Requestor, p, xproto.AtomString, 8, uint32(len(b)), b)
						}
					case timestamp:
						b := make([]byte, 4)
						binary.LittleEndian.PutUint32(b, uint32(ts))
						xproto.ChangeProperty(c.x, xproto.PropModeReplace, e.Requestor, p, xproto.AtomInteger, 32, 1, b)
					default:
						ok = false
					}
				}
				if !ok {
					p = xproto.AtomNone
				}
				n := xproto.SelectionNotifyEvent{Time: e.Time, Requestor: e.Requestor, Selection: e.Selection,
					Target: e.Target, Property: p}
				xproto.SendEvent(c.x, false, e.Requestor, 0, string(n.Bytes()))
			}
		}
	}()
	return txt, nil
}

func latin1ToUTF8(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func utf8ToLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		s = s[n:]
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}
