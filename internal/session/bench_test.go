package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
)

// benchSessions are n synthetic session objects shaped like session/list's (params project p0..p9 and
// team t0..t3, three geometries, start times shuffled).
func benchSessions(n int) []fastx.Session {
	geoms := []string{"1280x800", "1920x1080", "1024x768"}
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	objs := make([]fastx.Session, n)
	for i := range objs {
		objs[i] = fastx.Session{AppPid: 3_000_000 + i, Command: "xterm", Display: fmt.Sprintf(":%d", 1000+i),
			Geometry: geoms[i%len(geoms)], Hostname: "bench", ID: fmt.Sprintf("bench-%05d", i), Login: "bench",
			Params:   fastx.Params{"project": fmt.Sprintf("p%d", i%10), "team": fmt.Sprintf("t%d", i%4)},
			ServerID: "00000000-0000-0000-0000-000000000000", ServerPid: 2_000_000 + i, Sharing: true,
			Started: t0.Add(time.Duration(i*7919%n) * time.Second), WindowMode: fastx.WindowModeDesktop,
			Name: fmt.Sprintf("desk %d", i), State: fastx.StateRunning}
	}
	return objs
}

// BenchmarkPage1000 is session/list's in-process paging over 1000 sessions: what bench/sessions loads
// through HTTP, without the store, the JSON answer and the network.
func BenchmarkPage1000(b *testing.B) {
	objs := benchSessions(1000)
	limit := 50
	for _, c := range []struct {
		name string
		o    ListOptions
		want int
	}{
		{"all", ListOptions{}, 1000},
		{"filter+sortBy+limit50", ListOptions{Filter: []string{"project==p1,p2,p3"}, SortBy: "started", Limit: &limit}, 50},
		{"filter+limit50", ListOptions{Filter: []string{"project==p1,p2,p3"}, Limit: &limit}, 50},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := Page(objs, c.o)
				if err != nil || len(out) != c.want {
					b.Fatalf("Page: %d sessions, %v; want %d", len(out), err, c.want)
				}
			}
		})
	}
}
