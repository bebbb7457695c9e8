// Command density starts many idle desktops through a running `deskhub serve` (loopback only) and
// measures what each costs, beside xpra sessions started the same way on the same machine:
//
//   - start time of every desktop: the session/start call, the first frame through the display relay
//     (RFB handshake, full-screen update), and the xterm window mapped on the desktop's display (an X
//     client of the bench polls the window tree with the session's cookie), for the 1st, the last, and
//     the medians of the first and last ten;
//   - memory: PSS (and RSS) of every process of the desktops (those carrying the session's
//     DESKHUB_SESSION marker: Xvnc, openbox, the agent, the shell, xterm) per desktop, after 3, 10, 30
//     and all desktops, -settle after the last start (PSS divides shared pages among the processes mapping
//     them, so it drops per desktop as desktops add up);
//   - CPU of the idle desktops over -cpu (utime+stime from /proc), per desktop, in % of one core;
//   - the broker: its RSS/PSS and the latency of session/list and health.alive, before the first desktop
//     and with all of them running;
//   - xpra (`xpra start :D --start=xterm --daemon=no`, Debian's defaults): time from the command to the
//     xterm window mapped, memory and idle CPU of each session's processes (an environment marker),
//     for -xpra sessions.
//
// Bounded: -n desktops, -xpra sessions, -budget for the whole run; everything started is stopped on the
// way out (and on SIGINT/SIGTERM). Prints Markdown tables.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/bench/internal/rfb"
	"github.com/deskhub/deskhub/bench/internal/serve"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/xauth"
)

const (
	login    = "density"
	password = "density-Passw0rd-for-loopback-only"
	marker   = "DESKHUB_DENSITY_XPRA" // environment marker of the bench's xpra sessions
)

type options struct {
	deskhub  string
	build    bool
	n, xpra  int
	settle   time.Duration
	cpu      time.Duration
	calls    int
	budget   time.Duration
	geometry string
}

func main() {
	var o options
	flag.StringVar(&o.deskhub, "deskhub", "bin/deskhub", "deskhub binary (copied into the work dir before it runs)")
	flag.BoolVar(&o.build, "build", true, "build -deskhub first (make -s build) from the current directory")
	flag.IntVar(&o.n, "n", 100, "desktops to start")
	flag.IntVar(&o.xpra, "xpra", 10, "xpra sessions to start (0: none)")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the last start before measuring memory")
	flag.DurationVar(&o.cpu, "cpu", 30*time.Second, "window of the idle CPU measurement")
	flag.IntVar(&o.calls, "calls", 50, "sequential broker requests per latency row")
	flag.DurationVar(&o.budget, "budget", 20*time.Minute, "bound of the whole run")
	flag.StringVar(&o.geometry, "geometry", "1280x800", "geometry of the desktops")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.budget)
	err := run(ctx, o)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/density:", err)
		os.Exit(1)
	}
}

type bench struct {
	o     options
	work  string
	data  string
	serve *serve.Proc
	api   *client.Client
	mu    sync.Mutex
	ids   []string // sessions started, in order
}

func run(ctx context.Context, o options) error {
	if o.build {
		if err := serve.Build(ctx); err != nil {
			return err
		}
	}
	work, data, err := serve.Workdir("deskhub-bench-density-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "deskhub")
	if err := serve.CopyFile(o.deskhub, bin); err != nil {
		return err
	}
	b := &bench{o: o, work: work, data: data}
	fmt.Printf("deskhub %s, %s\n\n", version(bin), machine())

	// The one bench account runs every desktop.
	os.Setenv("DESKHUB_MAX_SESSIONS_PER_USER", "0")
	if err := serve.AddUser(ctx, bin, b.data, login, password); err != nil {
		return err
	}
	p, err := serve.Start(ctx, bin, b.data, filepath.Join(work, "serve.log"))
	if err != nil {
		return err
	}
	b.serve = p
	defer b.shutdown()
	b.api, err = client.New(p.Base, &client.Options{
		HTTPClient: &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}})
	if err != nil {
		return err
	}
	if _, err := b.api.Login(ctx, fastx.LoginRequest{Username: login, Password: password}); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	time.Sleep(time.Second) // the login's password hash memory goes back (hash queue idle)
	broker0 := b.brokerFigures(ctx)

	var starts []startTimes
	var snaps []memSnap
	for i := 1; i <= o.n; i++ {
		st, err := b.startOne(ctx)
		if err != nil {
			return fmt.Errorf("desktop %d: %w", i, err)
		}
		starts = append(starts, st)
		if checkpoint(i, o.n) {
			if err := sleep(ctx, o.settle); err != nil {
				return err
			}
			snaps = append(snaps, b.deskhubMemory())
		}
	}
	cpu, err := cpuOf(ctx, o.cpu, b.deskhubPIDs)
	if err != nil {
		return err
	}
	broker1 := b.brokerFigures(ctx)
	b.report(starts, snaps, cpu, broker0, broker1)
	b.terminateAll()

	if o.xpra > 0 {
		if err := b.xpraRun(ctx); err != nil {
			return fmt.Errorf("xpra: %w", err)
		}
	}
	return nil
}

