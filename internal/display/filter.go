package display

import (
	"encoding/binary"
	"fmt"
)

// ClientFilter is a streaming parser of the RFB client→server byte stream (RFB 3.7/3.8, as spoken by
// noVNC and TigerVNC). It frames every message so that it can enforce view-only access:
//
//   - full control: every byte is passed unchanged and in order (messages are framed only to catch a
//     stream the relay cannot understand); a message is forwarded once it is complete, except
//     ClientCutText, which is streamed;
//   - view-only: KeyEvent, PointerEvent, ClientCutText, xvp, SetDesktopSize and QEMU extended key
//     events are dropped whole; ClientInit's shared flag is forced to 1 (a viewer never kicks other
//     clients off); the ExtendedMouseButtons pseudo-encoding is removed from SetEncodings (it would make
//     the length of PointerEvent depend on the server's reply, which this filter does not see).
//
// An unknown message type, a malformed handshake from a view-only client, or a ClientCutText longer
// than the limit is an error: the filter stops and the connection must be closed.
//
// A full-control client whose handshake cannot be followed (RFB 3.3, a security type other than None
// or VncAuth, e.g. VeNCrypt/TLS) or that enables ExtendedMouseButtons switches the filter to opaque
// pass-through: framing is then impossible, and nothing needs to be filtered for such a client.
//
// Not safe for concurrent use.
type ClientFilter struct {
	viewOnly bool
	max      int

	state  int
	opaque bool
	buf    []byte // handshake field or message being accumulated
	need   int    // len(buf) at which the next decision is taken
	skip   int    // bytes of a dropped message still to discard
	stream int    // bytes of a passed message still to stream through
	err    error

	passed, dropped int
	lastDropped     byte

	onMsg func(msg []byte) // tests: each whole message forwarded from the buffer (post-rewrite)
}

const (
	stVersion = iota
	stSecurity
	stVncAuth
	stClientInit
	stMessages
)

// RFB client→server message types.
const (
	msgSetPixelFormat          = 0
	msgSetEncodings            = 2
	msgFramebufferUpdateReq    = 3
	msgKeyEvent                = 4
	msgPointerEvent            = 5
	msgClientCutText           = 6
	msgEnableContinuousUpdates = 150
	msgFence                   = 248
	msgXvp                     = 250
	msgSetDesktopSize          = 251
	msgQEMU                    = 255

	qemuExtendedKeyEvent = 0
	qemuAudio            = 1

	encExtendedMouseButtons = -316
	maxFencePayload         = 64
	// DefaultMaxMessage bounds ClientCutText when Options.MaxMessage is 0.
	DefaultMaxMessage = 1 << 20
)

// NewClientFilter returns a filter at the start of a connection (the client's ProtocolVersion).
// maxMessage bounds ClientCutText payloads (<= 0: DefaultMaxMessage).
func NewClientFilter(viewOnly bool, maxMessage int) *ClientFilter {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	return &ClientFilter{viewOnly: viewOnly, max: maxMessage, need: 12}
}

// Opaque reports whether the filter gave up framing a full-control client and passes bytes through.
func (f *ClientFilter) Opaque() bool { return f.opaque }

// Passed and Dropped count whole client messages (after the handshake) forwarded and dropped.
func (f *ClientFilter) Passed() int  { return f.passed }
func (f *ClientFilter) Dropped() int { return f.dropped }

// Filter consumes p, appends to dst the bytes to send to the server, and returns dst. Once it has
// returned an error it returns that error again and consumes nothing.
func (f *ClientFilter) Filter(dst, p []byte) ([]byte, error) {
	if f.err != nil {
		return dst, f.err
	}
	for len(p) > 0 {
		switch {
		case f.opaque:
			return append(dst, p...), nil
		case f.skip > 0:
			n := min(f.skip, len(p))
			f.skip -= n
			p = p[n:]
			continue
		case f.stream > 0:
			n := min(f.stream, len(p))
			dst = append(dst, p[:n]...)
			f.stream -= n
			p = p[n:]
			continue
		}
		n := min(f.need-len(f.buf), len(p))
		f.buf = append(f.buf, p[:n]...)
		p = p[n:]
		if len(f.buf) < f.need {
			break
		}
		var err error
		if dst, err = f.step(dst); err != nil {
			f.err = err
			f.buf = nil
			return dst, err
		}
	}
	return dst, nil
}

// step is called when len(f.buf) == f.need.
func (f *ClientFilter) step(dst []byte) ([]byte, error) {
	switch f.state {
	case stVersion:
		v := f.buf
		if f.handshakeFails(parseVersion(v)) {
			return dst, fmt.Errorf("rfb: unsupported client protocol version %q", v)
		}
		dst = append(dst, v...)
		f.next(stSecurity, 1)
	case stSecurity:
		switch t := f.buf[0]; t {
		case 1: // None
			dst = append(dst, t)
			f.next(stClientInit, 1)
		case 2: // VncAuth: 16-byte DES response follows
			dst = append(dst, t)
			f.next(stVncAuth, 16)
		default:
			if f.handshakeFails(false) {
				return dst, fmt.Errorf("rfb: security type %d not allowed for a view-only client", t)
			}
			dst = append(dst, t)
		}
	case stVncAuth:
		dst = append(dst, f.buf...)
		f.next(stClientInit, 1)
	case stClientInit:
		shared := f.buf[0]
		if f.viewOnly {
			shared = 1
		}
		dst = append(dst, shared)
		f.next(stMessages, 1)
	case stMessages:
		return f.message(dst)
	}
	return dst, nil
}

// handshakeFails decides what to do with a handshake the filter cannot follow: an error for a
// view-only client, opaque pass-through for a full-control one.
func (f *ClientFilter) handshakeFails(ok bool) bool {
	if ok {
		return false
	}
	if f.viewOnly {
		return true
	}
	f.opaque = true
	f.buf = nil
	return false
}

