// Command relay benchmarks deskhub's display relay (internal/display) against Debian's websockify in
// the same run, both relaying a websocket on 127.0.0.1 to a synthetic RFB-ish server on a unix socket:
//
//   - throughput: after the client's RFB handshake the server streams -mb MiB; MB/s of server→client
//     bytes received by the websocket client (best of 3 runs);
//   - latency: 10-byte FramebufferUpdateRequests echoed by the server; p50/p99 of the round trip
//     (after 100 warm-up echoes).
//
// Each measurement is bounded by -timeout. Prints a Markdown table with the deskhub/websockify ratio.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/deskhub/deskhub/internal/display"
)

var handshake = []byte("RFB 003.008\n\x01\x01")

func main() {
	mb := flag.Int("mb", 512, "MiB streamed per throughput run")
	echoes := flag.Int("echoes", 5000, "round trips per latency run")
	timeout := flag.Duration("timeout", 10*time.Second, "bound of each run")
	wsfy := flag.String("websockify", "websockify", "websockify binary")
	flag.Parse()
	if err := run(*mb, *echoes, *timeout, *wsfy); err != nil {
		fmt.Fprintln(os.Stderr, "bench/relay:", err)
		os.Exit(1)
	}
}

type result struct {
	mbps     float64
	p50, p99 time.Duration
	n        int
}

func run(mb, echoes int, timeout time.Duration, wsfy string) error {
	dir, err := os.MkdirTemp("", "dhrelay")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	total := int64(mb) << 20
	streamSock, echoSock := filepath.Join(dir, "stream.sock"), filepath.Join(dir, "echo.sock")
	for sock, mode := range map[string]string{streamSock: "stream", echoSock: "echo"} {
		if err := serve(sock, mode, total); err != nil {
			return err
		}
	}

	// deskhub: the relay behind a plain HTTP server on loopback.
	relay := display.NewRelay(display.Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Dial: func(ctx context.Context, id string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(dir, id+".sock"))
		},
	})
	defer relay.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/")
		if id == "direct" {
			direct(w, r, total)
			return
		}
		relay.ServeWS(w, r, display.Grant{SessionID: id, ViewOnly: r.URL.Query().Has("view"), Label: "bench"})
	}))
	defer srv.Close()
	dh := "ws://" + strings.TrimPrefix(srv.URL, "http://")

	// websockify: one instance per target socket.
	wsStream, stop1, err := startWebsockify(wsfy, streamSock)
	if err != nil {
		return err
	}
	defer stop1()
	wsEcho, stop2, err := startWebsockify(wsfy, echoSock)
	if err != nil {
		return err
	}
	defer stop2()

	rows := []struct {
		name string
		a, b string // deskhub URL, websockify URL
		fn   func(string) (result, error)
	}{
		{"throughput", dh + "/stream", wsStream, func(u string) (result, error) { return bestOf(3, u, total, timeout) }},
		{"latency", dh + "/echo", wsEcho, func(u string) (result, error) { return latency(u, echoes, timeout) }},
		{"latency, view-only filter", dh + "/echo?view", "", func(u string) (result, error) { return latency(u, echoes, timeout) }},
	}
	fmt.Printf("Relay of a synthetic RFB server on a unix socket, websocket client on 127.0.0.1 (%d MiB stream, %d echoes of 10 B)\n\n", mb, echoes)
	fmt.Println("| measure | deskhub | websockify | deskhub / websockify |")
	fmt.Println("|---|---|---|---|")
	for _, row := range rows {
		var rd, rw result
		if rd, err = row.fn(row.a); err != nil {
			return fmt.Errorf("deskhub %s: %w", row.name, err)
		}
		if row.b != "" {
			if rw, err = row.fn(row.b); err != nil {
				return fmt.Errorf("websockify %s: %w", row.name, err)
			}
		}
		if row.name == "throughput" {
			fmt.Printf("| throughput server→client (MB/s) | %.0f | %.0f | %.2f× |\n", rd.mbps, rw.mbps, rd.mbps/rw.mbps)
			continue
		}
		us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3) }
		if row.b == "" {
			fmt.Printf("| %s p50 / p99 | %s / %s | — | — |\n", row.name, us(rd.p50), us(rd.p99))
			continue
		}
		fmt.Printf("| round trip p50 | %s | %s | %.2f× |\n", us(rd.p50), us(rw.p50), float64(rd.p50)/float64(rw.p50))
		fmt.Printf("| round trip p99 | %s | %s | %.2f× |\n", us(rd.p99), us(rw.p99), float64(rd.p99)/float64(rw.p99))
	}
	// The ceiling of any relay in this set-up: the same client reading from a websocket server that
	// writes the bytes from memory itself, with no RFB server and no relay hop at all.
	if rc, err := bestOf(3, dh+"/direct", total, timeout); err == nil {
		fmt.Printf("\nceiling, no relay at all (Go websocket server writing from memory to the same client): %.0f MB/s\n", rc.mbps)
	} else {
		return fmt.Errorf("ceiling: %w", err)
	}
	fmt.Println("\nthroughput: higher is better; latency: lower is better (ratio < 1 means deskhub is faster).")
	return nil
}