// ---- deskhub desktops ----

type startTimes struct{ call, frame, window time.Duration }

func (b *bench) startOne(ctx context.Context) (startTimes, error) {
	var st startTimes
	t0 := time.Now()
	c, err := b.api.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: b.o.geometry})
	if err != nil {
		return st, err
	}
	st.call = time.Since(t0)
	b.mu.Lock()
	b.ids = append(b.ids, c.ID)
	b.mu.Unlock()
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		display, cookie, err := b.sessionX(ctx, c.ID)
		if err == nil {
			err = waitWindow(ctx, display, cookie, "XTerm")
		}
		st.window, werr = time.Since(t0), err
	}()
	ferr := func() error {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ws, err := b.api.DialDisplayWebSocket(fctx, c)
		if err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		ws.SetReadLimit(64 << 20)
		defer ws.CloseNow()
		_, err = rfb.FirstUpdate(websocket.NetConn(fctx, ws, websocket.MessageBinary), func() { st.frame = time.Since(t0) })
		return err
	}()
	wg.Wait()
	return st, errors.Join(ferr, werr)
}

// sessionX finds a desktop's display (session/list, filtered by id) and cookie (its session directory).
// Not by scanning /proc: with hundreds of processes that costs more than the start being timed.
func (b *bench) sessionX(ctx context.Context, id string) (int, []byte, error) {
	cookie, err := readCookie(filepath.Join(b.data, "sessions", id, "xauthority"))
	if err != nil {
		return 0, nil, err
	}
	list, err := b.api.ListSessions(ctx, fastx.ListRequest{Filter: []string{"id==" + id}})
	if err != nil {
		return 0, nil, err
	}
	for _, s := range list {
		if s.ID == id {
			n, err := strconv.Atoi(strings.TrimPrefix(s.Display, ":"))
			return n, cookie, err
		}
	}
	return 0, nil, fmt.Errorf("session %s not listed", id)
}

func (b *bench) deskhubPIDs() map[string][]int {
	b.mu.Lock()
	ids := slices.Clone(b.ids)
	b.mu.Unlock()
	out := map[string][]int{}
	all := environs()
	for _, id := range ids {
		m := "DESKHUB_SESSION=" + id
		for pid, env := range all {
			if hasEnv(env, m) {
				out[id] = append(out[id], pid)
			}
		}
	}
	return out
}

func (b *bench) deskhubMemory() memSnap { return memoryOf(b.deskhubPIDs()) }

type brokerFigs struct {
	rss, pss           int64 // kB
	list, alive        []time.Duration
	listErrs, aliveErr int
}

func (b *bench) brokerFigures(ctx context.Context) brokerFigs {
	var f brokerFigs
	pid := b.serve.Cmd.Process.Pid
	for range b.o.calls {
		t0 := time.Now()
		if _, err := b.api.ListSessions(ctx, fastx.ListRequest{}); err != nil {
			f.listErrs++
		}
		f.list = append(f.list, time.Since(t0))
		t0 = time.Now()
		if _, err := b.api.Alive(ctx); err != nil {
			f.aliveErr++
		}
		f.alive = append(f.alive, time.Since(t0))
	}
	f.rss = procKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	f.pss = procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss")
	return f
}

