package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// BenchmarkStart times Start of a 1280x800 xterm desktop (Xvnc ready, window manager in charge, xterm
// started), then stops it, with and without Xvnc's GLX extension, without the compose cache and without
// the keymap cache (which a first, untimed start fills); it reports the medians of the phases
// Start logs (listen-ms: Xvnc listens — openbox was started with it, x-ms: Xvnc accepts connections,
// wm-announced-ms: openbox has taken the screen, wm-ms: openbox answers the probe, ms/op: Start returned),
// the CPU time Xvnc and openbox had used when Start returned (xvnc-cpu-ms, wm-cpu-ms), and the share of
// starts whose openbox, started with Xvnc, came before Xvnc listened and was started again (wm-again/op).
//
//	go test -run '^$' -bench 'Start/glx=false' -benchtime 20x ./internal/provider/local/
func BenchmarkStart(b *testing.B) {
	for _, c := range []struct{ glx, compose, keymap bool }{{false, true, true}, {false, true, false},
		{false, false, true}, {true, true, true}} {
		b.Run(fmt.Sprintf("glx=%v/compose-cache=%v/keymap-cache=%v", c.glx, c.compose, c.keymap), func(b *testing.B) {
			xtest.Ensure(b)
			as := xtest.User(b)
			var logs bytes.Buffer
			p, err := New(Options{StateDir: xtest.StateDir(b), GLX: c.glx, NoComposeCache: !c.compose,
				NoKeymapCache: !c.keymap, StopGrace: 2 * time.Second, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if c.keymap {
				warmKeymap(b, p, as)
				logs.Reset()
				b.ResetTimer()
			}
			var listens, xs, seen, wms, all, xcpu, wmcpu []float64
			again := 0
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("bstart%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				t0 := time.Now()
				_, err := p.Start(ctx, provider.Spec{ID: id, Login: "bench", RunAs: as,
					Command: []string{"xterm"}, Width: 1280, Height: 800})
				d := time.Since(t0)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				all = append(all, float64(d)/1e6)
				if dt, err := p.get(id); err == nil {
					xcpu = append(xcpu, cpuMS(dt.rt.Server.PID))
					if dt.rt.WM != nil {
						wmcpu = append(wmcpu, cpuMS(dt.rt.WM.PID))
					}
				}
				if err := p.Stop(context.Background(), id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
				var e struct {
					Msg    string
					Listen float64 `json:"listen_ms"`
					X      float64 `json:"x_ready_ms"`
					Seen   float64 `json:"wm_announced_ms"`
					WM     float64 `json:"wm_ready_ms"`
					Again  bool    `json:"wm_again"`
				}
				if json.Unmarshal(line, &e) == nil && e.Msg == "desktop started" {
					listens, xs = append(listens, e.Listen), append(xs, e.X)
					seen, wms = append(seen, e.Seen), append(wms, e.WM)
					if e.Again {
						again++
					}
				}
			}
			b.ReportMetric(median(listens), "listen-ms")
			b.ReportMetric(median(xs), "x-ms")
			b.ReportMetric(median(seen), "wm-announced-ms")
			b.ReportMetric(median(wms), "wm-ms")
			b.ReportMetric(median(all), "median-ms")
			b.ReportMetric(median(xcpu), "xvnc-cpu-ms")
			b.ReportMetric(median(wmcpu), "wm-cpu-ms")
			b.ReportMetric(float64(again)/float64(max(len(wms), 1)), "wm-again/op")
		})
	}
}

// warmKeymap starts and stops a desktop, then waits until the keymap cache it teaches is there.
func warmKeymap(tb testing.TB, p *Provider, as provider.RunAs) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Start(ctx, provider.Spec{ID: "bwarm", Login: "bench", RunAs: as, Command: []string{"xterm"},
		Width: 1280, Height: 800}); err != nil {
		tb.Fatal(err)
	}
	for {
		if dir, _ := p.keymapDir(xvncPath(tb)); dir != "" {
			break
		}
		select {
		case <-ctx.Done():
			tb.Fatal("no keymap cache 20 s after a start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := p.Stop(context.Background(), "bwarm"); err != nil {
		tb.Fatal(err)
	}
}

// xvncPath is the Xvnc the tests run.
func xvncPath(tb testing.TB) string {
	path, err := exec.LookPath("Xvnc")
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// cpuMS is the CPU time process pid has run so far, in ms (/proc/pid/schedstat: nanoseconds on a CPU;
// what contention inflates least, unlike the wall times).
func cpuMS(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	ns, _ := strconv.ParseFloat(f[0], 64)
	return ns / 1e6
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
