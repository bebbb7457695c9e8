package rfb

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeServer plays an RFB server of a w×h screen on conn: version minor, security None, then answers
// the client's request with a bell, a clipboard text and two Raw rectangles (top half red, bottom half
// blue), the second in an update of its own.
func fakeServer(t *testing.T, conn net.Conn, minor, w, h int) {
	t.Helper()
	defer conn.Close()
	r := bufio.NewReader(conn)
	fail := func(err error) {
		if err != nil {
			t.Errorf("fake server: %v", err)
		}
	}
	_, err := io.WriteString(conn, "RFB 003.00"+string(rune('0'+minor))+"\n")
	fail(err)
	ver := make([]byte, 12)
	_, err = io.ReadFull(r, ver)
	fail(err)
	if minor == 3 {
		fail(binary.Write(conn, binary.BigEndian, uint32(1)))
	} else {
		_, err = conn.Write([]byte{2, 2, 1})
		fail(err)
		if b, _ := r.ReadByte(); b != 1 {
			t.Errorf("client chose security type %d", b)
		}
		if minor == 8 {
			fail(binary.Write(conn, binary.BigEndian, uint32(0)))
		}
	}
	if b, _ := r.ReadByte(); b != 1 {
		t.Errorf("ClientInit shared = %d", b)
	}
	name := "test desktop"
	si := []byte{}
	si = binary.BigEndian.AppendUint16(si, uint16(w))
	si = binary.BigEndian.AppendUint16(si, uint16(h))
	si = append(si, make([]byte, 16)...)
	si = binary.BigEndian.AppendUint32(si, uint32(len(name)))
	_, err = conn.Write(append(si, name...))
	fail(err)
	msgs := make([]byte, 20+8+10)
	_, err = io.ReadFull(r, msgs)
	fail(err)
	if msgs[0] != 0 || msgs[4] != 32 || msgs[20] != 2 || msgs[28] != 3 || msgs[29] != 0 {
		t.Errorf("client messages: %v", msgs)
	}
	rect := func(y, rh int, bgrx [4]byte) []byte {
		b := []byte{}
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(y))
		b = binary.BigEndian.AppendUint16(b, uint16(w))
		b = binary.BigEndian.AppendUint16(b, uint16(rh))
		b = binary.BigEndian.AppendUint32(b, 0)
		for range w * rh {
			b = append(b, bgrx[:]...)
		}
		return b
	}
	out := []byte{2}                          // bell
	out = append(out, 3, 0, 0, 0, 0, 0, 0, 2) // cut text "hi"
	out = append(out, 'h', 'i')
	out = append(out, 0, 0, 0, 1)
	out = append(out, rect(0, h/2, [4]byte{0, 0, 255, 0})...)
	out = append(out, 0, 0, 0, 1)
	out = append(out, rect(h/2, h-h/2, [4]byte{255, 0, 0, 0})...)
	_, err = conn.Write(out)
	fail(err)
}

func TestCapture(t *testing.T) {
	for _, minor := range []int{3, 7, 8} {
		a, b := net.Pipe()
		go fakeServer(t, b, minor, 40, 30)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := Handshake(ctx, a)
		if err != nil {
			t.Fatalf("3.%d: %v", minor, err)
		}
		if c.Init.Width != 40 || c.Init.Height != 30 || c.Init.Name != "test desktop" {
			t.Errorf("3.%d: ServerInit %+v", minor, c.Init)
		}
		img, err := c.Frame(ctx)
		cancel()
		if err != nil {
			t.Fatalf("3.%d: %v", minor, err)
		}
		if got := img.RGBAAt(5, 5); got.R != 255 || got.B != 0 || got.A != 255 {
			t.Errorf("3.%d: top pixel %v, want red", minor, got)
		}
		if got := img.RGBAAt(39, 29); got.B != 255 || got.R != 0 {
			t.Errorf("3.%d: bottom pixel %v, want blue", minor, got)
		}
		a.Close()
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, server, want string
	}{
		{"not rfb", "HTTP/1.1 400 ", "not an RFB server"},
		{"no none", "RFB 003.008\n\x01\x02", "not None"},
		{"refused", "RFB 003.008\n\x00\x00\x00\x00\x04busy", "refused the connection: busy"},
	} {
		a, b := net.Pipe()
		go func() {
			_, _ = io.WriteString(b, tc.server[:12])
			_, _ = io.ReadFull(b, make([]byte, 12))
			_, _ = io.WriteString(b, tc.server[12:])
			time.Sleep(100 * time.Millisecond)
			b.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := Handshake(ctx, a)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		a.Close()
	}
}

// TestCancel: a server that never answers does not hold Capture past its context.
func TestCancel(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Capture(ctx, a); err == nil {
		t.Fatal("Capture of a silent server succeeded")
	}
}
