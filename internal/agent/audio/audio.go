// Package audio drives the desktop's PulseAudio server for the Spawner API audio endpoints
// (setAudioQuality, playAudioSample, configurePulse, and the "audio" tab of getSettings).
//
// Everything goes through the PulseAudio command-line clients (pactl, paplay), run directly
// with an argument vector, never through a shell. The agent runs as the desktop's user, so the
// server it talks to (or starts, see EnsureDaemon) is that user's per-session server.
package audio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/internal/xdesk"
)

// Names of the sinks this package creates.
const (
	// SinkName is the null sink a daemon started by EnsureDaemon has (and makes the default).
	SinkName = xdesk.PulseSink
	// RTPSinkName is the null sink ConfigureRTP loads; its monitor feeds module-rtp-send.
	RTPSinkName = "deskhub_rtp"
)

// DefaultTimeout bounds one pactl/paplay run when Pulse.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// daemonStartTimeout bounds how long EnsureDaemon waits for a started daemon to answer.
const daemonStartTimeout = 10 * time.Second

// Pulse talks to one PulseAudio server through pactl and paplay.
// The zero value uses the agent's own environment and DefaultTimeout.
type Pulse struct {
	// Env is added to the agent's environment for pactl/paplay (and a daemon EnsureDaemon
	// starts): XDG_RUNTIME_DIR, PULSE_SERVER, HOME… Later entries win.
	Env []string
	// Timeout bounds each command run; zero means DefaultTimeout.
	Timeout time.Duration

	mu     sync.Mutex
	daemon *exec.Cmd
	done   chan struct{} // closed when the daemon process has been waited for
	logBuf *tailBuffer
}

// UnknownSinkError is returned when a sink name is not one of the server's sinks.
type UnknownSinkError struct {
	Sink  string
	Sinks []string // the sinks the server has
}

func (e *UnknownSinkError) Error() string {
	return fmt.Sprintf("audio: unknown sink %q (sinks: %s)", e.Sink, strings.Join(e.Sinks, ", "))
}

// BadAddressError is returned for an RTP destination that is not a literal IP address or a
// port outside 1..65535.
type BadAddressError struct {
	Field  string // "ip" or "port"
	Value  string
	Reason string
}

func (e *BadAddressError) Error() string {
	return fmt.Sprintf("audio: bad %s %q: %s", e.Field, e.Value, e.Reason)
}

// ParsePort parses a port sent as a decimal string (the seed's configurePulse sends it so):
// ASCII digits only, no sign or spaces, value 1..65535.
func ParsePort(s string) (int, error) {
	if s == "" {
		return 0, &BadAddressError{Field: "port", Value: s, Reason: "empty"}
	}
	if len(s) > 5 {
		return 0, &BadAddressError{Field: "port", Value: s, Reason: "not in 1..65535"}
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, &BadAddressError{Field: "port", Value: s, Reason: "not a decimal number"}
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, &BadAddressError{Field: "port", Value: s, Reason: "not in 1..65535"}
	}
	return n, nil
}

func (p *Pulse) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// env returns the environment for a child: ours, then p.Env (later wins in os/exec), with a
// C locale so pactl output is parseable.
func (p *Pulse) env(extra ...string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	env := append([]string{}, os.Environ()...)
	env = append(env, "LC_ALL=C")
	env = append(env, p.Env...)
	return append(env, extra...)
}

func (p *Pulse) getenv(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(p.Env[i], "="); ok && k == key {
			return v
		}
	}
	return os.Getenv(key)
}

func (p *Pulse) setenv(key, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.Env[:0:0]
	for _, kv := range p.Env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	p.Env = append(out, key+"="+value)
}

