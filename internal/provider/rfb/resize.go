package rfb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Resize asks the server for another screen size (SetDesktopSize, one screen) and waits for its
// answer: the ExtendedDesktopSize rectangle of the next framebuffer update, whose status says whether
// the server did it. The LXD provider's warm pool uses it to give a pre-started desktop the session's
// geometry (Xvnc takes any size). A context deadline applies.
func (c *Client) Resize(ctx context.Context, w, h int) error {
	if w < 1 || h < 1 || w > maxSide || h > maxSide {
		return fmt.Errorf("rfb: screen size %dx%d out of range", w, h)
	}
	if w == c.Init.Width && h == c.Init.Height {
		return nil
	}
	stop := deadline(ctx, c.conn)
	defer stop()
	msg := make([]byte, 0, 64)
	// SetPixelFormat: 32 bpp true colour (so that Raw rectangles can be skipped by their size).
	msg = append(msg, 0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0)
	// SetEncodings: Raw, ExtendedDesktopSize (-308).
	msg = append(msg, 2, 0, 0, 2, 0, 0, 0, 0)
	msg = binary.BigEndian.AppendUint32(msg, uint32(0xFFFFFECC))
	// SetDesktopSize: w×h, one screen (id 0) covering it.
	msg = append(msg, 251, 0)
	msg = binary.BigEndian.AppendUint16(msg, uint16(w))
	msg = binary.BigEndian.AppendUint16(msg, uint16(h))
	msg = append(msg, 1, 0)
	msg = binary.BigEndian.AppendUint32(msg, 0)
	msg = append(msg, 0, 0, 0, 0)
	msg = binary.BigEndian.AppendUint16(msg, uint16(w))
	msg = binary.BigEndian.AppendUint16(msg, uint16(h))
	msg = binary.BigEndian.AppendUint32(msg, 0)
	// FramebufferUpdateRequest, incremental, a corner: the answer rides on the next update.
	msg = append(msg, 3, 1, 0, 0, 0, 0, 0, 1, 0, 1)
	if _, err := c.conn.Write(msg); err != nil {
		return fmt.Errorf("rfb: %w", err)
	}
	sw, sh := c.Init.Width, c.Init.Height
	for {
		typ, err := c.r.ReadByte()
		if err != nil {
			return fmt.Errorf("rfb: reading a server message: %w", err)
		}
		switch typ {
		case 0: // FramebufferUpdate
			var hdr struct {
				Pad uint8
				N   uint16
			}
			if err := binary.Read(c.r, binary.BigEndian, &hdr); err != nil {
				return err
			}
			answered := false
			var status uint16
			for range int(hdr.N) {
				var r struct {
					X, Y, W, H uint16
					Enc        int32
				}
				if err := binary.Read(c.r, binary.BigEndian, &r); err != nil {
					return err
				}
				switch r.Enc {
				case 0: // Raw, 4 bytes a pixel
					if _, err := c.r.Discard(int(r.W) * int(r.H) * 4); err != nil {
						return err
					}
				case -308: // ExtendedDesktopSize: screens follow
					var n [4]byte
					if _, err := io.ReadFull(c.r, n[:]); err != nil {
						return err
					}
					if _, err := c.r.Discard(int(n[0]) * 16); err != nil {
						return err
					}
					sw, sh = int(r.W), int(r.H)
					if r.X == 1 { // reason 1: this client's request; Y is the status
						answered, status = true, r.Y
					}
				default:
					return fmt.Errorf("rfb: the server sent encoding %d", r.Enc)
				}
			}
			if answered {
				if status != 0 {
					return fmt.Errorf("rfb: the server refused %dx%d (status %d)", w, h, status)
				}
				c.Init.Width, c.Init.Height = sw, sh
				return nil
			}
			// An update without the answer: ask again.
			if _, err := c.conn.Write([]byte{3, 1, 0, 0, 0, 0, 0, 1, 0, 1}); err != nil {
				return fmt.Errorf("rfb: %w", err)
			}
		case 1: // SetColourMapEntries
			var hdr struct {
				Pad      uint8
				First, N uint16
			}
			if err := binary.Read(c.r, binary.BigEndian, &hdr); err != nil {
				return err
			}
			if _, err := c.r.Discard(int(hdr.N) * 6); err != nil {
				return err
			}
		case 2: // Bell
		case 3: // ServerCutText
			var hdr struct {
				Pad [3]byte
				N   uint32
			}
			if err := binary.Read(c.r, binary.BigEndian, &hdr); err != nil {
				return err
			}
			if hdr.N > 64<<20 {
				return errors.New("rfb: implausible clipboard text")
			}
			if _, err := c.r.Discard(int(hdr.N)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("rfb: unexpected server message type %d", typ)
		}
	}
}
