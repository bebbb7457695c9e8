// Command rss measures the broker's resident memory (VmRSS of `deskhub serve`, SQLite) through a
// session's life: after start, after 20 password logins at once, with 10 running desktops (real
// Xvnc + openbox + xterm from the local provider), and across 10,000 API calls (session/list,
// session/list/count, bookmark/list, session/profile), sampled every 1000 calls. Loopback only,
// bounded (calls counted, whole run under `timeout 300` in run.sh); the desktops are terminated and
// deskhub stopped on the way out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/bench/internal/serve"
	"github.com/deskhub/deskhub/client"
)

const password = "bench password 1234"

func main() {
	bin := flag.String("deskhub", "bin/deskhub", "deskhub binary to measure")
	build := flag.Bool("build", true, "run make build first")
	logins := flag.Int("logins", 20, "password logins at once (at most 100)")
	desktops := flag.Int("desktops", 10, "running desktops (at most 20)")
	calls := flag.Int("calls", 10000, "API calls (at most 100000)")
	flag.Parse()
	*logins, *desktops, *calls = min(*logins, 100), min(*desktops, 20, *logins), min(*calls, 100000)
	ctx, cancel := context.WithTimeout(context.Background(), 280*time.Second)
	defer cancel()
	if err := run(ctx, *bin, *build, *logins, *desktops, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, binary string, build bool, logins, desktops, calls int) error {
	if build {
		if err := serve.Build(ctx); err != nil {
			return err
		}
	}
	work, data, err := serve.Workdir("deskhub-bench-rss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "deskhub")
	if err := serve.CopyFile(binary, bin); err != nil {
		return err
	}
	for i := range logins {
		if err := serve.AddUser(ctx, bin, data, user(i), password); err != nil {
			return err
		}
	}
	p, err := serve.Start(ctx, bin, data, filepath.Join(work, "serve.log"))
	if err != nil {
		return err
	}
	defer p.Stop()
	pid := p.Cmd.Process.Pid
	fmt.Println("| moment | deskhub RSS |")
	fmt.Println("|---|---|")
	row := func(what string) { fmt.Printf("| %s | %s |\n", what, rss(pid)) }
	time.Sleep(time.Second)
	row("after start")

	// Logins, all at once.
	tokens := make([]string, logins)
	var wg sync.WaitGroup
	errs := make(chan error, logins)
	for i := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := client.New(p.Base, nil)
			for try := 0; try < 5; try++ {
				st, err := c.Login(ctx, fastx.LoginRequest{Username: user(i), Password: password})
				if err == nil {
					tokens[i] = st.Token
					return
				}
				var e *client.Error
				if client.StatusCode(err) == 503 && errors.As(err, &e) && e.RetryAfter > 0 {
					time.Sleep(time.Duration(e.RetryAfter) * time.Second)
					continue
				}
				errs <- fmt.Errorf("login %s: %w", user(i), err)
				return
			}
			errs <- fmt.Errorf("login %s: still refused after 5 tries", user(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	row(fmt.Sprintf("right after %d logins at once", logins))
	time.Sleep(2 * time.Second)
	row(fmt.Sprintf("%d logins, 2 s later", logins))

	// Desktops, one per user.
	var ids []string
	clients := make([]*client.Client, logins)
	for i := range logins {
		clients[i], _ = client.New(p.Base, &client.Options{Token: tokens[i]})
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i, id := range ids {
			_ = clients[i].TerminateSession(tctx, id)
		}
	}()
	for i := range desktops {
		c, err := clients[i].StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: "1280x800"})
		if err != nil {
			return fmt.Errorf("session/start for %s: %w", user(i), err)
		}
		ids = append(ids, c.ID)
	}
	time.Sleep(3 * time.Second)
	row(fmt.Sprintf("%d running desktops, 3 s after the last start", desktops))

	// API calls, 4 at a time, sampled every 1000.
	var samples []string
	done := 0
	start := time.Now()
	for done < calls {
		n := min(1000, calls-done)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := w; k < n; k += 4 {
					c := clients[(done+k)%logins]
					var err error
					switch k % 4 {
					case 0:
						_, err = c.ListSessions(ctx, fastx.ListRequest{})
					case 1:
						_, err = c.CountSessions(ctx)
					case 2:
						_, err = c.ListBookmarks(ctx)
					case 3:
						limit := 5
						_, err = c.ListSessions(ctx, fastx.ListRequest{Filter: []string{"windowMode==desktop"}, SortBy: "started", Limit: &limit})
					}
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return fmt.Errorf("API call: %w", firstErr)
		}
		done += n
		samples = append(samples, rss(pid))
	}
	fmt.Printf("| after %d API calls (%.0f calls/s) | %s |\n", calls, float64(calls)/time.Since(start).Seconds(), samples[len(samples)-1])
	fmt.Printf("\nRSS every 1000 calls: %s\n", strings.Join(samples, ", "))
	fmt.Printf("\nmachine: %d cores, %s; load average %s\n", runtime.NumCPU(), runtime.Version(), loadavg())
	return nil
}

func user(i int) string { return fmt.Sprintf("rss%03d", i) }

// rss is VmRSS of pid in MiB.
func rss(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

func loadavg() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