// serve runs a synthetic server: after the 14 handshake bytes, "stream" writes total bytes and
// closes; "echo" copies back everything it receives.
func serve(sock, mode string, total int64) error {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.ReadFull(c, make([]byte, len(handshake))); err != nil {
					return
				}
				if mode == "echo" {
					io.Copy(c, c)
					return
				}
				chunk := pattern()
				for left := total; left > 0; {
					n := min(int64(len(chunk)), left)
					if _, err := c.Write(chunk[:n]); err != nil {
						return
					}
					left -= n
				}
				// Let the client read everything before the close reaches it.
				c.(*net.UnixConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return nil
}

func startWebsockify(bin, sock string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, addr, "--unix-target="+sock)
	logf, _ := os.CreateTemp("", "websockify-*.log")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start websockify: %w", err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); logf.Close(); os.Remove(logf.Name()) }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "ws://" + addr + "/", stop, nil
		}
	}
	stop()
	return "", nil, errors.New("websockify did not start listening")
}

func dial(ctx context.Context, u string) (*websocket.Conn, error) {
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(-1)
	return ws, nil
}

func throughput(u string, total int64, timeout time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, err := dial(ctx, u)
	if err != nil {
		return result{}, err
	}
	defer ws.CloseNow()
	start := time.Now()
	if err := ws.Write(ctx, websocket.MessageBinary, handshake); err != nil {
		return result{}, err
	}
	buf := make([]byte, 256<<10)
	var got int64
	for got < total {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			return result{}, fmt.Errorf("after %d of %d bytes: %w", got, total, err)
		}
		for {
			n, err := r.Read(buf)
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				return result{}, err
			}
		}
	}
	el := time.Since(start)
	return result{mbps: float64(got) / el.Seconds() / 1e6, n: 1}, nil
}

// bestOf returns the best of n throughput runs (the first one warms caches and the scheduler up).
func bestOf(n int, u string, total int64, timeout time.Duration) (result, error) {
	var best result
	for range n {
		r, err := throughput(u, total, timeout)
		if err != nil {
			return best, err
		}
		if r.mbps > best.mbps {
			best = r
		}
	}
	return best, nil
}

func latency(u string, n int, timeout time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, err := dial(ctx, u)
	if err != nil {
		return result{}, err
	}
	c := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	defer c.Close()
	if _, err := c.Write(handshake); err != nil {
		return result{}, err
	}
	msg := []byte{3, 1, 0, 0, 0, 0, 2, 128, 1, 224} // FramebufferUpdateRequest 640x480
	back := make([]byte, len(msg))
	lat := make([]time.Duration, 0, n)
	for i := range n + 100 {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return result{}, err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return result{}, err
		}
		if i >= 100 { // warm-up
			lat = append(lat, time.Since(t0))
		}
	}
	slices.Sort(lat)
	return result{p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], n: len(lat)}, nil
}

// direct is the no-relay reference: after the client's handshake message it writes total bytes in
// 256 KiB binary messages straight from memory.
func direct(w http.ResponseWriter, r *http.Request, total int64) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"binary"}, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx := r.Context()
	if _, _, err := ws.Read(ctx); err != nil {
		return
	}
	chunk := pattern()
	for left := total; left > 0; {
		n := min(int64(len(chunk)), left)
		if err := ws.Write(ctx, websocket.MessageBinary, chunk[:n]); err != nil {
			return
		}
		left -= n
	}
	ws.Close(websocket.StatusNormalClosure, "")
}

// pattern is the 256 KiB block the synthetic servers send over and over.
func pattern() []byte {
	chunk := make([]byte, 256<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	return chunk
}
