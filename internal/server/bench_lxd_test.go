package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
)

// Benchmarks of the LXD side on the real daemon (go test -run '^$' -bench LXD ./internal/server/;
// bench/infra/run.sh prints them). They measure, they assert nothing.

// percentiles reports p50 and p99 of ds as custom metrics, in milliseconds.
func percentiles(b *testing.B, ds []time.Duration, prefix string) {
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}

// BenchmarkLXDInstanceList is instance.list over 50 instances (25 running), from the cache and with the
// cache dropped before every call (each call then asks LXD), measured around deskhub's handler: a raw
// in-process call, as the SDK would add the loopback network to the figure.
func BenchmarkLXDInstanceList(b *testing.B) {
	h := newLXDHarnessTB(b)
	alice := h.user("alice", false)
	h.addServer(h.client(alice))
	for i := range 50 {
		h.env.CreateInstance(b, fmt.Sprintf("dh-bench-%02d", i), i%2 == 0)
	}
	if n := len(h.instanceIDs(h.client(alice))); n != 50 {
		b.Fatalf("instance.list shows %d instances, want 50", n)
	}
	for _, cached := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "uncached"}[cached], func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				if !cached {
					h.s.infra.DropCaches()
				}
				req := httptest.NewRequest("POST", "/api/v1/instance.list", strings.NewReader(`{"provider":"lxd"}`))
				req.Header.Set("Authorization", "Bearer "+alice)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.s.Handler().ServeHTTP(rec, req)
				ds = append(ds, time.Since(start))
				if rec.Code != 200 {
					b.Fatalf("instance.list: %d %s", rec.Code, rec.Body)
				}
			}
			percentiles(b, ds, "")
		})
	}
}

// BenchmarkLXDAddToStarted is the time from instance.add to the "started" lifecycle event on the
// user's stream, and to the operation's success event; the peer is the same create-and-start done
// directly with the incus client over LXD's unix socket (what "lxc launch" does), in the same run.
func BenchmarkLXDAddToStarted(b *testing.B) {
	h := newLXDHarnessTB(b)
	c := h.client(h.user("alice", false))
	sid := h.addServer(c)
	s := h.openStream(c)
	cl := h.env.Client(b)
	remove := func(name string) {
		if op, err := cl.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, ""); err == nil {
			_ = op.Wait()
		}
		if op, err := cl.DeleteInstance(name); err == nil {
			_ = op.Wait()
		}
	}
	i := 0
	b.Run("deskhub", func(b *testing.B) {
		var started, done []time.Duration
		for b.Loop() {
			name := fmt.Sprintf("dh-add-%03d", i)
			rid := fmt.Sprintf("bench-add-%03d", i)
			i++
			start := time.Now()
			if _, err := c.AddInstance(context.Background(), vmm.InstanceAddRequest{ServerID: vmm.FlexInt(sid), InstanceName: name,
				ImageAlias: h.env.ImageAlias, RequestID: rid, Provider: vmm.ProviderLXD}); err != nil {
				b.Fatal(err)
			}
			s.lifecycle(h.t, name, "started")
			started = append(started, time.Since(start))
			if res := s.opResult(h.t, rid, time.Minute); res.Status != vmm.OperationSuccess {
				b.Fatalf("instance.add: %s", evStr(res))
			}
			done = append(done, time.Since(start))
			b.StopTimer()
			remove(name)
			b.StartTimer()
		}
		percentiles(b, started, "started-")
		percentiles(b, done, "success-")
	})
	b.Run("direct-client", func(b *testing.B) {
		var done []time.Duration
		for b.Loop() {
			name := fmt.Sprintf("dh-direct-%03d", i)
			i++
			start := time.Now()
			op, err := cl.CreateInstance(api.InstancesPost{Name: name, Type: api.InstanceTypeContainer,
				Source: api.InstanceSource{Type: "image", Alias: h.env.ImageAlias}})
			if err == nil {
				err = op.Wait()
			}
			if err == nil {
				op, err = cl.UpdateInstanceState(name, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
			}
			if err == nil {
				err = op.Wait()
			}
			if err != nil {
				b.Fatal(err)
			}
			done = append(done, time.Since(start))
			b.StopTimer()
			remove(name)
			b.StartTimer()
		}
		percentiles(b, done, "started-")
	})
}
