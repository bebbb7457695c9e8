// Command logins benchmarks password logins through a running `deskhub serve` (loopback only):
//
//  1. idle: -idle sequential logins of one account, nothing else running;
//  2. burst: -users accounts log in at once (one request each, all from 127.0.0.1) while -desktops
//     xterm desktops start; a 503 (hash queue full) is retried after its Retry-After (up to three
//     times), and the figure is the time to a token including those waits;
//  3. flood: -rounds times, -flood wrong logins at once from one address (127.0.0.<66+round>; half for
//     an existing account, half for unknown ones) and, 20 ms in, one genuine login from 127.0.0.1.
//
// Everything is bounded (counts, client timeouts); everything started is stopped on the way out. Prints
// a Markdown table and the machine it ran on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/bench/internal/serve"
	"github.com/deskhub/deskhub/client"
)

const password = "bench-Passw0rd-for-loopback-only"

type options struct {
	deskhub  string
	build    bool
	users    int
	idle     int
	desktops int
	flood    int
	rounds   int
}

func main() {
	var o options
	flag.StringVar(&o.deskhub, "deskhub", "bin/deskhub", "deskhub binary (copied into the work dir before it runs)")
	flag.BoolVar(&o.build, "build", true, "build -deskhub first (make -s build) from the current directory")
	flag.IntVar(&o.users, "users", 50, "accounts logging in at once in the burst (at most 200)")
	flag.IntVar(&o.idle, "idle", 10, "sequential logins of the idle phase")
	flag.IntVar(&o.desktops, "desktops", 3, "xterm desktops started during the burst (at most 10)")
	flag.IntVar(&o.flood, "flood", 100, "wrong logins at once per flood round (at most 500)")
	flag.IntVar(&o.rounds, "rounds", 10, "flood rounds (at most 50)")
	flag.Parse()
	o.users, o.desktops, o.flood, o.rounds = min(o.users, 200), min(o.desktops, 10), min(o.flood, 500), min(o.rounds, 50)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/logins:", err)
		os.Exit(1)
	}
}

type bench struct {
	work, data, base string
}

func run(ctx context.Context, o options) error {
	load := loadavg()
	if o.build {
		if err := serve.Build(ctx); err != nil {
			return err
		}
	}
	work, data, err := serve.Workdir("deskhub-bench-logins-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{work: work, data: data}
	bin := filepath.Join(work, "deskhub")
	if err := serve.CopyFile(o.deskhub, bin); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "creating %d accounts…\n", o.users+1)
	for i := 0; i <= o.users; i++ {
		if err := serve.AddUser(ctx, bin, b.data, userName(i), password); err != nil {
			return err
		}
	}
	p, err := serve.Start(ctx, bin, b.data, filepath.Join(b.work, "serve.log"))
	if err != nil {
		return err
	}
	b.base = p.Base
	defer p.Stop()

	fmt.Println("| phase | logins | p50 | p99 | max | other answers |")
	fmt.Println("|---|---|---|---|---|---|")
	idle, _ := b.sequential(ctx, o.idle)
	row("idle, one at a time", idle, "")

	burst, desks, notes, err := b.burst(ctx, o)
	if err != nil {
		return err
	}
	row(fmt.Sprintf("%d at once while %d desktops start", o.users, o.desktops), burst, notes)
	row("(the desktops' session/start)", desks, "")

	genuine, floodNotes := b.floods(ctx, o)
	row(fmt.Sprintf("genuine, during %d wrong logins from one address (%d rounds)", o.flood, o.rounds), genuine, floodNotes)
	fmt.Printf("\nmachine: %d cores, load average at the start %s, after %s; %s\n",
		runtime.NumCPU(), load, loadavg(), runtime.Version())
	return nil
}

func userName(i int) string { return fmt.Sprintf("user%03d", i) }

// from is an SDK client of deskhub whose requests come from the given loopback address, one connection
// per request.
func (b *bench) from(addr, token string) *client.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 10 * time.Second}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	c, err := client.New(b.base, &client.Options{Token: token, HTTPClient: hc})
	if err != nil {
		panic(err) // b.base is deskhub's own loopback URL
	}
	return c
}

// status is the HTTP status of an SDK call's outcome (200 for success, 0 when no answer came).
func status(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return client.StatusCode(err)
}