func (b *bench) terminateAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.mu.Lock()
	ids := b.ids
	b.ids = nil
	b.mu.Unlock()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.api.TerminateSession(ctx, id); err != nil {
				fmt.Fprintf(os.Stderr, "bench/density: terminate %s: %v\n", id, err)
			}
		}()
	}
	wg.Wait()
	for _, pid := range markedPIDsAny("DESKHUB_SESSION=", ids) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (b *bench) shutdown() {
	b.terminateAll()
	b.serve.Stop()
}

// ---- xpra ----

type xpraSession struct {
	display int
	cmd     *exec.Cmd
	done    chan struct{}
	mark    string
}

func (b *bench) xpraRun(ctx context.Context) error {
	if _, err := exec.LookPath("xpra"); err != nil {
		return errors.New("xpra not installed (bench/density/run.sh installs Debian's xpra)")
	}
	var sessions []*xpraSession
	defer func() { stopXpra(sessions) }()
	var windows []time.Duration
	var snaps []memSnap
	pids := func() map[string][]int {
		out := map[string][]int{}
		all := environs()
		for _, s := range sessions {
			for pid, env := range all {
				if hasEnv(env, s.mark) {
					out[s.mark] = append(out[s.mark], pid)
				}
			}
		}
		return out
	}
	for i := 1; i <= b.o.xpra; i++ {
		d, err := freeDisplay(600 + i)
		if err != nil {
			return err
		}
		auth := filepath.Join(b.work, fmt.Sprintf("xpra-%d.xauth", d))
		if err := os.WriteFile(auth, nil, 0o600); err != nil {
			return err
		}
		s := &xpraSession{display: d, done: make(chan struct{}), mark: fmt.Sprintf("%s=%d", marker, d)}
		s.cmd = exec.Command("xpra", "start", ":"+strconv.Itoa(d), "--start=xterm", "--daemon=no")
		s.cmd.Env = append(os.Environ(), "XAUTHORITY="+auth, s.mark)
		logf, err := os.Create(filepath.Join(b.work, fmt.Sprintf("xpra-%d.log", d)))
		if err != nil {
			return err
		}
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		t0 := time.Now()
		if err := s.cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		go func() { _ = s.cmd.Wait(); logf.Close(); close(s.done) }()
		sessions = append(sessions, s)
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = func() error {
			var cookie []byte
			for {
				if c, err := readCookie(auth); err == nil {
					cookie = c
					break
				}
				select {
				case <-s.done:
					return errors.New("xpra exited")
				case <-wctx.Done():
					return errors.New("no cookie in XAUTHORITY")
				case <-time.After(5 * time.Millisecond):
				}
			}
			return waitWindow(wctx, d, cookie, "XTerm")
		}()
		cancel()
		if err != nil {
			return fmt.Errorf("session :%d: %w", d, err)
		}
		windows = append(windows, time.Since(t0))
		if checkpoint(i, b.o.xpra) {
			if err := sleep(ctx, b.o.settle); err != nil {
				return err
			}
			snaps = append(snaps, memoryOf(pids()))
		}
	}
	cpu, err := cpuOf(ctx, b.o.cpu, pids)
	if err != nil {
		return err
	}
	fmt.Printf("### xpra %s (`xpra start :D --start=xterm --daemon=no`, %d sessions, as root, Debian's defaults)\n\n", xpraVersion(), b.o.xpra)
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| command → xterm window mapped, 1st / last | %s / %s |\n", ms(windows[0]), ms(windows[len(windows)-1]))
	fmt.Printf("| command → xterm window mapped, p50 of all | %s |\n", ms(pcts(windows, 50)[0]))
	fmt.Printf("| idle CPU per session over %s | %s |\n\n", b.o.cpu, cpu)
	printMemory("xpra memory per session", snaps)
	return nil
}

