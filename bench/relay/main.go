// Command relay benchmarks deskhub's display relay (internal/display) against Debian's websockify in
// the same run, both relaying a websocket on 127.0.0.1 to a synthetic RFB-ish server on a unix socket:
//
//   - throughput: after the client's RFB handshake the server streams -mb MiB; MB/s of server→client
//     bytes received by the websocket client (best of 3 runs), and the CPU time (user, system) the
//     relay process spent per GB, read from /proc;
//   - latency: 10-byte FramebufferUpdateRequests echoed by the server; p50/p99 of the round trip
//     (after 100 warm-up echoes).
//
// deskhub's relay runs in its own process (this program re-run as a child), as websockify does and
// as deskhub is deployed; the figure with the relay inside the load generator's process and a
// no-relay ceiling are printed too. Each measurement is bounded by -timeout. Prints a Markdown
// table with the deskhub/websockify ratio.
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
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/deskhub/deskhub/internal/display"
)

var handshake = []byte("RFB 003.008\n\x01\x01")

// childEnv, when set to the directory of the synthetic servers' sockets, makes this program the
// out-of-process deskhub relay: it prints its loopback address and serves until killed.
const childEnv = "DESKHUB_RELAYBENCH_SOCKDIR"

func main() {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := serveRelayProcess(dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench/relay child:", err)
			os.Exit(1)
		}
		return
	}
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
	mbps      float64
	p50, p99  time.Duration
	n         int
	bytes     int64
	user, sys time.Duration // CPU of the relay process over the runs, when measured
}

// relayHandler is deskhub's display relay to the synthetic servers in dir (the URL path names the
// socket, ?view makes the client view-only); /direct is the no-relay reference.
func relayHandler(dir string, total int64) (http.Handler, func()) {
	relay := display.NewRelay(display.Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Dial: func(ctx context.Context, id string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(dir, id+".sock"))
		},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/")
		if id == "direct" {
			direct(w, r, total)
			return
		}
		relay.ServeWS(w, r, display.Grant{SessionID: id, ViewOnly: r.URL.Query().Has("view"), Label: "bench"})
	}), relay.Close
}

func serveRelayProcess(dir string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h, _ := relayHandler(dir, 0)
	fmt.Println(ln.Addr())
	return http.Serve(ln, h)
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

	// deskhub as deployed: the relay in its own process (this program re-run as the child), so
	// that, like websockify, it pays for the wake-ups between processes and its CPU can be read.
	dh, dhPid, stop0, err := startRelayProcess(dir)
	if err != nil {
		return err
	}
	defer stop0()
	// deskhub in the load generator's process, as the earlier figures were taken.
	h, closeRelay := relayHandler(dir, total)
	defer closeRelay()
	srv := httptest.NewServer(h)
	defer srv.Close()
	inproc := "ws://" + strings.TrimPrefix(srv.URL, "http://")

	// websockify: one instance per target socket.
	wsStream, wsPid, stop1, err := startWebsockify(wsfy, streamSock)
	if err != nil {
		return err
	}
	defer stop1()
	wsEcho, _, stop2, err := startWebsockify(wsfy, echoSock)
	if err != nil {
		return err
	}
	defer stop2()

	rd, err := bestOf(3, dh+"/stream", total, timeout, dhPid)
	if err != nil {
		return fmt.Errorf("deskhub throughput: %w", err)
	}
	rw, err := bestOf(3, wsStream, total, timeout, wsPid)
	if err != nil {
		return fmt.Errorf("websockify throughput: %w", err)
	}
	ri, err := bestOf(3, inproc+"/stream", total, timeout, 0)
	if err != nil {
		return fmt.Errorf("deskhub in-process throughput: %w", err)
	}
	rc, err := bestOf(3, inproc+"/direct", total, timeout, 0)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	ld, err := latency(dh+"/echo", echoes, timeout)
	if err != nil {
		return fmt.Errorf("deskhub latency: %w", err)
	}
	lw, err := latency(wsEcho, echoes, timeout)
	if err != nil {
		return fmt.Errorf("websockify latency: %w", err)
	}
	lv, err := latency(dh+"/echo?view", echoes, timeout)
	if err != nil {
		return fmt.Errorf("deskhub view-only latency: %w", err)
	}

	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3) }
	perGB := func(r result) (u, s float64) {
		gb := float64(r.bytes) / 1e9
		return r.user.Seconds() / gb, r.sys.Seconds() / gb
	}
	du, ds := perGB(rd)
	wu, ws := perGB(rw)
	fmt.Printf("Relay of a synthetic RFB server on a unix socket, websocket client on 127.0.0.1 (%d MiB stream, %d echoes of 10 B)\n\n", mb, echoes)
	fmt.Println("| measure | deskhub | websockify | deskhub / websockify |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| throughput server→client (MB/s, best of 3) | %.0f | %.0f | %.2f× |\n", rd.mbps, rw.mbps, rd.mbps/rw.mbps)
	fmt.Printf("| relay CPU per GB relayed: user + system (s) | %.2f + %.2f | %.2f + %.2f | %.2f× |\n", du, ds, wu, ws, (du+ds)/(wu+ws))
	fmt.Printf("| round trip p50 | %s | %s | %.2f× |\n", us(ld.p50), us(lw.p50), float64(ld.p50)/float64(lw.p50))
	fmt.Printf("| round trip p99 | %s | %s | %.2f× |\n", us(ld.p99), us(lw.p99), float64(ld.p99)/float64(lw.p99))
	fmt.Printf("| round trip with the view-only filter p50 / p99 | %s / %s | — | — |\n", us(lv.p50), us(lv.p99))
	fmt.Println()
	fmt.Printf("- deskhub's relay in the load generator's own process: %.0f MB/s (%.2f× websockify)\n", ri.mbps, ri.mbps/rw.mbps)
	fmt.Printf("- ceiling, no relay at all (Go websocket server writing from memory to the same client): %.0f MB/s (%.2f× websockify)\n", rc.mbps, rc.mbps/rw.mbps)
	if wu+ws > 0 {
		fmt.Printf("- websockify spends %.0f%% of its CPU in the kernel (socket copies, loopback TCP); a relay with no user-space cost at all would still need that, so where relay CPU is the limit no relay exceeds %.2f× websockify\n",
			100*ws/(wu+ws), (wu+ws)/ws)
	}
	fmt.Println("\nthroughput: higher is better; CPU and latency: lower is better (ratio < 1 means deskhub is cheaper or faster).")
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

