package events

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanout1000SSE publishes events to 1000 bound SSE clients over loopback. Each iteration
// publishes one event and waits until every client has received it. It reports the delivery latency
// (from just before Publish to the client's receipt, taken from the event's Time) as p50-ms, p99-ms and
// max-ms; ns/op is the time to reach all 1000 clients.
func BenchmarkFanout1000SSE(b *testing.B) {
	const clients = 1000
	ts := newTestServer(b, Options{})
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}

	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // after cancel has ended the clients' reads
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	got := make(chan time.Duration, clients)
	ready := make(chan error, clients)
	users := make([]int64, clients)

	setup := time.Now()
	sem := make(chan struct{}, 64) // opens in flight
	for i := range clients {
		users[i] = int64(i + 1)
		sem <- struct{}{}
		wg.Go(func() {
			id := newID()
			req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events?stream="+id, nil)
			resp, err := hc.Do(req)
			<-sem
			if err != nil {
				ready <- err
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			var name string
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				line = strings.TrimSuffix(line, "\n")
				switch {
				case strings.HasPrefix(line, "event: "):
					name = line[len("event: "):]
					switch name {
					case "open":
						if err := ts.hub.Bind(id, int64(i+1), false); err != nil {
							ready <- err
							return
						}
					case "bound":
						ready <- nil
					}
				case name == "bench" && strings.HasPrefix(line, "data: "):
					var ev struct{ Time time.Time }
					if err := json.Unmarshal([]byte(line[len("data: "):]), &ev); err != nil {
						b.Error(err)
						return
					}
					got <- time.Since(ev.Time)
				}
			}
		})
	}
	for range clients {
		select {
		case err := <-ready:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			b.Fatal("clients not ready in time")
		}
	}
	b.Logf("%d clients open and bound in %v", clients, time.Since(setup).Round(time.Millisecond))

	aud := Audience{Users: users}
	var lat []time.Duration
	for b.Loop() {
		ev := testEvent("bench", "x")
		ev.Time = time.Now()
		if n := ts.hub.Publish(ev, aud); n != clients {
			b.Fatalf("Publish queued on %d streams, want %d", n, clients)
		}
		timeout := time.NewTimer(10 * time.Second)
		for range clients {
			select {
			case d := <-got:
				lat = append(lat, d)
			case <-timeout.C:
				b.Fatalf("event not delivered to all clients within 10s (%d of %d)", len(lat)%clients, clients)
			}
		}
		timeout.Stop()
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}