func (f *ClientFilter) next(state, need int) {
	f.state = state
	f.need = need
	f.buf = f.buf[:0]
}

// parseVersion accepts "RFB 003.007\n" and "RFB 003.008\n", the versions whose handshake the
// filter can follow without seeing the server's side.
func parseVersion(v []byte) bool {
	s := string(v)
	return s == "RFB 003.008\n" || s == "RFB 003.007\n"
}

func (f *ClientFilter) message(dst []byte) ([]byte, error) {
	total, hdr, err := frameLen(f.buf, f.max)
	if err != nil {
		return dst, err
	}
	if total == 0 { // more header needed
		f.need = hdr
		return dst, nil
	}
	typ := f.buf[0]
	if f.viewOnly && isControl(f.buf) {
		f.dropped++
		f.lastDropped = typ
		f.skip = total - len(f.buf)
		f.buf = f.buf[:0]
		f.need = 1
		return dst, nil
	}
	if typ == msgClientCutText { // full control: may be large, stream it
		f.passed++
		dst = append(dst, f.buf...)
		f.stream = total - len(f.buf)
		f.buf = f.buf[:0]
		f.need = 1
		return dst, nil
	}
	if len(f.buf) < total {
		f.need = total
		return dst, nil
	}
	msg := f.buf
	if typ == msgSetEncodings {
		msg = f.setEncodings(msg)
	}
	f.passed++
	dst = append(dst, msg...)
	if f.onMsg != nil {
		f.onMsg(append([]byte(nil), msg...))
	}
	if cap(f.buf) > 4096 {
		f.buf = nil // do not keep a large SetEncodings buffer around
	} else {
		f.buf = f.buf[:0]
	}
	f.need = 1
	return dst, nil
}

// setEncodings removes ExtendedMouseButtons for view-only clients; a full-control client that asks
// for it makes the filter opaque after this message.
func (f *ClientFilter) setEncodings(msg []byte) []byte {
	n := int(binary.BigEndian.Uint16(msg[2:4]))
	enc := func(i int) int32 { return int32(binary.BigEndian.Uint32(msg[4+4*i:])) }
	has := false
	for i := range n {
		if enc(i) == encExtendedMouseButtons {
			has = true
			break
		}
	}
	if !has {
		return msg
	}
	if !f.viewOnly {
		f.opaque = true
		return msg
	}
	out := append(make([]byte, 0, len(msg)), msg[:4]...)
	for i := range n {
		if enc(i) != encExtendedMouseButtons {
			out = append(out, msg[4+4*i:8+4*i]...)
		}
	}
	binary.BigEndian.PutUint16(out[2:4], uint16((len(out)-4)/4))
	return out
}

// isControl reports whether a message (at least its header) is one a viewer may not send.
func isControl(h []byte) bool {
	switch h[0] {
	case msgKeyEvent, msgPointerEvent, msgClientCutText, msgXvp, msgSetDesktopSize:
		return true
	case msgQEMU:
		return h[1] == qemuExtendedKeyEvent
	}
	return false
}

// frameLen returns the total length of the message starting at h, or (0, n) when the first n bytes
// are needed to know it.
func frameLen(h []byte, maxCut int) (total, need int, err error) {
	switch h[0] {
	case msgSetPixelFormat:
		return 20, 0, nil
	case msgSetEncodings:
		if len(h) < 4 {
			return 0, 4, nil
		}
		return 4 + 4*int(binary.BigEndian.Uint16(h[2:4])), 0, nil
	case msgFramebufferUpdateReq:
		return 10, 0, nil
	case msgKeyEvent:
		return 8, 0, nil
	case msgPointerEvent:
		return 6, 0, nil
	case msgClientCutText:
		if len(h) < 8 {
			return 0, 8, nil
		}
		// A negative length is the Extended Clipboard format; its payload is |length| bytes.
		l := int64(int32(binary.BigEndian.Uint32(h[4:8])))
		if l < 0 {
			l = -l
		}
		if l > int64(maxCut) {
			return 0, 0, fmt.Errorf("rfb: ClientCutText of %d bytes exceeds the limit of %d", l, maxCut)
		}
		return 8 + int(l), 0, nil
	case msgEnableContinuousUpdates:
		return 10, 0, nil
	case msgFence:
		if len(h) < 9 {
			return 0, 9, nil
		}
		if h[8] > maxFencePayload {
			return 0, 0, fmt.Errorf("rfb: Fence payload of %d bytes (max %d)", h[8], maxFencePayload)
		}
		return 9 + int(h[8]), 0, nil
	case msgXvp:
		return 4, 0, nil
	case msgSetDesktopSize:
		if len(h) < 8 {
			return 0, 8, nil
		}
		return 8 + 16*int(h[6]), 0, nil
	case msgQEMU:
		if len(h) < 2 {
			return 0, 2, nil
		}
		switch h[1] {
		case qemuExtendedKeyEvent:
			return 12, 0, nil
		case qemuAudio:
			if len(h) < 4 {
				return 0, 4, nil
			}
			switch binary.BigEndian.Uint16(h[2:4]) {
			case 0, 1: // enable, disable
				return 4, 0, nil
			case 2: // set format: u8 format, u8 channels, u32 frequency
				return 10, 0, nil
			}
			return 0, 0, fmt.Errorf("rfb: unknown QEMU audio operation %d", binary.BigEndian.Uint16(h[2:4]))
		}
		return 0, 0, fmt.Errorf("rfb: unknown QEMU client message subtype %d", h[1])
	}
	return 0, 0, fmt.Errorf("rfb: unknown client message type %d", h[0])
}
