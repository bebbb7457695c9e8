// Command sessions benchmarks real desktop sessions through a running `deskhub serve` (loopback only):
//
//  1. time to first frame: session/start → relay websocket → RFB 3.8 handshake (security None) → a
//     non-incremental full-screen FramebufferUpdateRequest → the first FramebufferUpdate header (and,
//     since no SetEncodings is sent, the end of that update in Raw encoding); each session is
//     terminated right after;
//  2. memory per idle desktop: -idle sessions, -settle later, PSS and RSS of each session's processes
//     (Xvnc, openbox, the app: every process carrying DESKHUB_SESSION=<id>) and deskhub's RSS growth;
//  3. session/screenshot latency at 1280x800 and 1920x1080, png and jpeg;
//  4. session/list throughput with -rows fake session rows inserted into the SQLite store (rows only,
//     no desktops), unfiltered and with filter + sortBy + limit 50; the rows are deleted afterwards.
//
// Everything is bounded (counts and -budget / -d); everything started is stopped on the way out, on
// failure and on SIGINT/SIGTERM too. Prints Markdown tables and the machine it ran on.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/bench/internal/rfb"
	"github.com/deskhub/deskhub/bench/internal/serve"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

const (
	login    = "bench"
	password = "bench-Passw0rd-for-loopback-only"
)

type options struct {
	deskhub  string
	build    bool
	n        int
	budget   time.Duration
	idle     int
	settle   time.Duration
	shots    int
	rows     int
	conns    int
	dur      time.Duration
	geometry string
	logLevel string
}

func main() {
	var o options
	flag.StringVar(&o.deskhub, "deskhub", "bin/deskhub", "deskhub binary (copied into the work dir before it runs)")
	flag.BoolVar(&o.build, "build", true, "build -deskhub first (make -s build) from the current directory")
	flag.IntVar(&o.n, "n", 20, "time-to-first-frame samples")
	flag.DurationVar(&o.budget, "budget", 120*time.Second, "bound of the time-to-first-frame phase")
	flag.IntVar(&o.idle, "idle", 5, "idle desktops for the memory measurement")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait before measuring idle desktops")
	flag.IntVar(&o.shots, "shots", 20, "screenshots per geometry and format")
	flag.IntVar(&o.rows, "rows", 1000, "fake session rows for the session/list load")
	flag.IntVar(&o.conns, "c", 16, "connections of the session/list load")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "duration of each session/list load (at most 60s)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "deskhub's log level; info adds the provider's start phases (its \"desktop started\" lines) to the first-frame table, and logs every request")
	flag.StringVar(&o.geometry, "geometry", "1280x800", "geometry of the time-to-first-frame and idle sessions")
	flag.Parse()
	if o.dur > time.Minute {
		o.dur = time.Minute
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/sessions:", err)
		os.Exit(1)
	}
}

// bench is a running deskhub and what the benchmark started in it.
type bench struct {
	o       options
	work    string
	data    string
	base    string
	serve   *serve.Proc
	rssBoot int64          // deskhub's VmRSS right after login, kB
	api     *client.Client // deskhub's Go SDK, logged in as the bench user
	mu      sync.Mutex
	started map[string]bool // session ids not terminated yet
	all     []string        // every session id started, for the final sweep
}

