package display

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// Builders of RFB client→server messages.

func be16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func be32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var handshake38 = []byte("RFB 003.008\n\x01\x01") // version, security None, shared

func mSetPixelFormat() []byte {
	return cat([]byte{0, 0, 0, 0}, []byte{32, 24, 0, 1}, be16(255), be16(255), be16(255), []byte{16, 8, 0, 0, 0, 0})
}
func mSetEncodings(encs ...int32) []byte {
	b := cat([]byte{2, 0}, be16(len(encs)))
	for _, e := range encs {
		b = binary.BigEndian.AppendUint32(b, uint32(e))
	}
	return b
}
func mFBUR(incr byte, x, y, w, h int) []byte {
	return cat([]byte{3, incr}, be16(x), be16(y), be16(w), be16(h))
}
func mKey(down byte, sym int) []byte      { return cat([]byte{4, down, 0, 0}, be32(sym)) }
func mPointer(mask byte, x, y int) []byte { return cat([]byte{5, mask}, be16(x), be16(y)) }
func mCut(text string) []byte             { return cat([]byte{6, 0, 0, 0}, be32(len(text)), []byte(text)) }
func mCutExtended(payload []byte) []byte {
	return cat([]byte{6, 0, 0, 0}, be32(-len(payload)), payload)
}
func mContinuous(on byte) []byte { return cat([]byte{150, on}, be16(0), be16(0), be16(640), be16(480)) }
func mFence(flags int, payload []byte) []byte {
	return cat([]byte{248, 0, 0, 0}, be32(flags), []byte{byte(len(payload))}, payload)
}
func mXvp(code byte) []byte { return []byte{250, 0, 1, code} }
func mSetDesktopSize(screens int) []byte {
	b := cat([]byte{251, 0}, be16(800), be16(600), []byte{byte(screens), 0})
	for i := range screens {
		b = append(b, cat(be32(i), be16(0), be16(0), be16(800), be16(600), be32(0))...)
	}
	return b
}
func mQEMUKey(down int, sym, code int) []byte {
	return cat([]byte{255, 0}, be16(down), be32(sym), be32(code))
}
func mQEMUAudio(op int) []byte {
	b := cat([]byte{255, 1}, be16(op))
	if op == 2 {
		b = append(b, cat([]byte{3, 2}, be32(44100))...)
	}
	return b
}

type tmsg struct {
	name    string
	b       []byte
	control bool // dropped for view-only clients
}

func allMessages() []tmsg {
	return []tmsg{
		{"SetPixelFormat", mSetPixelFormat(), false},
		{"SetEncodings", mSetEncodings(7, 16, 0, -223, -258, -308, -309, -312, -313, -1063131698), false},
		{"FramebufferUpdateRequest", mFBUR(0, 0, 0, 640, 480), false},
		{"KeyEvent", mKey(1, 0x61), true},
		{"PointerEvent", mPointer(1, 100, 200), true},
		{"ClientCutText", mCut("secret clipboard \x04\x05 text"), true},
		{"ClientCutText/extended", mCutExtended([]byte{0, 0, 0, 1, 9, 9, 9}), true},
		{"ClientCutText/empty", mCut(""), true},
		{"EnableContinuousUpdates", mContinuous(1), false},
		{"Fence", mFence(0x80000003, []byte("abc")), false},
		{"Fence/empty", mFence(0, nil), false},
		{"xvp", mXvp(4), true},
		{"SetDesktopSize", mSetDesktopSize(2), true},
		{"SetDesktopSize/0", mSetDesktopSize(0), true},
		{"QEMU key", mQEMUKey(1, 0x61, 30), true},
		{"QEMU audio enable", mQEMUAudio(0), false},
		{"QEMU audio format", mQEMUAudio(2), false},
		{"SetEncodings/empty", mSetEncodings(), false},
		{"FramebufferUpdateRequest/incr", mFBUR(1, 0, 0, 640, 480), false},
	}
}

// run feeds in to a new filter in the chunks given by cuts (ascending offsets).
func run(t testing.TB, viewOnly bool, in []byte, cuts ...int) ([]byte, error, *ClientFilter) {
	t.Helper()
	f := NewClientFilter(viewOnly, 4096)
	var out []byte
	var err error
	prev := 0
	for _, c := range append(cuts, len(in)) {
		if out, err = f.Filter(out, in[prev:c]); err != nil {
			return out, err, f
		}
		prev = c
	}
	return out, nil, f
}

func everySplit(t *testing.T, viewOnly bool, in, want []byte) {
	t.Helper()
	for i := 0; i <= len(in); i++ {
		out, err, _ := run(t, viewOnly, in, i)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("split at %d: err %v, output differs:\n got %x\nwant %x", i, err, out, want)
		}
	}
	cuts := make([]int, 0, len(in))
	for i := 1; i < len(in); i++ {
		cuts = append(cuts, i)
	}
	if out, err, _ := run(t, viewOnly, in, cuts...); err != nil || !bytes.Equal(out, want) {
		t.Fatalf("byte by byte: err %v, output differs", err)
	}
}