func stopXpra(sessions []*xpraSession) {
	var pids []int
	for _, s := range sessions {
		pids = append(pids, markedPIDs(s.mark)...)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range sessions {
		select {
		case <-s.done:
		case <-time.After(time.Until(deadline)):
		}
	}
	for _, s := range sessions {
		for _, p := range markedPIDs(s.mark) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = os.Remove(fmt.Sprintf("/tmp/.X%d-lock", s.display))
		_ = os.Remove(fmt.Sprintf("/tmp/.X11-unix/X%d", s.display))
	}
}

func freeDisplay(from int) (int, error) {
	for n := from; n < from+200; n++ {
		if _, err := os.Lstat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		if _, err := os.Lstat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		return n, nil
	}
	return 0, fmt.Errorf("no free display from :%d", from)
}

func xpraVersion() string {
	out, _ := exec.Command("xpra", "--version").Output()
	return strings.TrimSpace(string(out))
}

// ---- X ----

// readCookie answers the first MIT-MAGIC-COOKIE-1 of an Xauthority file.
func readCookie(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	field := func() ([]byte, bool) {
		if len(raw) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(raw))
		if len(raw) < 2+n {
			return nil, false
		}
		f := raw[2 : 2+n]
		raw = raw[2+n:]
		return f, true
	}
	for len(raw) >= 2 {
		raw = raw[2:] // family
		var fs [4][]byte
		for i := range fs {
			f, ok := field()
			if !ok {
				return nil, errors.New("short Xauthority entry")
			}
			fs[i] = f
		}
		if string(fs[2]) == "MIT-MAGIC-COOKIE-1" && len(fs[3]) == 16 {
			return fs[3], nil
		}
	}
	return nil, errors.New("no MIT-MAGIC-COOKIE-1")
}