// run runs name with args (no shell) and returns its stdout; the error carries stderr.
func (p *Pulse) run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("audio: %s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = p.env()
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, ctx.Err())
		}
		return stdout.String(), fmt.Errorf("audio: %s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// Available reports whether a PulseAudio server answers `pactl info`.
func (p *Pulse) Available(ctx context.Context) bool {
	_, err := p.run(ctx, "pactl", "info")
	return err == nil
}

// EnsureDaemon makes sure a server answers. If none does, it starts a per-session
//
//	pulseaudio --daemonize=no --exit-idle-time=-1 -n --use-pid-file=no --log-target=stderr
//	  --load="module-native-protocol-unix socket=<runtimeDir>/pulse/native"
//	  --load="module-null-sink sink_name=deskhub"
//
// (xdesk.PulseArgs, which the desktop's init starts too) in its own process group
// (XDG_RUNTIME_DIR=runtimeDir for it), sets PULSE_SERVER in p.Env to its socket, and returns once pactl
// answers (bounded wait). Close stops it.
func (p *Pulse) EnsureDaemon(ctx context.Context, runtimeDir string) error {
	if p.Available(ctx) {
		return nil
	}
	if runtimeDir == "" {
		return errors.New("audio: EnsureDaemon: empty runtime dir")
	}
	runtimeDir, err := filepath.Abs(runtimeDir)
	if err != nil {
		return fmt.Errorf("audio: EnsureDaemon: %w", err)
	}
	pulseDir := filepath.Join(runtimeDir, "pulse")
	if err := os.MkdirAll(pulseDir, 0o700); err != nil {
		return fmt.Errorf("audio: EnsureDaemon: %w", err)
	}
	socket := filepath.Join(pulseDir, "native")
	server := "unix:" + socket

	p.mu.Lock()
	running := p.daemon != nil
	p.mu.Unlock()
	if running {
		// Ours, but not answering yet (or any more): stop it and start afresh.
		_ = p.Close()
	}
	// A stale socket from a dead daemon makes the new one refuse to bind.
	if _, err := os.Stat(socket); err == nil {
		_ = os.Remove(socket)
	}

	path, err := exec.LookPath("pulseaudio")
	if err != nil {
		return fmt.Errorf("audio: EnsureDaemon: %w", err)
	}
	cmd := exec.Command(path, xdesk.PulseArgs(socket)...)
	cmd.Env = p.env("XDG_RUNTIME_DIR=" + runtimeDir)
	cmd.Dir = runtimeDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logBuf := &tailBuffer{max: 8 << 10}
	cmd.Stdout = logBuf
	cmd.Stderr = logBuf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("audio: EnsureDaemon: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.daemon, p.done, p.logBuf = cmd, done, logBuf
	p.mu.Unlock()
	p.setenv("PULSE_SERVER", server)

	deadline := time.NewTimer(daemonStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(socket); err == nil && p.Available(ctx) {
			return nil
		}
		select {
		case <-done:
			p.forget()
			return fmt.Errorf("audio: pulseaudio exited (%v): %s", cmd.ProcessState, logBuf.String())
		case <-ctx.Done():
			_ = p.Close()
			return fmt.Errorf("audio: EnsureDaemon: %w", ctx.Err())
		case <-deadline.C:
			_ = p.Close()
			return fmt.Errorf("audio: pulseaudio did not answer within %v: %s", daemonStartTimeout, logBuf.String())
		case <-tick.C:
		}
	}
}

func (p *Pulse) forget() {
	p.mu.Lock()
	p.daemon, p.done = nil, nil
	p.mu.Unlock()
}

// DaemonPID returns the pid of the daemon EnsureDaemon started, or 0.
func (p *Pulse) DaemonPID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.daemon == nil || p.daemon.Process == nil {
		return 0
	}
	return p.daemon.Process.Pid
}

// DaemonLog returns the tail of the output of the daemon EnsureDaemon started.
func (p *Pulse) DaemonLog() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logBuf == nil {
		return ""
	}
	return p.logBuf.String()
}

// Close stops the daemon EnsureDaemon started (SIGTERM to its process group, SIGKILL after
// 3 s). It does nothing for a server it did not start.
func (p *Pulse) Close() error {
	p.mu.Lock()
	cmd, done := p.daemon, p.done
	p.daemon, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(3 * time.Second):
		return fmt.Errorf("audio: pulseaudio (pid %d) did not exit", pgid)
	}
}

// Sinks returns the names of the server's sinks (`pactl list short sinks`).
func (p *Pulse) Sinks(ctx context.Context) ([]string, error) {
	out, err := p.run(ctx, "pactl", "list", "short", "sinks")
	if err != nil {
		return nil, err
	}
	return parseShortNames(out), nil
}