func run(ctx context.Context, o options) (err error) {
	if o.build {
		if err := serve.Build(ctx); err != nil {
			return err
		}
	}
	work, data, err := serve.Workdir("deskhub-bench-sessions-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "deskhub")
	if err := serve.CopyFile(o.deskhub, bin); err != nil {
		return err
	}
	b := &bench{o: o, work: work, data: data, started: map[string]bool{}}
	if err := b.start(ctx, bin); err != nil {
		return err
	}
	defer b.shutdown()

	fmt.Printf("deskhub %s, %s\n\n", version(bin), machine())
	if err := b.firstFrame(ctx); err != nil {
		return fmt.Errorf("time to first frame: %w", err)
	}
	if err := b.memory(ctx); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if err := b.screenshots(ctx); err != nil {
		return fmt.Errorf("screenshots: %w", err)
	}
	if err := b.list(ctx); err != nil {
		return fmt.Errorf("session/list: %w", err)
	}
	b.logSummary()
	return nil
}

// logSummary counts deskhub's warnings and errors of the run by message.
func (b *bench) logSummary() {
	raw, _ := os.ReadFile(filepath.Join(b.work, "serve.log"))
	counts := map[string]int{}
	var msgs []string
	for _, l := range bytes.Split(raw, []byte("\n")) {
		var e struct {
			Level, Msg, Route, Error string
			Status                   int
		}
		if json.Unmarshal(l, &e) != nil || e.Msg == "" {
			continue
		}
		k := e.Level + " " + e.Msg
		if e.Route != "" {
			k += fmt.Sprintf(" %s %d %.120s", e.Route, e.Status, e.Error)
		}
		if counts[k] == 0 {
			msgs = append(msgs, k)
		}
		counts[k]++
	}
	fmt.Println("deskhub log during the run (warnings and errors by message):")
	if len(msgs) == 0 {
		fmt.Println("- none")
	}
	for _, m := range msgs {
		fmt.Printf("- %d × %s\n", counts[m], m)
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
	model := "?"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(raw), "\n", 2)[0], "MemTotal:"), "%f", &kb)
		mem = fmt.Sprintf("%.0f GiB", kb/1048576)
	}
	xvnc := "?"
	if out, err := exec.Command("Xvnc", "-version").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "TigerVNC") {
				xvnc = strings.TrimSpace(l)
				break
			}
		}
	}
	load := "?"
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(raw))[:3], " ")
	}
	return fmt.Sprintf("machine: %d cores %s, %s, %s, %s; load average at start %s", runtime.NumCPU(), model, mem,
		runtime.Version(), xvnc, load)
}

// start creates the user, starts deskhub serve on a free loopback port and logs in.
func (b *bench) start(ctx context.Context, bin string) error {
	if err := serve.AddUser(ctx, bin, b.data, login, password); err != nil {
		return err
	}
	p, err := serve.Start(ctx, bin, b.data, filepath.Join(b.work, "serve.log"), "--log-level", b.o.logLevel)
	if err != nil {
		return fmt.Errorf("%v: %s", err, b.serveLog())
	}
	b.serve, b.base = p, p.Base
	b.api, err = client.New(b.base, &client.Options{
		HTTPClient: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}})
	if err != nil {
		return err
	}
	if _, err := b.api.Login(ctx, fastx.LoginRequest{Username: login, Password: password}); err != nil || b.api.Token() == "" {
		return fmt.Errorf("login: %v: %s", err, b.serveLog())
	}
	b.rssBoot = procKB(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid), "VmRSS")
	return nil
}

func (b *bench) serveLog() string {
	raw, _ := os.ReadFile(filepath.Join(b.work, "serve.log"))
	if len(raw) > 3000 {
		raw = raw[len(raw)-3000:]
	}
	return string(raw)
}

// shutdown terminates what is left of the benchmark's sessions, stops deskhub and kills any process
// still carrying one of the sessions' markers.
func (b *bench) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b.mu.Lock()
	var ids []string
	for id := range b.started {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	for _, id := range ids {
		b.terminate(ctx, id)
	}
	b.serve.Stop()
	b.mu.Lock()
	all := slices.Clone(b.all)
	b.mu.Unlock()
	for _, id := range all {
		for _, pid := range sessionPIDs(id) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (b *bench) startSession(ctx context.Context, geometry string) (fastx.Connect, error) {
	c, err := b.api.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: geometry})
	if err == nil && c.ID != "" {
		b.mu.Lock()
		b.started[c.ID] = true
		b.all = append(b.all, c.ID)
		b.mu.Unlock()
	}
	return c, err
}

func (b *bench) terminate(ctx context.Context, id string) {
	if err := b.api.TerminateSession(ctx, id); err != nil {
		fmt.Fprintf(os.Stderr, "bench/sessions: terminate %s: %v\n", id, err)
	}
	b.mu.Lock()
	delete(b.started, id)
	b.mu.Unlock()
}

// ---- 1. time to first frame ----

type frameTimes struct {
	start, header, full time.Duration // from the start call: its answer, the update's header, its end
	bytes               int64
}