// waitWindow polls display n (5 ms apart) until a mapped window of WM_CLASS class is in the tree (top
// level, or down to two levels under a window manager's frames). Mapped, not viewable: xpra keeps its
// clients' windows under an unmapped frame of its own (they are composited, not shown on its Xvfb).
func waitWindow(ctx context.Context, n int, cookie []byte, class string) error {
	var x *xgb.Conn
	defer func() {
		if x != nil {
			x.Close()
		}
	}()
	for {
		if x == nil {
			var d net.Dialer
			if nc, err := d.DialContext(ctx, "unix", fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				if c, err := xauth.Connect(nc, cookie, time.Now().Add(5*time.Second)); err == nil {
					x = c
				}
			}
		}
		if x != nil && hasWindow(x, class) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %s window on :%d: %w", class, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func hasWindow(x *xgb.Conn, class string) bool {
	root := xproto.Setup(x).DefaultScreen(x).Root
	var walk func(w xproto.Window, depth int) bool
	walk = func(w xproto.Window, depth int) bool {
		t, err := xproto.QueryTree(x, w).Reply()
		if err != nil {
			return false
		}
		for _, c := range t.Children {
			if r, err := xproto.GetProperty(x, false, c, xproto.AtomWmClass, xproto.AtomString, 0, 64).Reply(); err == nil {
				parts := strings.Split(string(r.Value), "\x00")
				if len(parts) >= 2 && parts[1] == class {
					if a, err := xproto.GetWindowAttributes(x, c).Reply(); err == nil && a.MapState != xproto.MapStateUnmapped {
						return true
					}
				}
			}
			if depth < 2 && walk(c, depth+1) {
				return true
			}
		}
		return false
	}
	return walk(root, 0)
}

// ---- /proc ----

func environs() map[int][]byte {
	out := map[int][]byte{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if env, err := os.ReadFile("/proc/" + e.Name() + "/environ"); err == nil {
			out[pid] = env
		}
	}
	return out
}

func hasEnv(env []byte, kv string) bool {
	return slices.ContainsFunc(bytes.Split(env, []byte{0}), func(e []byte) bool { return string(e) == kv })
}

func markedPIDs(kv string) []int {
	var out []int
	for pid, env := range environs() {
		if hasEnv(env, kv) {
			out = append(out, pid)
		}
	}
	return out
}

func markedPIDsAny(prefix string, ids []string) []int {
	var out []int
	for pid, env := range environs() {
		for _, id := range ids {
			if hasEnv(env, prefix+id) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func comm(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(raw))
}

func procKB(path, name string) int64 {
	raw, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// cpuTicks is utime+stime of a process, in clock ticks.
func cpuTicks(pid int) (int64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, true
}

// cpuUse is what the groups' processes used over a window: clock ticks in all (100 a second; the
// kernel charges each tick to the process running then), and per group in % of one core.
type cpuUse struct {
	ticks, procs int64
	perGroup     float64
}

func (c cpuUse) String() string {
	return fmt.Sprintf("%.3f %% of a core (%d clock ticks of 10 ms over %d processes)", c.perGroup, c.ticks, c.procs)
}

// cpuOf measures the CPU the groups' processes use over d.
func cpuOf(ctx context.Context, d time.Duration, groups func() map[string][]int) (cpuUse, error) {
	g := groups()
	before := map[int]int64{}
	for _, pids := range g {
		for _, p := range pids {
			if t, ok := cpuTicks(p); ok {
				before[p] = t
			}
		}
	}
	t0 := time.Now()
	if err := sleep(ctx, d); err != nil {
		return cpuUse{}, err
	}
	el := time.Since(t0).Seconds()
	var u cpuUse
	for p, t := range before {
		if t1, ok := cpuTicks(p); ok {
			u.ticks += t1 - t
			u.procs++
		}
	}
	if len(g) == 0 {
		return u, errors.New("no processes")
	}
	u.perGroup = float64(u.ticks) / 100 / el / float64(len(g)) * 100
	return u, nil
}

type memSnap struct {
	n             int
	byName        map[string]*memAcc
	pss, rss, uss int64
	others        map[string]int // processes named as the measured ones but outside them (they share libraries)
}

type memAcc struct{ pss, rss, uss, procs int64 }

func memoryOf(groups map[string][]int) memSnap {
	s := memSnap{n: len(groups), byName: map[string]*memAcc{}}
	for _, pids := range groups {
		for _, p := range pids {
			pss := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss")
			rss := procKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS")
			uss := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Private_Clean") +
				procKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Private_Dirty")
			if pss < 0 || rss < 0 {
				continue
			}
			name := comm(p)
			a := s.byName[name]
			if a == nil {
				a = &memAcc{}
				s.byName[name] = a
			}
			a.pss += pss
			a.rss += rss
			a.uss += uss
			a.procs++
			s.pss += pss
			s.rss += rss
			s.uss += uss
		}
	}
	// PSS divides a shared page between the processes that map it, the machine's others included:
	// count the processes of the same names outside the measured ones.
	measured := map[int]bool{}
	for _, pids := range groups {
		for _, p := range pids {
			measured[p] = true
		}
	}
	s.others = map[string]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || measured[pid] {
			continue
		}
		if name := comm(pid); s.byName[name] != nil {
			s.others[name]++
		}
	}
	return s
}

func printMemory(title string, snaps []memSnap) {
	if len(snaps) == 0 {
		return
	}
	fmt.Printf("#### %s (PSS MiB per desktop; RSS in parentheses)\n\n", title)
	head := "| process |"
	sep := "|---|"
	for _, s := range snaps {
		head += fmt.Sprintf(" %d running |", s.n)
		sep += "---|"
	}
	fmt.Println(head)
	fmt.Println(sep)
	var names []string
	for _, s := range snaps {
		for name := range s.byName {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	f := func(kb int64, n int) string { return fmt.Sprintf("%.1f", float64(kb)/1024/float64(n)) }
	for _, name := range names {
		row := "| " + name + " |"
		for _, s := range snaps {
			if a := s.byName[name]; a != nil {
				row += fmt.Sprintf(" %s (%s) |", f(a.pss, s.n), f(a.rss, s.n))
			} else {
				row += " – |"
			}
		}
		fmt.Println(row)
	}
	row := "| **total** |"
	for _, s := range snaps {
		row += fmt.Sprintf(" **%s** (%s) |", f(s.pss, s.n), f(s.rss, s.n))
	}
	fmt.Println(row)
	fmt.Println()
	// Private memory (USS: pages no other process maps) does not depend on what else runs.
	fmt.Println("Private (USS) MiB per desktop, by process:")
	fmt.Println()
	fmt.Println(head)
	fmt.Println(sep)
	for _, name := range names {
		row := "| private: " + name + " |"
		for _, s := range snaps {
			if a := s.byName[name]; a != nil {
				row += " " + f(a.uss, s.n) + " |"
			} else {
				row += " – |"
			}
		}
		fmt.Println(row)
	}
	row = "| **private: total** |"
	for _, s := range snaps {
		row += " **" + f(s.uss, s.n) + "** |"
	}
	fmt.Println(row)
	fmt.Println()
	last := snaps[len(snaps)-1]
	var others []string
	for _, name := range names {
		if n := last.others[name]; n > 0 {
			others = append(others, fmt.Sprintf("%d %s", n, name))
		}
	}
	if len(others) == 0 {
		others = append(others, "none")
	}
	fmt.Printf("Processes of these names outside the measured ones at the last snapshot (they share libraries, "+
		"so lower the PSS): %s.\n\n", strings.Join(others, ", "))
}

// ---- report ----

func (b *bench) report(starts []startTimes, snaps []memSnap, cpu cpuUse, b0, b1 brokerFigs) {
	n := len(starts)
	fmt.Printf("### deskhub: %d idle %s xterm desktops (one account, started one after the other)\n\n", n, b.o.geometry)
	fmt.Println("| start | session/start call | first frame (relay) | xterm window mapped |")
	fmt.Println("|---|---|---|---|")
	row := func(name string, s []startTimes) {
		col := func(f func(startTimes) time.Duration) string {
			var d []time.Duration
			for _, x := range s {
				d = append(d, f(x))
			}
			return ms(pcts(d, 50)[0])
		}
		fmt.Printf("| %s | %s | %s | %s |\n", name, col(func(x startTimes) time.Duration { return x.call }),
			col(func(x startTimes) time.Duration { return x.frame }), col(func(x startTimes) time.Duration { return x.window }))
	}
	row("1st desktop", starts[:1])
	row(fmt.Sprintf("desktop %d (the last)", n), starts[n-1:])
	k := min(10, n)
	row(fmt.Sprintf("median of the first %d", k), starts[:k])
	row(fmt.Sprintf("median of the last %d", k), starts[n-k:])
	row("median of all", starts)
	fmt.Printf("\nidle CPU per desktop over %s (all its processes): %s\n\n", b.o.cpu, cpu)
	printMemory("deskhub memory per desktop", snaps)
	fmt.Println("#### The broker (`deskhub serve`)")
	fmt.Println()
	fmt.Printf("| | no desktop | %d desktops |\n|---|---|---|\n", n)
	fmt.Printf("| RSS / PSS MiB | %.1f / %.1f | %.1f / %.1f |\n", float64(b0.rss)/1024, float64(b0.pss)/1024, float64(b1.rss)/1024, float64(b1.pss)/1024)
	lat := func(d []time.Duration, errs int) string {
		p := pcts(d, 50, 99)
		s := ms(p[0]) + " / " + ms(p[1])
		if errs > 0 {
			s += fmt.Sprintf(" (%d errors)", errs)
		}
		return s
	}
	fmt.Printf("| session/list p50 / p99 (%d calls) | %s | %s |\n", b.o.calls, lat(b0.list, b0.listErrs), lat(b1.list, b1.listErrs))
	fmt.Printf("| health.alive p50 / p99 (%d calls) | %s | %s |\n\n", b.o.calls, lat(b0.alive, b0.aliveErr), lat(b1.alive, b1.aliveErr))
}

// checkpoint tells whether memory is measured after the i-th of n starts: after the 3rd, 10th, 30th
// and the last.
func checkpoint(i, n int) bool { return i == 3 || i == 10 || i == 30 || i == n }

func pcts(d []time.Duration, ps ...int) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	out := make([]time.Duration, len(ps))
	if len(s) == 0 {
		return out
	}
	for i, p := range ps {
		j := (len(s)*p + 99) / 100
		out[i] = s[max(0, min(len(s)-1, j-1))]
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func version(bin string) string {
	out, _ := exec.Command(bin, "version").Output()
	f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	if len(f) >= 2 {
		return f[1]
	}
	return "?"
}

func machine() string {
	mem := "?"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(raw), "\n", 2)[0], "MemTotal:"), "%f", &kb)
		mem = fmt.Sprintf("%.0f GiB", kb/1048576)
	}
	load := "?"
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(raw))[:3], " ")
	}
	return fmt.Sprintf("machine: %d cores, %s, %s; load average at start %s", runtime.NumCPU(), mem, runtime.Version(), load)
}