func TestFilterFullControlPassesEverythingUnchanged(t *testing.T) {
	in := append([]byte(nil), handshake38...)
	for _, m := range allMessages() {
		in = append(in, m.b...)
	}
	everySplit(t, false, in, in)
	_, _, f := run(t, false, in)
	if f.Dropped() != 0 || f.Passed() != len(allMessages()) || f.Opaque() {
		t.Fatalf("passed %d dropped %d opaque %v", f.Passed(), f.Dropped(), f.Opaque())
	}
}

func TestFilterViewOnlyDropsExactlyControl(t *testing.T) {
	in := append([]byte(nil), handshake38...)
	want := append([]byte(nil), handshake38...)
	controls := 0
	for _, m := range allMessages() {
		in = append(in, m.b...)
		if m.control {
			controls++
		} else {
			want = append(want, m.b...)
		}
	}
	everySplit(t, true, in, want)
	_, _, f := run(t, true, in)
	if f.Dropped() != controls || f.Passed() != len(allMessages())-controls {
		t.Fatalf("passed %d dropped %d, want dropped %d", f.Passed(), f.Dropped(), controls)
	}
	// Each message alone, too.
	for _, m := range allMessages() {
		out, err, _ := run(t, true, cat(handshake38, m.b))
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if got := len(out) > len(handshake38); got == m.control {
			t.Errorf("%s: forwarded=%v, control=%v", m.name, got, m.control)
		}
	}
}

func TestFilterSharedFlag(t *testing.T) {
	exclusive := []byte("RFB 003.008\n\x01\x00")
	if out, _, _ := run(t, true, exclusive); out[len(out)-1] != 1 {
		t.Errorf("view-only: shared flag %d, want forced to 1", out[len(out)-1])
	}
	if out, _, _ := run(t, false, exclusive); out[len(out)-1] != 0 {
		t.Errorf("full control: shared flag changed to %d", out[len(out)-1])
	}
}

func TestFilterVncAuthAndVersion37(t *testing.T) {
	resp := []byte{4, 5, 6, 255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} // looks like messages; is not
	in := cat([]byte("RFB 003.007\n\x02"), resp, []byte{0}, mPointer(0, 1, 1), mFBUR(1, 0, 0, 1, 1))
	want := cat([]byte("RFB 003.007\n\x02"), resp, []byte{1}, mFBUR(1, 0, 0, 1, 1))
	everySplit(t, true, in, want)
	everySplit(t, false, in, in)
}