func (b *bench) firstFrame(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.o.budget)
	defer cancel()
	var samples []frameTimes
	for i := 0; i < b.o.n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		c, err := b.startSession(ctx, b.o.geometry)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		ft, err := b.frame(ctx, c, t0, time.Since(t0))
		b.terminate(context.WithoutCancel(ctx), c.ID)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		samples = append(samples, ft)
	}
	if len(samples) == 0 {
		return errors.New("no sample within the budget")
	}
	col := func(f func(frameTimes) time.Duration) []time.Duration {
		var d []time.Duration
		for _, s := range samples {
			d = append(d, f(s))
		}
		return d
	}
	fmt.Printf("### Time to first frame (%s, xterm, %d samples, budget %s)\n\n", b.o.geometry, len(samples), b.o.budget)
	fmt.Println("| interval | p50 | p95 | max |")
	fmt.Println("|---|---|---|---|")
	row := func(name string, d []time.Duration) {
		p := pcts(d, 50, 95, 100)
		fmt.Printf("| %s | %s | %s | %s |\n", name, ms(p[0]), ms(p[1]), ms(p[2]))
	}
	row("session/start call", col(func(s frameTimes) time.Duration { return s.start }))
	row("connect + handshake + first update header", col(func(s frameTimes) time.Duration { return s.header - s.start }))
	row("**start → first update header**", col(func(s frameTimes) time.Duration { return s.header }))
	row("start → first full frame received (Raw)", col(func(s frameTimes) time.Duration { return s.full }))
	// The provider's own phases, from the "desktop started" lines of deskhub's log: what of the start
	// call is the desktop (Xvnc, window manager, command) and what the broker around it.
	for _, ph := range []struct{ key, name string }{
		{"x_ready_ms", "– in the call: Xvnc serves the cookie (deskhub log)"},
		{"wm_ready_ms", "– in the call: window manager answers (deskhub log)"},
		{"start_ms", "– in the call: the provider's Start (deskhub log)"},
	} {
		if d := b.logPhase(ph.key); len(d) > 0 {
			row(ph.name, d)
		}
	}
	slow := 0
	for _, s := range samples {
		if s.start > time.Second {
			slow++
		}
	}
	fmt.Printf("\nfirst full frame: %.1f MiB of Raw pixels; start calls over 1 s: %d of %d\n\n", float64(samples[0].bytes)/(1<<20), slow, len(samples))
	return nil
}

// logPhase answers the values of key (milliseconds) in the "desktop started" lines of deskhub's log.
func (b *bench) logPhase(key string) []time.Duration {
	raw, _ := os.ReadFile(filepath.Join(b.work, "serve.log"))
	var d []time.Duration
	for _, l := range bytes.Split(raw, []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(l, &e) != nil || e["msg"] != "desktop started" {
			continue
		}
		if v, ok := e[key].(float64); ok {
			d = append(d, time.Duration(v*float64(time.Millisecond)))
		}
	}
	return d
}

// frame opens the relay websocket, does the RFB 3.8 handshake (security None), asks for the full
// screen and times the first FramebufferUpdate (its header and, in Raw encoding, its end).
func (b *bench) frame(ctx context.Context, c fastx.Connect, t0 time.Time, startDur time.Duration) (frameTimes, error) {
	ft := frameTimes{start: startDur}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	ws, err := b.api.DialDisplayWebSocket(ctx, c)
	if err != nil {
		return ft, fmt.Errorf("websocket: %w", err)
	}
	ws.SetReadLimit(64 << 20)
	defer ws.CloseNow()
	conn := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	n, err := rfb.FirstUpdate(conn, func() { ft.header = time.Since(t0) })
	if err != nil {
		return ft, err
	}
	ft.bytes = n
	ft.full = time.Since(t0)
	return ft, nil
}

// ---- 2. memory per idle desktop ----

// sessionPIDs lists the processes carrying the session's marker (every process deskhub starts for a
// desktop has DESKHUB_SESSION=<id> in its environment).
func sessionPIDs(id string) []int {
	marker := []byte("DESKHUB_SESSION=" + id)
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool { return bytes.Equal(kv, marker) }) {
			out = append(out, pid)
		}
	}
	return out
}

// procKB reads a "Name:   N kB" line of a /proc file.
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

func comm(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(raw))
}

