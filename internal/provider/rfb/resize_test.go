package rfb

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resizeServer plays an RFB 3.8 server of a 1024×768 screen on conn: the handshake, then it discards
// what the client sends, writes tail and closes its side for writing.
func resizeServer(conn *net.UnixConn, tail []byte) {
	r := bufio.NewReader(conn)
	_, _ = io.WriteString(conn, "RFB 003.008\n")
	_, _ = io.ReadFull(r, make([]byte, 12))
	_, _ = conn.Write([]byte{1, 1})
	_, _ = r.ReadByte()
	_ = binary.Write(conn, binary.BigEndian, uint32(0))
	_, _ = r.ReadByte()
	si := binary.BigEndian.AppendUint16(nil, 1024)
	si = binary.BigEndian.AppendUint16(si, 768)
	si = append(si, make([]byte, 16)...)
	si = binary.BigEndian.AppendUint32(si, 0)
	_, _ = conn.Write(si)
	go func() { _, _ = io.Copy(io.Discard, r); conn.Close() }()
	_, _ = conn.Write(tail)
	_ = conn.CloseWrite()
}

// update is a FramebufferUpdate: a 2×1 Raw rectangle, then an ExtendedDesktopSize one (reason,
// status, w×h, one screen).
func update(reason, status, w, h int) []byte {
	b := []byte{0, 0, 0, 2}
	b = append(b, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0)
	b = append(b, make([]byte, 2*4)...)
	b = binary.BigEndian.AppendUint16(b, uint16(reason))
	b = binary.BigEndian.AppendUint16(b, uint16(status))
	b = binary.BigEndian.AppendUint16(b, uint16(w))
	b = binary.BigEndian.AppendUint16(b, uint16(h))
	b = binary.BigEndian.AppendUint32(b, 0xFFFFFECC)
	b = append(b, 1, 0, 0, 0)
	return append(b, make([]byte, 16)...)
}

func resizeWith(t testing.TB, tail []byte, w, h int) (*Client, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "rfb.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if s, err := l.AcceptUnix(); err == nil {
			resizeServer(s, tail)
		}
	}()
	c, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := Handshake(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	return cl, cl.Resize(ctx, w, h)
}

// TestResize: the server's answer to SetDesktopSize decides: done (the new size is taken), refused,
// an update of another client's change first, the connection closed.
func TestResize(t *testing.T) {
	bell := []byte{2}
	cl, err := resizeWith(t, append(append(bell, update(0, 0, 1024, 768)...), update(1, 0, 800, 600)...), 800, 600)
	if err != nil || cl.Init.Width != 800 || cl.Init.Height != 600 {
		t.Errorf("resize: %v, screen %+v", err, cl.Init)
	}
	if _, err := resizeWith(t, update(1, 3, 1024, 768), 800, 600); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("refused resize: %v", err)
	}
	if _, err := resizeWith(t, nil, 800, 600); err == nil {
		t.Error("resize on a closed connection: no error")
	}
	if _, err := resizeWith(t, nil, 0, 600); err == nil {
		t.Error("resize to 0×600: no error")
	}
	if _, err := resizeWith(t, nil, 1024, 768); err != nil {
		t.Errorf("resize to the same size: %v", err)
	}
}

// FuzzResize: whatever the server answers, Resize ends (an error, or the size) without panicking.
func FuzzResize(f *testing.F) {
	f.Add(update(1, 0, 800, 600))
	f.Add(update(1, 1, 800, 600))
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, tail []byte) {
		_, _ = resizeWith(t, tail, 800, 600)
	})
}
