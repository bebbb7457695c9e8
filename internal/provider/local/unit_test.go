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

func TestRotateLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "session.log")
	line := func(i int) string { return fmt.Sprintf("line %d\n", i) }
	var all []byte
	write := func(from, to int) []byte {
		var b []byte
		for i := from; i < to; i++ {
			b = append(b, line(i)...)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		return b
	}
	first := write(0, 300)
	if rotateLog(p, 1<<20, 2) {
		t.Fatal("rotated a log under its limit")
	}
	if !rotateLog(p, 1000, 2) {
		t.Fatal("did not rotate a log over its limit")
	}
	if got, _ := os.ReadFile(p + ".1"); !bytes.Equal(got, first) {
		t.Fatalf("session.log.1 holds %d bytes, want the %d of the log", len(got), len(first))
	}
	if got, _ := os.ReadFile(p); !bytes.HasPrefix(got, []byte("deskhub: session log rotated")) || len(got) > 100 {
		t.Fatalf("after the rotation: %q", got)
	}
	// The tail spans the rotation.
	tail, err := logTail(p, 200)
	if err != nil || !bytes.HasSuffix(tail, []byte("deskhub: session log rotated: the earlier lines are in session.log.1\n")) ||
		!bytes.Contains(tail, []byte(line(299))) || len(tail) != 200 {
		t.Fatalf("tail across the rotation: %q %v", tail, err)
	}
	second := write(300, 600)
	if !rotateLog(p, 1000, 2) {
		t.Fatal("second rotation")
	}
	third := write(600, 900)
	if !rotateLog(p, 1000, 2) {
		t.Fatal("third rotation")
	}
	if got, _ := os.ReadFile(p + ".2"); !bytes.HasSuffix(got, second) {
		t.Errorf("session.log.2 does not hold the second part")
	}
	if got, _ := os.ReadFile(p + ".1"); !bytes.HasSuffix(got, third) {
		t.Errorf("session.log.1 does not hold the third part")
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third old file is kept: %v", err)
	}
	// A link planted as session.log.1 is replaced, not followed.
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(p + ".1")
	if err := os.Symlink(victim, p+".1"); err != nil {
		t.Fatal(err)
	}
	write(900, 1200)
	rotateLog(p, 1000, 2)
	if got, _ := os.ReadFile(victim); string(got) != "keep" {
		t.Errorf("the rotation wrote through a link: %q", got)
	}
}
