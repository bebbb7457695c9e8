package files

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkSearch100k compares Search with `find HOME -iname '*KW*'` (exec, no shell) over a generated home
// of 100,000 files (10 × 100 directories × 100 files), page cache warm. bench/agent/run.sh runs it:
//
//	go test -run '^$' -bench Search100k -benchtime=5x ./internal/agent/files
//
// Keywords:
//   - "invoice": 2000 matches; Search stops at max = 1000 (about half-way through the walk), find walks all.
//   - "zephyr": exactly 300 matches (< max), so both walk the whole tree.
//
// Each sub-benchmark reports the median of its runs (median-ms) and the number of results.

const (
	benchTop, benchSub, benchPer = 10, 100, 100 // 100,000 files in 1,000 leaf directories
)

var benchWords = []string{"notes", "photo", "draft", "budget", "report", "scan", "backup", "summary", "letter",
	"plan", "meeting", "slides", "data", "export", "image", "song", "video", "thesis", "recipe", "travel"}
var benchExts = []string{".txt", ".pdf", ".png", ".jpg", ".odt", ".csv", ".mp3", ".md", ".tar.gz", ".json"}

// benchName is a deterministic file name for file i; every 50th contains "Invoice"/"INVOICE" and every
// 333rd of the first 99,900 contains "Zephyr" (300 in all), in mixed case to exercise -iname.
func benchName(i int, rnd *uint64) string {
	next := func(n int) int {
		*rnd = *rnd*6364136223846793005 + 1442695040888963407
		return int((*rnd >> 33) % uint64(n))
	}
	a, c := benchWords[next(len(benchWords))], benchWords[next(len(benchWords))]
	mid := ""
	if i%50 == 7 {
		mid += []string{"Invoice", "INVOICE", "invoice"}[i/50%3] + "-"
	}
	if i%333 == 100 && i < 333*300 {
		mid += []string{"Zephyr", "zephyr", "ZEPHYR"}[i/333%3] + "_"
	}
	return fmt.Sprintf("%s-%s%s-%05d%s", a, mid, c, i, benchExts[next(len(benchExts))])
}

func benchTree(b *testing.B) string {
	b.Helper()
	home := filepath.Join(b.TempDir(), "home") // removed by the testing package at the end
	rnd := uint64(1)
	i := 0
	t0 := time.Now()
	for t := range benchTop {
		for s := range benchSub {
			dir := filepath.Join(home, fmt.Sprintf("dir%02d", t), fmt.Sprintf("sub%03d", s))
			must(b, os.MkdirAll(dir, 0o755))
			for range benchPer {
				must(b, os.WriteFile(filepath.Join(dir, benchName(i, &rnd)), []byte("some text\n"), 0o644))
				i++
			}
		}
	}
	b.Logf("generated %d files in %v", i, time.Since(t0).Round(time.Millisecond))
	return home
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func BenchmarkSearch100k(b *testing.B) {
	if _, err := exec.LookPath("find"); err != nil {
		b.Skip("find not installed")
	}
	home := benchTree(b)
	m := systemMIME(b)
	for _, kw := range []string{"invoice", "zephyr"} {
		run := func(name string, op func() int) {
			b.Run(kw+"/"+name, func(b *testing.B) {
				var lat []time.Duration
				n := 0
				for b.Loop() {
					t := time.Now()
					n = op()
					lat = append(lat, time.Since(t))
				}
				b.ReportMetric(float64(median(lat).Microseconds())/1000, "median-ms")
				b.ReportMetric(float64(n), "results")
			})
		}
		search := func(mime *MIME) func() int {
			return func() int {
				r, err := Search(context.Background(), home, kw, MaxMaxFiles, mime)
				if err != nil {
					b.Fatal(err)
				}
				return len(r)
			}
		}
		run("Search", search(nil))
		run("SearchMIME", search(m))
		run("find", func() int {
			out, err := exec.Command("find", home, "-iname", "*"+kw+"*").Output()
			if err != nil {
				b.Fatal(err)
			}
			return bytes.Count(out, []byte{'\n'})
		})
	}
}