// parseShortNames returns the second tab-separated field of each line of `pactl list short …`.
func parseShortNames(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) >= 2 && f[1] != "" {
			names = append(names, f[1])
		}
	}
	return names
}

// checkSink returns an *UnknownSinkError unless sink is one of the server's sinks.
func (p *Pulse) checkSink(ctx context.Context, sink string) error {
	sinks, err := p.Sinks(ctx)
	if err != nil {
		return err
	}
	for _, s := range sinks {
		if s == sink {
			return nil
		}
	}
	return &UnknownSinkError{Sink: sink, Sinks: sinks}
}

// LoadNullSink adds a null sink named name with a sample format (u8, s16le, alaw, ulaw…), a channel
// count and a rate (abcdesktop's sinks, e.g. ulaw8_1_8000).
func (p *Pulse) LoadNullSink(ctx context.Context, name, format, channels, rate string) error {
	_, err := p.run(ctx, "pactl", "load-module", "module-null-sink", "sink_name="+name, "format="+format,
		"channels="+channels, "rate="+rate)
	return err
}

// SetDefaultSink makes sink (which must exist, else *UnknownSinkError) the default sink.
func (p *Pulse) SetDefaultSink(ctx context.Context, sink string) error {
	if err := p.checkSink(ctx, sink); err != nil {
		return err
	}
	_, err := p.run(ctx, "pactl", "set-default-sink", sink)
	return err
}

