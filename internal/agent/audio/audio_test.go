package audio

// These tests run a real PulseAudio daemon. Setup (TestMain):
//   - pactl/pulseaudio/paplay/parec come from Debian's pulseaudio + pulseaudio-utils, and
//     module-rtp-send (PulseAudio 16 uses a GStreamer backend) needs GStreamer's rtp plugin from
//     gstreamer1.0-plugins-good; missing ones are installed with apt-get (as root), and the
//     run fails loudly if that is impossible. DESKHUB_SKIP_AUDIO=1 skips the daemon tests.
//   - The daemon is started by EnsureDaemon itself, as whoever runs the tests (root in CI):
//     pulseaudio only warns "not intended to be run as root" when --system is not given and
//     runs fine with -n (no default.pa), --use-pid-file=no and explicit modules, provided HOME
//     and XDG_RUNTIME_DIR point at a throwaway directory (its cookie, GStreamer registry cache
//     and socket go there). The daemon runs in its own process group and is stopped by Close.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	shared    *Pulse // a Pulse with a daemon started in TestMain
	skipAudio string // non-empty: why daemon tests skip
	setupErr  error
	tmpRoot   string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getenv("DESKHUB_SKIP_AUDIO") == "1" {
		skipAudio = "DESKHUB_SKIP_AUDIO=1"
		return m.Run()
	}
	if err := ensureTools(); err != nil {
		fmt.Fprintf(os.Stderr, "audio tests: PulseAudio tools unavailable and could not be installed: %v\n"+
			"(set DESKHUB_SKIP_AUDIO=1 to skip these tests)\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "deskhub-audio-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmpRoot = dir
	defer os.RemoveAll(dir)
	home := filepath.Join(dir, "home")
	run := filepath.Join(dir, "run")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	shared = &Pulse{
		Env: []string{
			"HOME=" + home,
			"XDG_RUNTIME_DIR=" + run,
			// Nothing listens here yet: EnsureDaemon must start a daemon on this very socket.
			"PULSE_SERVER=unix:" + filepath.Join(run, "pulse", "native"),
		},
		Timeout: 10 * time.Second,
	}
	defer shared.Close()
	return m.Run()
}

// ensureTools installs what the tests need if it is missing.
func ensureTools() error {
	need := false
	for _, t := range []string{"pactl", "pulseaudio", "paplay", "parec"} {
		if _, err := exec.LookPath(t); err != nil {
			need = true
		}
	}
	if gst, _ := filepath.Glob("/usr/lib/*/gstreamer-1.0/libgstrtp.so"); len(gst) == 0 {
		need = true
	}
	if !need {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"update", "-qq"},
		{"install", "-y", "-qq", "--no-install-recommends", "pulseaudio", "pulseaudio-utils", "gstreamer1.0-plugins-good"},
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, t := range []string{"pactl", "pulseaudio", "paplay", "parec"} {
		if _, err := exec.LookPath(t); err != nil {
			return err
		}
	}
	return nil
}

var daemonOnce sync.Once

// daemon returns the shared Pulse with its daemon up (started once, by EnsureDaemon).
func daemon(t *testing.T) *Pulse {
	t.Helper()
	if skipAudio != "" {
		t.Skip(skipAudio)
	}
	daemonOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		setupErr = shared.EnsureDaemon(ctx, filepath.Join(tmpRoot, "run"))
	})
	if setupErr != nil {
		t.Fatalf("EnsureDaemon: %v", setupErr)
	}
	return shared
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestEnsureDaemon(t *testing.T) {
	if skipAudio != "" {
		t.Skip(skipAudio)
	}
	ctx := ctxT(t, 30*time.Second)
	if shared.DaemonPID() == 0 && shared.Available(ctx) {
		t.Fatal("Available before any daemon was started")
	}
	p := daemon(t)
	if !p.Available(ctx) {
		t.Fatalf("not Available after EnsureDaemon; log:\n%s", p.DaemonLog())
	}
	pid := p.DaemonPID()
	if pid == 0 {
		t.Fatal("EnsureDaemon started no daemon")
	}
	if pgid, err := syscallGetpgid(pid); err != nil || pgid != pid {
		t.Errorf("daemon pgid = %d, %v; want its own group %d", pgid, err, pid)
	}
	if err := p.EnsureDaemon(ctx, filepath.Join(tmpRoot, "run")); err != nil {
		t.Fatal(err)
	}
	if got := p.DaemonPID(); got != pid {
		t.Errorf("second EnsureDaemon started another daemon: pid %d, was %d", got, pid)
	}
	want := "PULSE_SERVER=unix:" + filepath.Join(tmpRoot, "run", "pulse", "native")
	if p.getenv("PULSE_SERVER") != strings.TrimPrefix(want, "PULSE_SERVER=") {
		t.Errorf("PULSE_SERVER = %q, want %q", p.getenv("PULSE_SERVER"), want)
	}
}