// login logs in on the session surface; a 503 is retried after its Retry-After, up to three times. It
// answers the time to the final answer, that answer's status and the statuses on the way.
func (b *bench) login(ctx context.Context, c *client.Client, user, pw string) (time.Duration, int, []int, string) {
	start := time.Now()
	var seen []int
	for try := 0; ; try++ {
		st, err := c.Login(ctx, fastx.LoginRequest{Username: user, Password: pw})
		code := status(err)
		if code == 0 {
			return time.Since(start), 0, seen, ""
		}
		seen = append(seen, code)
		var e *client.Error
		if code == http.StatusServiceUnavailable && try < 3 && errors.As(err, &e) && e.RetryAfter > 0 {
			time.Sleep(time.Duration(e.RetryAfter) * time.Second)
			continue
		}
		return time.Since(start), code, seen, st.Token
	}
}

func (b *bench) sequential(ctx context.Context, n int) ([]time.Duration, error) {
	c := b.from("127.0.0.1", "")
	var out []time.Duration
	for range n {
		d, status, _, _ := b.login(ctx, c, userName(1), password)
		if status != 200 {
			return out, fmt.Errorf("idle login: %d", status)
		}
		out = append(out, d)
	}
	return out, nil
}

// burst starts the desktops and the logins together.
func (b *bench) burst(ctx context.Context, o options) ([]time.Duration, []time.Duration, string, error) {
	c := b.from("127.0.0.1", "")
	_, st, _, deskTok := b.login(ctx, c, userName(0), password)
	if st != 200 {
		return nil, nil, "", fmt.Errorf("login of the desktops' account: %d", st)
	}
	desk := b.from("127.0.0.1", deskTok)
	var mu sync.Mutex
	var logins, desks []time.Duration
	var ids []string
	statuses := map[string]int{}
	var wg sync.WaitGroup
	defer func() { // desktops outlive deskhub: stop them whatever happens
		for _, id := range ids {
			_ = desk.TerminateSession(context.WithoutCancel(ctx), id)
		}
	}()
	startGate := make(chan struct{})
	for range o.desktops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			t := time.Now()
			conn, err := desk.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: "1024x768"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				desks = append(desks, time.Since(t))
				ids = append(ids, conn.ID)
			} else {
				statuses[fmt.Sprintf("session/start %d %v", status(err), err)]++
			}
		}()
	}
	for i := 1; i <= o.users; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			d, st, seen, _ := b.login(ctx, c, userName(i), password)
			mu.Lock()
			defer mu.Unlock()
			if st == 200 {
				logins = append(logins, d)
			}
			if len(seen) > 1 || st != 200 {
				statuses[fmt.Sprint(seen)]++
			}
		}()
	}
	close(startGate)
	wg.Wait()
	return logins, desks, notes(statuses), nil
}

// floods runs the flood rounds and answers the genuine logins' times.
func (b *bench) floods(ctx context.Context, o options) ([]time.Duration, string) {
	var genuine []time.Duration
	statuses := map[string]int{}
	var mu sync.Mutex
	for round := range o.rounds {
		attacker := b.from(fmt.Sprintf("127.0.0.%d", 66+round), "")
		var wg sync.WaitGroup
		for i := range o.flood {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := userName(o.users) // an existing account …
				if i%2 == 1 {
					user = fmt.Sprintf("nobody-%d-%d", round, i) // … and unknown ones
				}
				_, err := attacker.Login(ctx, fastx.LoginRequest{Username: user, Password: "wrong-password"})
				mu.Lock()
				statuses[fmt.Sprintf("flood %d", status(err))]++
				if status(err) == 0 {
					statuses["flood error"]++
				}
				mu.Unlock()
			}()
		}
		time.Sleep(20 * time.Millisecond)
		d, st, seen, _ := b.login(ctx, b.from("127.0.0.1", ""), userName(1+round%max(1, o.users-1)), password)
		if st == 200 {
			genuine = append(genuine, d)
		} else {
			statuses[fmt.Sprintf("genuine %v", seen)]++
		}
		wg.Wait()
	}
	return genuine, notes(statuses)
}

func notes(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func row(phase string, ds []time.Duration, other string) {
	if len(ds) == 0 {
		fmt.Printf("| %s | 0 | – | – | – | %s |\n", phase, other)
		return
	}
	slices.Sort(ds)
	pct := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", phase, len(ds), ms(pct(0.50)), ms(pct(0.99)), ms(ds[len(ds)-1]), other)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
