package local

import (
	"github.com/deskhub/deskhub/internal/xauth"

	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestConvertZPixmap(t *testing.T) {
	// 2x1, 32 bpp BGRX.
	img, err := convertZPixmap([]byte{1, 2, 3, 0, 0xff, 0, 0, 0}, 2, 1, 32, 32, false, 0xff0000, 0xff00, 0xff)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Pix[:8]; got[0] != 3 || got[1] != 2 || got[2] != 1 || got[4] != 0 || got[6] != 0xff {
		t.Errorf("bgrx: %v", got)
	}
	// 16 bpp RGB565, one row of 3 pixels padded to 8 bytes: red, green, blue.
	data := []byte{0x00, 0xf8, 0xe0, 0x07, 0x1f, 0x00, 0, 0}
	img, err = convertZPixmap(data, 3, 1, 16, 32, false, 0xf800, 0x07e0, 0x001f)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255}
	for i, v := range want {
		if img.Pix[i] != v {
			t.Fatalf("rgb565: %v, want %v", img.Pix[:12], want)
		}
	}
	// MSB first 32 bpp XRGB.
	img, _ = convertZPixmap([]byte{0, 10, 20, 30}, 1, 1, 32, 32, true, 0xff0000, 0xff00, 0xff)
	if img.Pix[0] != 10 || img.Pix[1] != 20 || img.Pix[2] != 30 {
		t.Errorf("msb: %v", img.Pix[:4])
	}
	if _, err := convertZPixmap([]byte{0}, 2, 2, 32, 32, false, 0xff0000, 0xff00, 0xff); err == nil {
		t.Error("short data accepted")
	}
}

func TestXauthRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "xa")
	cookie := []byte("0123456789abcdef")
	if err := os.WriteFile(p, xauth.Entry(cookie), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := xauth.ReadCookie(p)
	if err != nil || string(got) != string(cookie) {
		t.Fatalf("%q %v", got, err)
	}
	// A symlink is refused.
	l := filepath.Join(t.TempDir(), "link")
	os.Symlink(p, l)
	if _, err := xauth.ReadCookie(l); err == nil {
		t.Error("symlink followed")
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "3f2a-11", "x_y.z"} {
		if err := checkID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "../x", "a/b", ".hidden", "-x"} {
		if checkID(id) == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestCapLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "session.log")
	var b []byte
	for i := 0; len(b) < 3000; i++ {
		b = append(b, fmt.Sprintf("line %d\n", i)...)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if capLog(p, 5000, 100) {
		t.Fatal("cut a log under its limit")
	}
	if !capLog(p, 1000, 100) {
		t.Fatal("did not cut a log over its limit")
	}
	got, _ := os.ReadFile(p)
	if !bytes.HasPrefix(got, []byte("deskhub: session log cut")) || !bytes.HasSuffix(got, b[len(b)-100:]) || len(got) > 200 {
		t.Fatalf("after the cut: %q", got)
	}
}