// startRelayProcess runs this program again as the out-of-process deskhub relay.
func startRelayProcess(dir string) (string, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start relay process: %w", err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	var addr string
	if _, err := fmt.Fscan(out, &addr); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("relay process: no address: %w", err)
	}
	return "ws://" + addr, cmd.Process.Pid, stop, nil
}

func startWebsockify(bin, sock string) (string, int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, addr, "--unix-target="+sock)
	logf, _ := os.CreateTemp("", "websockify-*.log")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start websockify: %w", err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); logf.Close(); os.Remove(logf.Name()) }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "ws://" + addr + "/", cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, errors.New("websockify did not start listening")
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
	return result{mbps: float64(got) / el.Seconds() / 1e6, n: 1, bytes: got}, nil
}

// bestOf returns the best of n throughput runs (the first one warms caches and the scheduler up).
// With pid > 0 it also adds up the CPU time of that relay process (and of the children it forks
// per connection, as websockify does) over all n runs, and the bytes they carried.
func bestOf(n int, u string, total int64, timeout time.Duration, pid int) (result, error) {
	var best result
	var bytes int64
	var user, sys time.Duration
	for range n {
		var u0, s0 time.Duration
		if pid > 0 {
			u0, s0 = cpuTime(pid)
		}
		r, err := throughput(u, total, timeout)
		if err != nil {
			return best, err
		}
		if pid > 0 {
			waitChildren(pid, 5*time.Second)
			u1, s1 := cpuTime(pid)
			user, sys = user+u1-u0, sys+s1-s0
		}
		bytes += r.bytes
		if r.mbps > best.mbps {
			best = r
		}
	}
	best.bytes, best.user, best.sys = bytes, user, sys
	return best, nil
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on Linux).
var clockTick = 10 * time.Millisecond

// cpuTime reads the user and system CPU time of pid plus that of its waited-for children.
func cpuTime(pid int) (user, sys time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after "(comm) ": state is index 0, utime 11, stime 12, cutime 13, cstime 14.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 15 {
		return 0, 0
	}
	tick := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * clockTick
	}
	return tick(11) + tick(13), tick(12) + tick(14)
}

// waitChildren waits (bounded) until pid has no child processes left, so that the CPU time of a
// per-connection child has been added to pid's own counters.
func waitChildren(pid int, bound time.Duration) {
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			return
		}
	}
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