func (b *bench) memory(ctx context.Context) error {
	deskhubPID := b.serve.Cmd.Process.Pid
	rss0 := procKB(fmt.Sprintf("/proc/%d/status", deskhubPID), "VmRSS")
	var ids []string
	defer func() {
		for _, id := range ids {
			b.terminate(context.WithoutCancel(ctx), id)
		}
	}()
	for range b.o.idle {
		c, err := b.startSession(ctx, b.o.geometry)
		if err != nil {
			return err
		}
		ids = append(ids, c.ID)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.o.settle):
	}
	list, err := b.api.ListSessions(ctx, fastx.ListRequest{})
	if err != nil {
		return err
	}
	type acc struct{ pss, rss, n int64 }
	byName := map[string]*acc{}
	var names []string
	var total acc
	for _, s := range list {
		if !slices.Contains(ids, s.ID) {
			continue
		}
		pids := sessionPIDs(s.ID)
		for _, p := range []int{s.ServerPid, s.AppPid} {
			if p > 0 && !slices.Contains(pids, p) {
				pids = append(pids, p)
			}
		}
		for _, p := range pids {
			pss := procKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss")
			rss := procKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS")
			if rss < 0 {
				continue
			}
			name := comm(p)
			a := byName[name]
			if a == nil {
				a = &acc{}
				byName[name] = a
				names = append(names, name)
			}
			a.pss += pss
			a.rss += rss
			a.n++
			total.pss += pss
			total.rss += rss
		}
		total.n++
	}
	rss1 := procKB(fmt.Sprintf("/proc/%d/status", deskhubPID), "VmRSS")
	if total.n == 0 {
		return errors.New("none of the idle sessions is listed")
	}
	mib := func(kb, n int64) string { return fmt.Sprintf("%.1f", float64(kb)/1024/float64(n)) }
	fmt.Printf("### Memory per idle desktop (%d × %s xterm desktops, no client, %s after the last start)\n\n", total.n, b.o.geometry, b.o.settle)
	fmt.Println("| process | processes | PSS MiB per desktop | RSS MiB per desktop |")
	fmt.Println("|---|---|---|---|")
	slices.Sort(names)
	for _, name := range names {
		a := byName[name]
		fmt.Printf("| %s | %d | %s | %s |\n", name, a.n, mib(a.pss, total.n), mib(a.rss, total.n))
	}
	fmt.Printf("| **desktop total** | | **%s** | **%s** |\n", mib(total.pss, total.n), mib(total.rss, total.n))
	fmt.Printf("\ndeskhub RSS: %.1f MiB after login, %.1f MiB after the first-frame phase, %.1f MiB with %d idle desktops (+%.1f MiB, %.2f MiB per desktop)\n\n",
		float64(b.rssBoot)/1024, float64(rss0)/1024, float64(rss1)/1024, total.n, float64(rss1-rss0)/1024, float64(rss1-rss0)/1024/float64(total.n))
	return nil
}

// ---- 3. screenshots ----