func TestNotAvailable(t *testing.T) {
	if skipAudio != "" {
		t.Skip(skipAudio)
	}
	dir := t.TempDir()
	p := &Pulse{Env: []string{"HOME=" + dir, "XDG_RUNTIME_DIR=" + dir, "PULSE_SERVER=unix:" + filepath.Join(dir, "nothing")}, Timeout: 5 * time.Second}
	ctx := ctxT(t, 10*time.Second)
	if p.Available(ctx) {
		t.Fatal("Available with no server")
	}
	if _, err := p.Sinks(ctx); err == nil {
		t.Fatal("Sinks with no server: no error")
	}
}

func TestSinksAndDefault(t *testing.T) {
	p := daemon(t)
	ctx := ctxT(t, 30*time.Second)
	sinks, err := p.Sinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(sinks, SinkName) {
		t.Fatalf("Sinks = %v, want %q in it", sinks, SinkName)
	}
	if err := p.SetDefaultSink(ctx, SinkName); err != nil {
		t.Fatal(err)
	}
	got, err := p.DefaultSink(ctx)
	if err != nil || got != SinkName {
		t.Fatalf("DefaultSink = %q, %v; want %q", got, err, SinkName)
	}

	err = p.SetDefaultSink(ctx, "no_such_sink")
	var us *UnknownSinkError
	if !errors.As(err, &us) {
		t.Fatalf("SetDefaultSink(unknown) = %v, want *UnknownSinkError", err)
	}
	if us.Sink != "no_such_sink" || !contains(us.Sinks, SinkName) ||
		!strings.Contains(err.Error(), "no_such_sink") || !strings.Contains(err.Error(), SinkName) {
		t.Errorf("UnknownSinkError = %+v (%v)", us, err)
	}
	// An option-looking name is just an unknown sink, never a pactl flag.
	if err := p.SetDefaultSink(ctx, "--help"); !errors.As(err, &us) {
		t.Errorf("SetDefaultSink(--help) = %v", err)
	}
	if got, _ := p.DefaultSink(ctx); got != SinkName {
		t.Errorf("default sink changed to %q by a failed SetDefaultSink", got)
	}
}