func TestFilterErrors(t *testing.T) {
	cases := []struct {
		name     string
		viewOnly bool
		in       []byte
	}{
		{"unknown type", false, cat(handshake38, mFBUR(0, 0, 0, 1, 1), []byte{7, 0, 0, 0})},
		{"unknown type/view", true, cat(handshake38, []byte{1})},
		{"unknown QEMU subtype", false, cat(handshake38, []byte{255, 9, 0, 0})},
		{"unknown QEMU audio op", true, cat(handshake38, []byte{255, 1, 0, 7})},
		{"cut text too long", false, cat(handshake38, []byte{6, 0, 0, 0}, be32(4097))},
		{"extended cut text too long", true, cat(handshake38, []byte{6, 0, 0, 0}, be32(-5000))},
		{"cut text MinInt32", true, cat(handshake38, []byte{6, 0, 0, 0, 0x80, 0, 0, 0})},
		{"fence too long", false, cat(handshake38, []byte{248, 0, 0, 0, 0, 0, 0, 0, 65})},
		{"version 3.3 view-only", true, []byte("RFB 003.003\n\x01")},
		{"garbage version view-only", true, []byte("GET / HTTP/1.1\r\n")},
		{"VeNCrypt view-only", true, []byte("RFB 003.008\n\x13\x00\x02")},
		{"invalid security 0 view-only", true, []byte("RFB 003.008\n\x00")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err, f := run(t, c.viewOnly, c.in)
			if err == nil {
				t.Fatalf("no error; output %x", out)
			}
			if !c.viewOnly && !bytes.HasPrefix(c.in, out) {
				t.Fatalf("full-control output is not a prefix of the input")
			}
			if _, err2 := f.Filter(nil, []byte{3}); err2 != err {
				t.Fatalf("after an error: %v, want the same error", err2)
			}
			if !strings.HasPrefix(err.Error(), "rfb: ") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestFilterFullControlOpaque(t *testing.T) {
	for name, in := range map[string][]byte{
		"3.3":                   []byte("RFB 003.003\nanything \x07 at all"),
		"VeNCrypt":              []byte("RFB 003.008\n\x13\x00\x02 TLS bytes \x07\xff"),
		"ExtendedMouseButtons":  cat(handshake38, mSetEncodings(0, -316), mPointer(0x80, 1, 2), []byte{0x7f}, []byte{7, 7}),
		"3.889 (Apple) version": []byte("RFB 003.889\n\x1e..."),
	} {
		out, err, f := run(t, false, in)
		if err != nil || !bytes.Equal(out, in) || !f.Opaque() {
			t.Errorf("%s: err %v opaque %v equal %v", name, err, f.Opaque(), bytes.Equal(out, in))
		}
	}
}

func TestFilterViewOnlyStripsExtendedMouseButtons(t *testing.T) {
	in := cat(handshake38, mSetEncodings(0, -316, 7, -316), mPointer(0x80, 1, 2), mFBUR(0, 0, 0, 1, 1))
	want := cat(handshake38, mSetEncodings(0, 7), mFBUR(0, 0, 0, 1, 1))
	everySplit(t, true, in, want)
}

// FuzzClientFilter: never panics; chunking never changes the result; a full-control filter forwards
// its input unchanged (all but an incomplete last message; a prefix on error); a view-only filter forwards whole, non-control
// messages taken in order from its input, and its output passes through a view-only filter unchanged.
func FuzzClientFilter(f *testing.F) {
	for _, m := range allMessages() {
		f.Add(m.b, uint8(2), uint16(1))
		f.Add(m.b, uint8(3), uint16(7))
	}
	all := []byte{}
	for _, m := range allMessages() {
		all = append(all, m.b...)
	}
	f.Add(all, uint8(3), uint16(3))
	f.Add(cat(handshake38, all), uint8(1), uint16(5))
	f.Add([]byte("RFB 003.008\n\x02AAAAAAAAAAAAAAAA\x00\x05\x00\x00\x01\x00\x01"), uint8(1), uint16(2))
	f.Add(mSetEncodings(0, -316, 3), uint8(3), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, seed uint16) {
		viewOnly := mode&1 == 1
		in := data
		if mode&2 != 0 {
			in = cat(handshake38, data)
		}
		whole, errWhole, fw := run(t, viewOnly, in)
		var passed [][]byte
		fc := NewClientFilter(viewOnly, 4096)
		fc.onMsg = func(m []byte) { passed = append(passed, m) }
		var chunked []byte
		var errChunked error
		s := uint32(seed) | 1
		for p := in; len(p) > 0 && errChunked == nil; {
			s ^= s << 13
			s ^= s >> 17
			s ^= s << 5
			n := min(int(s%19)+1, len(p))
			chunked, errChunked = fc.Filter(chunked, p[:n])
			p = p[n:]
		}
		if (errWhole == nil) != (errChunked == nil) || !bytes.Equal(whole, chunked) {
			t.Fatalf("chunking changed the result: %v/%v\n%x\n%x", errWhole, errChunked, whole, chunked)
		}
		if !viewOnly {
			// Accepted: everything forwarded but the incomplete message still being assembled.
			if !bytes.HasPrefix(in, whole) || (errWhole == nil && len(whole)+len(fw.buf) != len(in)) {
				t.Fatalf("full control changed the stream (err %v)", errWhole)
			}
			return
		}
		if fw.Opaque() {
			t.Fatal("view-only filter went opaque")
		}
		// Output = handshake fields + the passed messages, whole and in order.
		body := cat(passed...)
		if !bytes.HasSuffix(whole, body) || len(whole)-len(body) > 30 {
			t.Fatalf("output is not handshake + passed messages")
		}
		at := 0
		for _, m := range passed {
			if isControl(m) {
				t.Fatalf("control message forwarded: %x", m)
			}
			if m[0] == msgSetEncodings {
				if bytes.Contains(m, be32(encExtendedMouseButtons)) && len(m)%4 == 0 {
					for i := 4; i < len(m); i += 4 {
						if int32(binary.BigEndian.Uint32(m[i:])) == encExtendedMouseButtons {
							t.Fatal("ExtendedMouseButtons forwarded")
						}
					}
				}
				continue // may have been rewritten
			}
			i := bytes.Index(in[at:], m)
			if i < 0 {
				t.Fatalf("forwarded message %x is not in the input (in order)", m)
			}
			at += i + len(m)
		}
		again, err, f2 := run(t, true, whole)
		if err != nil || !bytes.Equal(again, whole) || f2.Dropped() != 0 {
			t.Fatalf("view-only output is not stable under the filter: %v", err)
		}
		if len(f2.buf) != 0 || f2.skip != 0 || f2.stream != 0 {
			t.Fatalf("view-only output ends inside a message")
		}
	})
}