func (b *bench) screenshots(ctx context.Context) error {
	fmt.Printf("### session/screenshot (xterm desktop, %d calls per row, sequential)\n\n", b.o.shots)
	fmt.Println("| geometry | format | p50 | p95 | max | answer size |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, g := range []string{"1280x800", "1920x1080"} {
		c, err := b.startSession(ctx, g)
		if err != nil {
			return err
		}
		id := c.ID
		err = func() error {
			defer b.terminate(context.WithoutCancel(ctx), id)
			time.Sleep(time.Second) // let xterm draw
			for _, f := range []string{"png", "jpeg"} {
				var d []time.Duration
				var size int
				for range b.o.shots {
					t := time.Now()
					r, err := b.api.Screenshot(ctx, fastx.ScreenshotRequest{ID: id, Format: f})
					if err != nil {
						return err
					}
					d = append(d, time.Since(t))
					size = len(r.Src)
				}
				p := pcts(d, 50, 95, 100)
				fmt.Printf("| %s | %s | %s | %s | %s | %.0f KiB |\n", g, f, ms(p[0]), ms(p[1]), ms(p[2]), float64(size)/1024)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}

// ---- 4. session/list with many rows ----

func (b *bench) list(ctx context.Context) error {
	st, err := sqlite.Open(ctx, filepath.Join(b.data, "deskhub.db"), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.GetUserByLogin(ctx, login)
	if err != nil {
		return err
	}
	geoms := []string{"1280x800", "1920x1080", "1024x768"}
	var ids []string
	defer func() {
		for _, id := range ids {
			_ = st.DeleteSession(context.WithoutCancel(ctx), id)
		}
	}()
	t0 := time.Now().UTC().Add(-time.Hour)
	insert := time.Now()
	matching := 0 // rows the filter below keeps
	for i := range b.o.rows {
		if p := i % 10; p >= 1 && p <= 3 {
			matching++
		}
		s := store.Session{ID: fmt.Sprintf("bench-%05d", i), UserID: u.ID, Login: login, Name: fmt.Sprintf("desk %d", i),
			Command: "xterm", Display: fmt.Sprintf(":%d", 1000+i), Geometry: geoms[i%len(geoms)], WindowMode: "desktop",
			Params: map[string]string{"project": fmt.Sprintf("p%d", i%10), "team": fmt.Sprintf("t%d", i%4)},
			State:  store.SessionRunning, AppPID: 3_000_000 + i, ServerPID: 2_000_000 + i, Hostname: "bench",
			Runtime: "{}", StartedAt: t0.Add(time.Duration(i*7919%b.o.rows) * time.Second)}
		if err := st.CreateSession(ctx, &s); err != nil {
			return err
		}
		ids = append(ids, s.ID)
	}
	insertDur := time.Since(insert)
	limit := 50
	bodies := []struct {
		name string
		body fastx.ListRequest
		want int
	}{
		{"`{}` (all rows)", fastx.ListRequest{}, b.o.rows},
		{"`filter project==p1,p2,p3` + `sortBy started` + `limit 50`", fastx.ListRequest{Filter: []string{"project==p1,p2,p3"}, SortBy: "started", Limit: &limit},
			min(limit, matching)},
	}
	fmt.Printf("### session/list with %d session rows in the store (%d connections, %s each; rows inserted in %s)\n\n",
		b.o.rows, b.o.conns, b.o.dur, insertDur.Round(time.Millisecond))
	fmt.Println("| request | requests/s | p50 | p99 | answer size | errors |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, q := range bodies {
		raw, _ := json.Marshal(q.body)
		check, err := b.api.ListSessions(ctx, q.body)
		if err != nil {
			return err
		}
		if len(check) != q.want {
			return fmt.Errorf("%s answered %d sessions, want %d", raw, len(check), q.want)
		}
		res, err := b.load(ctx, "/v3/api/session/list", raw)
		if err != nil {
			return err
		}
		p := pcts(res.lat, 50, 99)
		fmt.Printf("| %s | %.0f | %s | %s | %.0f KiB | %d |\n", q.name, float64(len(res.lat))/res.elapsed.Seconds(), ms(p[0]), ms(p[1]),
			float64(res.size)/1024, res.errs)
	}
	fmt.Println()
	return nil
}

type loadResult struct {
	lat     []time.Duration
	errs    int
	size    int
	elapsed time.Duration
}

// load posts body to path from -c connections for -d (at most 1e6 requests in all). It sends raw
// requests on purpose, not the SDK's: it measures the server, so it neither decodes the answers (their
// size is a column) nor adds the client's cost to the latencies.
func (b *bench) load(ctx context.Context, path string, body []byte) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: b.o.conns, MaxConnsPerHost: b.o.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, b.o.dur)
	defer cancel()
	var (
		mu   sync.Mutex
		res  loadResult
		wg   sync.WaitGroup
		sent int
	)
	token := b.api.Token()
	start := time.Now()
	for range b.o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs, size := 0, 0
			for ctx.Err() == nil {
				mu.Lock()
				if sent >= 1_000_000 {
					mu.Unlock()
					break
				}
				sent++
				mu.Unlock()
				req, _ := http.NewRequestWithContext(ctx, "POST", b.base+path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs++
					}
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					if ctx.Err() == nil {
						errs++
					}
					continue
				}
				lat = append(lat, time.Since(t))
				size = int(n)
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			if size > 0 {
				res.size = size
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if len(res.lat) == 0 {
		return res, errors.New("no successful request")
	}
	return res, nil
}

// ---- helpers ----

func pcts(d []time.Duration, ps ...float64) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		k := int(p/100*float64(len(s))+0.5) - 1
		out[i] = s[max(0, min(k, len(s)-1))]
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
