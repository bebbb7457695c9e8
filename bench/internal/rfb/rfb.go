// Package rfb is the benchmarks' RFB client: enough of RFB 3.8 to time a desktop's first frame.
package rfb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// FirstUpdate does the RFB 3.8 handshake on conn (security None, shared), asks for the whole screen
// (a non-incremental FramebufferUpdateRequest, no SetEncodings: Raw) and reads the first
// FramebufferUpdate, calling header when its header has arrived. It answers the bytes of pixels read.
func FirstUpdate(conn io.ReadWriter, header func()) (int64, error) {
	r := bufio.NewReaderSize(conn, 1<<20)
	buf := make([]byte, 64)
	read := func(n int) ([]byte, error) {
		if n > len(buf) {
			buf = make([]byte, n)
		}
		_, err := io.ReadFull(r, buf[:n])
		return buf[:n], err
	}
	v, err := read(12)
	if err != nil {
		return 0, fmt.Errorf("RFB version: %w", err)
	}
	if string(v) != "RFB 003.008\n" {
		return 0, fmt.Errorf("RFB version %q, want 003.008", v)
	}
	if _, err := conn.Write([]byte("RFB 003.008\n")); err != nil {
		return 0, err
	}
	n, err := read(1)
	if err != nil {
		return 0, err
	}
	if n[0] == 0 {
		return 0, errors.New("server refused the connection (0 security types)")
	}
	types, err := read(int(n[0]))
	if err != nil {
		return 0, err
	}
	if !slices.Contains(types, 1) {
		return 0, fmt.Errorf("security None not offered (types %v)", types)
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		return 0, err
	}
	res, err := read(4)
	if err != nil {
		return 0, err
	}
	if binary.BigEndian.Uint32(res) != 0 {
		return 0, fmt.Errorf("SecurityResult %d", binary.BigEndian.Uint32(res))
	}
	if _, err := conn.Write([]byte{1}); err != nil { // ClientInit, shared
		return 0, err
	}
	si, err := read(24)
	if err != nil {
		return 0, fmt.Errorf("ServerInit: %w", err)
	}
	w, h, bpp := binary.BigEndian.Uint16(si[0:]), binary.BigEndian.Uint16(si[2:]), int(si[4])
	nameLen := binary.BigEndian.Uint32(si[20:])
	if _, err := read(int(nameLen)); err != nil {
		return 0, err
	}
	req := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(req[6:], w)
	binary.BigEndian.PutUint16(req[8:], h)
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	for {
		t, err := read(1)
		if err != nil {
			return 0, fmt.Errorf("waiting for the first update: %w", err)
		}
		switch t[0] {
		case 0: // FramebufferUpdate
		case 2: // Bell
			continue
		case 3: // ServerCutText
			hd, err := read(7)
			if err != nil {
				return 0, err
			}
			if _, err := read(int(binary.BigEndian.Uint32(hd[3:]))); err != nil {
				return 0, err
			}
			continue
		default:
			return 0, fmt.Errorf("unexpected server message %d before the first update", t[0])
		}
		break
	}
	hd, err := read(3)
	if err != nil {
		return 0, err
	}
	header()
	var total int64
	for range binary.BigEndian.Uint16(hd[1:]) {
		rh, err := read(12)
		if err != nil {
			return total, err
		}
		rw, rhh, enc := int(binary.BigEndian.Uint16(rh[4:])), int(binary.BigEndian.Uint16(rh[6:])), int32(binary.BigEndian.Uint32(rh[8:]))
		if enc != 0 {
			return total, fmt.Errorf("rectangle in encoding %d, want Raw", enc)
		}
		size := rw * rhh * bpp / 8
		if _, err := io.CopyN(io.Discard, r, int64(size)); err != nil {
			return total, err
		}
		total += int64(size)
	}
	return total, nil
}