// DefaultSink returns the default sink's name (`pactl get-default-sink`, or `pactl info` on
// servers/clients older than 15.0).
func (p *Pulse) DefaultSink(ctx context.Context) (string, error) {
	out, err := p.run(ctx, "pactl", "get-default-sink")
	if err == nil {
		if s := strings.TrimSpace(out); s != "" {
			return s, nil
		}
	}
	info, ierr := p.run(ctx, "pactl", "info")
	if ierr != nil {
		if err != nil {
			return "", err
		}
		return "", ierr
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "Default Sink:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("audio: no default sink")
}

// PlaySample plays a 0.5 s 440 Hz tone through the default sink and returns when paplay is done.
func (p *Pulse) PlaySample(ctx context.Context) error {
	return p.PlaySampleTo(ctx, "")
}

// PlaySampleTo plays the sample through sink (which must exist), or the default sink if sink
// is empty.
func (p *Pulse) PlaySampleTo(ctx context.Context, sink string) error {
	if sink != "" {
		if err := p.checkSink(ctx, sink); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp("", "deskhub-sample-*.wav")
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(SampleWAV()); err != nil {
		f.Close()
		return fmt.Errorf("audio: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	args := []string{"--client-name=deskhub", "--stream-name=deskhub sample"}
	if sink != "" {
		args = append(args, "--device="+sink)
	}
	args = append(args, "--", f.Name())
	_, err = p.run(ctx, "paplay", args...)
	return err
}

// Sample parameters.
const (
	sampleRate     = 44100
	sampleFreq     = 440
	sampleDuration = 500 * time.Millisecond
)

// SampleWAV returns a 0.5 s, 440 Hz, mono, 16-bit PCM WAV file (with 10 ms fades).
func SampleWAV() []byte {
	n := int(int64(sampleRate) * int64(sampleDuration) / int64(time.Second))
	const amp = 0.4 * 32767
	fade := sampleRate / 100
	data := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		g := 1.0
		if i < fade {
			g = float64(i) / float64(fade)
		} else if n-i < fade {
			g = float64(n-i) / float64(fade)
		}
		v := int16(amp * g * math.Sin(2*math.Pi*float64(sampleFreq)*float64(i)/sampleRate))
		data[2*i] = byte(uint16(v))
		data[2*i+1] = byte(uint16(v) >> 8)
	}
	var b bytes.Buffer
	le32 := func(v uint32) { b.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}) }
	le16 := func(v uint16) { b.Write([]byte{byte(v), byte(v >> 8)}) }
	b.WriteString("RIFF")
	le32(uint32(36 + len(data)))
	b.WriteString("WAVE")
	b.WriteString("fmt ")
	le32(16)
	le16(1) // PCM
	le16(1) // channels
	le32(sampleRate)
	le32(sampleRate * 2) // byte rate
	le16(2)              // block align
	le16(16)             // bits per sample
	b.WriteString("data")
	le32(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// Module is one line of `pactl list short modules`.
type Module struct {
	ID   int
	Name string
	Args string
}

// Modules lists the server's loaded modules.
func (p *Pulse) Modules(ctx context.Context) ([]Module, error) {
	out, err := p.run(ctx, "pactl", "list", "short", "modules")
	if err != nil {
		return nil, err
	}
	var mods []Module
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) < 2 {
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		m := Module{ID: id, Name: f[1]}
		if len(f) >= 3 {
			m.Args = strings.TrimSpace(f[2])
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// isRTPModule reports whether m is one ConfigureRTP loaded.
func isRTPModule(m Module) bool {
	args := " " + m.Args + " "
	switch m.Name {
	case "module-rtp-send":
		return strings.Contains(args, " source="+RTPSinkName+".monitor ")
	case "module-null-sink":
		return strings.Contains(args, " sink_name="+RTPSinkName+" ")
	}
	return false
}

// CheckRTPDestination validates an RTP destination: ip a literal IPv4 or IPv6 address (no
// host names), port 1..65535. Errors are *BadAddressError.
func CheckRTPDestination(ip string, port int) (net.IP, error) {
	addr := net.ParseIP(ip)
	if addr == nil {
		return nil, &BadAddressError{Field: "ip", Value: ip, Reason: "not a literal IPv4 or IPv6 address"}
	}
	if port < 1 || port > 65535 {
		return nil, &BadAddressError{Field: "port", Value: strconv.Itoa(port), Reason: "not in 1..65535"}
	}
	return addr, nil
}

// ConfigureRTP sends the desktop's audio as RTP to ip:port: it unloads the modules an earlier
// call loaded, then loads `module-null-sink sink_name=deskhub_rtp` and
// `module-rtp-send source=deskhub_rtp.monitor destination_ip=<ip> port=<port>`. Apps reach
// the stream by playing to deskhub_rtp (e.g. after SetDefaultSink). It returns a message with
// the module ids.
func (p *Pulse) ConfigureRTP(ctx context.Context, ip string, port int) (string, error) {
	addr, err := CheckRTPDestination(ip, port)
	if err != nil {
		return "", err
	}
	if err := p.UnloadRTP(ctx); err != nil {
		return "", err
	}
	sinkOut, err := p.run(ctx, "pactl", "load-module", "module-null-sink", "sink_name="+RTPSinkName)
	if err != nil {
		return "", err
	}
	sinkID := strings.TrimSpace(sinkOut)
	args := []string{"load-module", "module-rtp-send",
		"source=" + RTPSinkName + ".monitor",
		"destination_ip=" + addr.String(),
		"port=" + strconv.Itoa(port),
	}
	if addr.To4() == nil {
		args = append(args, "source_ip=::")
	}
	rtpOut, err := p.run(ctx, "pactl", args...)
	if err != nil {
		if sinkID != "" {
			_, _ = p.run(ctx, "pactl", "unload-module", sinkID)
		}
		return "", fmt.Errorf("%w (module-rtp-send needs GStreamer's rtp plugin, gstreamer1.0-plugins-good, on PulseAudio ≥ 15)", err)
	}
	rtpID := strings.TrimSpace(rtpOut)
	return fmt.Sprintf("loaded module-null-sink #%s (sink %s) and module-rtp-send #%s to %s",
		sinkID, RTPSinkName, rtpID, net.JoinHostPort(addr.String(), strconv.Itoa(port))), nil
}

// UnloadRTP unloads the modules ConfigureRTP loaded (rtp-send first, then the sink).
func (p *Pulse) UnloadRTP(ctx context.Context) error {
	mods, err := p.Modules(ctx)
	if err != nil {
		return err
	}
	for _, name := range []string{"module-rtp-send", "module-null-sink"} {
		for _, m := range mods {
			if m.Name == name && isRTPModule(m) {
				if _, err := p.run(ctx, "pactl", "unload-module", strconv.Itoa(m.ID)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte{}, t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