// record captures the monitor of sink as s16le mono until stop is called, and returns the
// largest absolute sample seen.
func record(t *testing.T, p *Pulse, sink string) (stop func() int) {
	t.Helper()
	cmd := exec.Command("parec", "--device="+sink+".monitor", "--format=s16le", "--channels=1",
		"--rate=44100", "--latency-msec=20", "--raw")
	cmd.Env = p.env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := make(chan int, 1)
	go func() {
		data, _ := io.ReadAll(out)
		m := 0
		for i := 0; i+1 < len(data); i += 2 {
			v := int(int16(binary.LittleEndian.Uint16(data[i:])))
			if v < 0 {
				v = -v
			}
			m = max(m, v)
		}
		peak <- m
	}()
	var once sync.Once
	var result int
	stop = func() int {
		once.Do(func() {
			_ = cmd.Process.Kill()
			result = <-peak
			_ = cmd.Wait()
			t.Logf("parec: %d peak; stderr: %s", result, strings.TrimSpace(stderr.String()))
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestPlaySample(t *testing.T) {
	p := daemon(t)
	ctx := ctxT(t, 30*time.Second)
	if err := p.SetDefaultSink(ctx, SinkName); err != nil {
		t.Fatal(err)
	}
	stop := record(t, p, SinkName)
	time.Sleep(200 * time.Millisecond) // let parec connect
	start := time.Now()
	if err := p.PlaySample(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("PlaySample returned after %v, before the 0.5 s sample could have played", d)
	}
	time.Sleep(200 * time.Millisecond)
	if peak := stop(); peak < 1000 {
		t.Fatalf("monitor of %s saw peak %d; want the tone (~13000)", SinkName, peak)
	}
}

func TestPlaySampleToUnknownSink(t *testing.T) {
	p := daemon(t)
	var us *UnknownSinkError
	if err := p.PlaySampleTo(ctxT(t, 10*time.Second), "nope"); !errors.As(err, &us) {
		t.Fatalf("PlaySampleTo(nope) = %v", err)
	}
}

func TestSampleWAV(t *testing.T) {
	b := SampleWAV()
	if string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" || string(b[12:16]) != "fmt " || string(b[36:40]) != "data" {
		t.Fatalf("bad header % x", b[:44])
	}
	le16 := func(o int) int { return int(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int { return int(binary.LittleEndian.Uint32(b[o:])) }
	if le16(20) != 1 || le16(22) != 1 || le32(24) != 44100 || le16(34) != 16 || le32(28) != 88200 || le16(32) != 2 {
		t.Errorf("bad fmt chunk % x", b[12:36])
	}
	if n := le32(40); n != 44100 || len(b) != 44+n || le32(4) != 36+n {
		t.Errorf("data size %d, file %d", n, len(b))
	}
	// 440 Hz: count rising zero crossings over the 0.5 s: ~220.
	cross := 0
	prev := 0
	for i := 44; i+1 < len(b); i += 2 {
		v := int(int16(binary.LittleEndian.Uint16(b[i:])))
		if prev < 0 && v >= 0 {
			cross++
		}
		prev = v
	}
	if cross < 215 || cross > 225 {
		t.Errorf("%d rising zero crossings, want ~220", cross)
	}
}

func TestCheckRTPDestination(t *testing.T) {
	for _, ip := range []string{"example.com", "999.1.1.1", "", "localhost", "127.0.0.1:5004", "fe80::1%eth0", " 127.0.0.1", "1.2.3"} {
		var be *BadAddressError
		if _, err := CheckRTPDestination(ip, 5004); !errors.As(err, &be) || be.Field != "ip" {
			t.Errorf("CheckRTPDestination(%q) = %v, want ip BadAddressError", ip, err)
		}
	}
	for _, port := range []int{0, -1, 65536, 70000} {
		var be *BadAddressError
		if _, err := CheckRTPDestination("127.0.0.1", port); !errors.As(err, &be) || be.Field != "port" {
			t.Errorf("CheckRTPDestination(port %d) = %v, want port BadAddressError", port, err)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.1.2.3", "2001:db8::5"} {
		if _, err := CheckRTPDestination(ip, 5004); err != nil {
			t.Errorf("CheckRTPDestination(%q) = %v", ip, err)
		}
	}
}

func TestParsePort(t *testing.T) {
	for s, want := range map[string]int{"1": 1, "5004": 5004, "65535": 65535, "080": 80} {
		if got, err := ParsePort(s); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"0", "70000", "x", "", "65536", "-1", "+1", " 1", "1 ", "1e3", "0x10", "100000", "٣"} {
		var be *BadAddressError
		if _, err := ParsePort(s); !errors.As(err, &be) || be.Field != "port" {
			t.Errorf("ParsePort(%q) = %v, want port BadAddressError", s, err)
		}
	}
}

func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"0", "1", "5004", "65535", "65536", "70000", "x", "", "-1", "+1", "00001", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParsePort(s)
		if err != nil {
			var be *BadAddressError
			if !errors.As(err, &be) {
				t.Fatalf("ParsePort(%q) error %T", s, err)
			}
			if n != 0 {
				t.Fatalf("ParsePort(%q) = %d with error", s, n)
			}
			// Anything rejected must really be out of range or not plain digits.
			if v, aerr := strconv.Atoi(s); aerr == nil && v >= 1 && v <= 65535 && strings.Trim(s, "0123456789") == "" && len(s) <= 5 {
				t.Fatalf("ParsePort(%q) rejected a valid port", s)
			}
			return
		}
		if n < 1 || n > 65535 {
			t.Fatalf("ParsePort(%q) = %d out of range", s, n)
		}
		if strings.Trim(s, "0123456789") != "" {
			t.Fatalf("ParsePort(%q) accepted non-digits", s)
		}
		if v, aerr := strconv.Atoi(s); aerr != nil || v != n {
			t.Fatalf("ParsePort(%q) = %d, Atoi = %d, %v", s, n, v, aerr)
		}
	})
}

func countRTPModules(t *testing.T, p *Pulse) (send, sink int) {
	t.Helper()
	mods, err := p.Modules(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		switch {
		case m.Name == "module-rtp-send":
			send++
		case m.Name == "module-null-sink" && isRTPModule(m):
			sink++
		}
	}
	return send, sink
}

func TestConfigureRTP(t *testing.T) {
	p := daemon(t)
	ctx := ctxT(t, 30*time.Second)

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port

	msg, err := p.ConfigureRTP(ctx, "127.0.0.1", port)
	if err != nil {
		t.Fatalf("ConfigureRTP: %v\ndaemon log:\n%s", err, p.DaemonLog())
	}
	t.Log(msg)
	if !strings.Contains(msg, "#") || !strings.Contains(msg, strconv.Itoa(port)) {
		t.Errorf("message %q lacks module ids or port", msg)
	}
	t.Cleanup(func() { _ = p.UnloadRTP(context.Background()) })
	if send, sink := countRTPModules(t, p); send != 1 || sink != 1 {
		t.Fatalf("after ConfigureRTP: %d rtp-send, %d deskhub_rtp sinks; want 1, 1", send, sink)
	}

	// Read RTP packets while the sample plays into the rtp sink.
	type result struct{ packets, loud int }
	res := make(chan result, 1)
	go func() {
		var r result
		buf := make([]byte, 65536)
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) && r.loud < 5 {
			_ = conn.SetReadDeadline(deadline)
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if n < 12 || buf[0]>>6 != 2 { // RTP version 2
				continue
			}
			r.packets++
			for i := 12; i+1 < n; i += 2 { // L16 payload is big-endian
				v := int(int16(binary.BigEndian.Uint16(buf[i:])))
				if v > 1000 || v < -1000 {
					r.loud++
					break
				}
			}
		}
		res <- r
	}()
	if err := p.PlaySampleTo(ctx, RTPSinkName); err != nil {
		t.Fatal(err)
	}
	r := <-res
	t.Logf("%d RTP packets, %d carrying the tone", r.packets, r.loud)
	if r.loud == 0 {
		t.Fatalf("no RTP packet carried audio (%d packets)", r.packets)
	}

	// Again, to another port: still one of each, and the old destination is dropped.
	msg2, err := p.ConfigureRTP(ctx, "127.0.0.1", port+1)
	if err != nil {
		t.Fatal(err)
	}
	if msg2 == msg {
		t.Errorf("second message same as first: %q", msg2)
	}
	if send, sink := countRTPModules(t, p); send != 1 || sink != 1 {
		t.Fatalf("after second ConfigureRTP: %d rtp-send, %d deskhub_rtp sinks; want 1, 1", send, sink)
	}
	mods, _ := p.Modules(ctx)
	for _, m := range mods {
		if m.Name == "module-rtp-send" && !strings.Contains(m.Args, "port="+strconv.Itoa(port+1)) {
			t.Errorf("rtp-send args %q, want port %d", m.Args, port+1)
		}
	}

	// Bad destinations fail before touching the server.
	for _, ip := range []string{"example.com", "999.1.1.1", ""} {
		var be *BadAddressError
		if _, err := p.ConfigureRTP(ctx, ip, port); !errors.As(err, &be) {
			t.Errorf("ConfigureRTP(%q) = %v, want *BadAddressError", ip, err)
		}
	}
	for _, ps := range []string{"0", "70000", "x"} {
		n, err := ParsePort(ps)
		var be *BadAddressError
		if !errors.As(err, &be) {
			t.Errorf("ParsePort(%q) = %d, %v", ps, n, err)
		}
		if _, err := p.ConfigureRTP(ctx, "127.0.0.1", n); !errors.As(err, &be) {
			t.Errorf("ConfigureRTP(port %d) = %v, want *BadAddressError", n, err)
		}
	}
	if send, sink := countRTPModules(t, p); send != 1 || sink != 1 {
		t.Errorf("failed calls changed modules: %d rtp-send, %d sinks", send, sink)
	}

	if err := p.UnloadRTP(ctx); err != nil {
		t.Fatal(err)
	}
	if send, sink := countRTPModules(t, p); send != 0 || sink != 0 {
		t.Errorf("after UnloadRTP: %d rtp-send, %d sinks", send, sink)
	}
}

func TestConfigureRTPIPv6(t *testing.T) {
	p := daemon(t)
	ctx := ctxT(t, 30*time.Second)
	conn, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	if _, err := p.ConfigureRTP(ctx, "::1", port); err != nil {
		t.Fatalf("ConfigureRTP(::1): %v", err)
	}
	t.Cleanup(func() { _ = p.UnloadRTP(context.Background()) })
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	go func() { _ = p.PlaySampleTo(ctx, RTPSinkName) }()
	buf := make([]byte, 65536)
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil || n < 12 || buf[0]>>6 != 2 {
		t.Fatalf("no RTP packet over IPv6: n=%d err=%v", n, err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
