// Package rfb is the small RFB (VNC) client deskhub needs on the broker's side: reach a desktop's RFB
// server with no VNC authentication (deskhub's desktops offer security type None on a socket only the
// broker reaches), and read one whole frame as an image — a screenshot that works over any byte stream
// to the desktop (a unix socket, an LXD proxy device, a bridge through LXD's exec API).
//
// It speaks RFB 3.3, 3.7 and 3.8 (RFC 6143), asks for 32-bit true colour and the Raw encoding only, and
// reads framebuffer updates until every pixel of the screen has come.
package rfb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"time"
)

// ServerInit is what the server says of its screen after the handshake.
type ServerInit struct {
	Width, Height int
	Name          string
}

// maxSide bounds the screen size a server may announce (Xvnc's limit is 16384).
const maxSide = 16384

// Client is one RFB connection after the handshake.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	Init ServerInit
}

// Handshake does the RFB handshake on conn (version, security None, shared ClientInit) and reads the
// ServerInit. A context deadline applies to the handshake.
func Handshake(ctx context.Context, conn net.Conn) (*Client, error) {
	stop := deadline(ctx, conn)
	defer stop()
	c := &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	var ver [12]byte
	if _, err := io.ReadFull(c.r, ver[:]); err != nil {
		return nil, fmt.Errorf("rfb: reading the server's version: %w", err)
	}
	var minor int
	if _, err := fmt.Sscanf(string(ver[:]), "RFB 003.%03d\n", &minor); err != nil {
		return nil, fmt.Errorf("rfb: not an RFB server (it said %q)", ver[:])
	}
	switch {
	case minor >= 8:
		minor = 8
	case minor == 7:
	default:
		minor = 3
	}
	if _, err := fmt.Fprintf(conn, "RFB 003.%03d\n", minor); err != nil {
		return nil, err
	}
	if minor == 3 {
		var typ uint32
		if err := binary.Read(c.r, binary.BigEndian, &typ); err != nil {
			return nil, fmt.Errorf("rfb: reading the security type: %w", err)
		}
		switch typ {
		case 1:
		case 0:
			return nil, fmt.Errorf("rfb: the server refused the connection: %s", c.reason())
		default:
			return nil, fmt.Errorf("rfb: the server asks for security type %d, not None", typ)
		}
	} else {
		n, err := c.r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("rfb: reading the security types: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("rfb: the server refused the connection: %s", c.reason())
		}
		types := make([]byte, n)
		if _, err := io.ReadFull(c.r, types); err != nil {
			return nil, err
		}
		none := false
		for _, t := range types {
			none = none || t == 1
		}
		if !none {
			return nil, fmt.Errorf("rfb: the server offers security types %v, not None", types)
		}
		if _, err := conn.Write([]byte{1}); err != nil {
			return nil, err
		}
		if minor == 8 {
			var res uint32
			if err := binary.Read(c.r, binary.BigEndian, &res); err != nil {
				return nil, fmt.Errorf("rfb: reading the security result: %w", err)
			}
			if res != 0 {
				return nil, fmt.Errorf("rfb: security failed: %s", c.reason())
			}
		}
	}
	if _, err := conn.Write([]byte{1}); err != nil { // ClientInit: shared
		return nil, err
	}
	var si struct {
		W, H uint16
		PF   [16]byte
		N    uint32
	}
	if err := binary.Read(c.r, binary.BigEndian, &si); err != nil {
		return nil, fmt.Errorf("rfb: reading ServerInit: %w", err)
	}
	if si.W == 0 || si.H == 0 || si.W > maxSide || si.H > maxSide || si.N > 4096 {
		return nil, fmt.Errorf("rfb: implausible ServerInit: %dx%d, name of %d bytes", si.W, si.H, si.N)
	}
	name := make([]byte, si.N)
	if _, err := io.ReadFull(c.r, name); err != nil {
		return nil, err
	}
	c.Init = ServerInit{Width: int(si.W), Height: int(si.H), Name: string(name)}
	return c, nil
}

// reason reads the reason string of a refusal.
func (c *Client) reason() string {
	var n uint32
	if binary.Read(c.r, binary.BigEndian, &n) != nil || n > 4096 {
		return "(no reason given)"
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return "(no reason given)"
	}
	return string(b)
}

