package display

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Synthetic RFB-ish servers on a unix socket: after the client's 14 handshake bytes (version,
// security None, shared flag) "stream" sends endless data and "echo" returns what it receives.
func syntheticServer(b *testing.B, mode string) string {
	f := newFakeRFB(b)
	go func() {
		for c := range f.conns {
			go func() {
				defer c.Close()
				if _, err := io.ReadFull(c, make([]byte, 14)); err != nil {
					return
				}
				switch mode {
				case "stream":
					chunk := make([]byte, 256<<10)
					for i := range chunk {
						chunk[i] = byte(i * 7)
					}
					go io.Copy(io.Discard, c)
					for {
						if _, err := c.Write(chunk); err != nil {
							return
						}
					}
				case "echo":
					io.Copy(c, c)
				}
			}()
		}
	}()
	return f.path
}

// BenchmarkRelayThroughput measures server→browser bytes through the relay (SetBytes: 64 KiB/op).
func BenchmarkRelayThroughput(b *testing.B) {
	h := newHarness(b, oneSock(syntheticServer(b, "stream")), nil)
	ws := h.dial(Grant{SessionID: "bench"}, nil)
	ctx := context.Background()
	if err := ws.Write(ctx, websocket.MessageBinary, handshake38); err != nil {
		b.Fatal(err)
	}
	const per = 64 << 10
	b.SetBytes(per)
	buf := make([]byte, 256<<10)
	want := int64(b.N) * per
	b.ResetTimer()
	for got := int64(0); got < want; {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for {
			n, err := r.Read(buf)
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	ws.CloseNow()
}

// BenchmarkRelayLatency measures a 10-byte FramebufferUpdateRequest browser→server→browser round trip
// through the relay (and its filter); reports p50/p99 in µs.
func BenchmarkRelayLatency(b *testing.B) {
	for _, viewOnly := range []bool{false, true} {
		name := "full"
		if viewOnly {
			name = "viewonly"
		}
		b.Run(name, func(b *testing.B) {
			h := newHarness(b, oneSock(syntheticServer(b, "echo")), nil)
			ws := h.dial(Grant{SessionID: "bench", ViewOnly: viewOnly}, nil)
			c := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
			defer c.Close()
			if _, err := c.Write(handshake38); err != nil {
				b.Fatal(err)
			}
			msg, back := mFBUR(1, 0, 0, 640, 480), make([]byte, 10)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, back); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
