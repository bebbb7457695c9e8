// Command load is deskhub's HTTP load generator for benchmarks: a fixed number of connections send one
// request each in a loop, for a bounded time and at most a bounded count, to a loopback URL only. It
// prints one line: requests, errors, throughput and latency percentiles.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to load (loopback only)")
	method := flag.String("method", "POST", "HTTP method")
	body := flag.String("body", "{}", "request body")
	conns := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "duration (at most 60s)")
	max := flag.Int("n", 2_000_000, "stop after this many requests")
	label := flag.String("label", "", "label printed first on the result line")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Hostname() == "" {
		fail("bad -url %q", *target)
	}
	if ip := net.ParseIP(u.Hostname()); !(u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()) {
		fail("refusing %s: benchmarks send traffic to loopback only", u.Hostname())
	}
	if *dur > time.Minute {
		*dur = time.Minute
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     int
		sent     int
		wg       sync.WaitGroup
		payload  = []byte(*body)
		start    = time.Now()
		budgetMu sync.Mutex
	)
	take := func() bool {
		budgetMu.Lock()
		defer budgetMu.Unlock()
		if sent >= *max {
			return false
		}
		sent++
		return true
	}
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			var e int
			for ctx.Err() == nil && take() {
				req, _ := http.NewRequest(*method, *target, bytes.NewReader(payload))
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					e++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					e++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += e
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	pct := func(p float64) string {
		if len(all) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3fms", float64(all[int(float64(len(all)-1)*p)].Microseconds())/1000)
	}
	fmt.Printf("%s requests=%d errors=%d rps=%.0f p50=%s p90=%s p99=%s\n", *label, len(all), errs,
		float64(len(all))/elapsed.Seconds(), pct(.50), pct(.90), pct(.99))
	if len(all) == 0 {
		os.Exit(1)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(2)
}