// deadline makes ctx's deadline and cancellation apply to conn until stop is called.
func deadline(ctx context.Context, conn net.Conn) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	after := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return func() {
		after()
		_ = conn.SetDeadline(time.Time{})
	}
}

// Frame asks for the whole screen (32-bit true colour, Raw encoding) and reads updates until every
// pixel has come.
func (c *Client) Frame(ctx context.Context) (*image.RGBA, error) {
	stop := deadline(ctx, c.conn)
	defer stop()
	w, h := c.Init.Width, c.Init.Height
	msg := make([]byte, 0, 20+8+10)
	// SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits each, red at 16, green 8, blue 0.
	msg = append(msg, 0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0)
	// SetEncodings: Raw only.
	msg = append(msg, 2, 0, 0, 1, 0, 0, 0, 0)
	// FramebufferUpdateRequest, not incremental, the whole screen.
	msg = append(msg, 3, 0, 0, 0, 0, 0)
	msg = binary.BigEndian.AppendUint16(msg, uint16(w))
	msg = binary.BigEndian.AppendUint16(msg, uint16(h))
	if _, err := c.conn.Write(msg); err != nil {
		return nil, fmt.Errorf("rfb: %w", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	covered := make([]bool, w*h)
	left := w * h
	row := make([]byte, 0, w*4)
	for left > 0 {
		typ, err := c.r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("rfb: reading a server message: %w", err)
		}
		switch typ {
		case 0: // FramebufferUpdate
			var hdr struct {
				Pad uint8
				N   uint16
			}
			if err := binary.Read(c.r, binary.BigEndian, &hdr); err != nil {
				return nil, err
			}
			for range int(hdr.N) {
				var r struct {
					X, Y, W, H uint16
					Enc        int32
				}
				if err := binary.Read(c.r, binary.BigEndian, &r); err != nil {
					return nil, err
				}
				if r.Enc != 0 {
					return nil, fmt.Errorf("rfb: the server sent encoding %d, not Raw", r.Enc)
				}
				x0, y0, rw, rh := int(r.X), int(r.Y), int(r.W), int(r.H)
				if x0+rw > w || y0+rh > h {
					return nil, fmt.Errorf("rfb: rectangle %dx%d+%d+%d outside the %dx%d screen", rw, rh, x0, y0, w, h)
				}
				for y := y0; y < y0+rh; y++ {
					row = row[:rw*4]
					if _, err := io.ReadFull(c.r, row); err != nil {
						return nil, err
					}
					dst := img.Pix[y*img.Stride+x0*4 : y*img.Stride+(x0+rw)*4]
					for i := 0; i < len(row); i += 4 {
						dst[i], dst[i+1], dst[i+2], dst[i+3] = row[i+2], row[i+1], row[i], 0xff
					}
					for x := x0; x < x0+rw; x++ {
						if !covered[y*w+x] {
							covered[y*w+x] = true
							left--
						}
					}
				}
			}
		case 1: // SetColourMapEntries
			var hdr struct {
				Pad      uint8
				First, N uint16
			}
			if err := binary.Read(c.r, binary.BigEndian, &hdr); err != nil {
				return nil, err
			}
			if _, err := c.r.Discard(int(hdr.N) * 6); err != nil {
				return nil, err
			}
		case 2: // Bell
		case 3: // ServerCutText
			var hdr struct {
				Pad [3]byte
				N   uint32
			}
			if err := binary.Read(c.r, binary.BigEndian, &hdr); err != nil {
				return nil, err
			}
			if hdr.N > 64<<20 {
				return nil, errors.New("rfb: implausible clipboard text")
			}
			if _, err := c.r.Discard(int(hdr.N)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("rfb: unexpected server message type %d", typ)
		}
	}
	return img, nil
}

// Capture does the handshake on conn and reads one whole frame. It does not close conn.
func Capture(ctx context.Context, conn net.Conn) (*image.RGBA, error) {
	c, err := Handshake(ctx, conn)
	if err != nil {
		return nil, err
	}
	return c.Frame(ctx)
}
