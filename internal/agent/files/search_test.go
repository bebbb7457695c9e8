package files

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func searchHome(t *testing.T) (base, home string) {
	base = t.TempDir()
	home = filepath.Join(base, "home")
	writeFile(t, filepath.Join(home, "Résumé.TXT"), []byte("cv\n"))
	writeFile(t, filepath.Join(home, "docs", "resume-2024.pdf"), []byte("%PDF-1.4\n"))
	writeFile(t, filepath.Join(home, "docs", "deep", "er", "old resume draft.txt"), []byte("x\n"))
	writeFile(t, filepath.Join(home, "docs", "unrelated.txt"), []byte("x\n"))
	writeFile(t, filepath.Join(home, ".hidden", "resume-secret.txt"), []byte("x\n"))
	writeFile(t, filepath.Join(home, ".resume-hidden.txt"), []byte("x\n"))
	writeFile(t, filepath.Join(base, "outside", "resume-outside.txt"), []byte("x\n"))
	must(t, os.MkdirAll(filepath.Join(home, "resume-dir"), 0o755))                                                        // directories are not results
	must(t, os.Symlink(home, filepath.Join(home, "docs", "loop")))                                                        // loop
	must(t, os.Symlink(filepath.Join(base, "outside"), filepath.Join(home, "outdir")))                                    // escaping dir
	must(t, os.Symlink(filepath.Join(base, "outside", "resume-outside.txt"), filepath.Join(home, "resume-link-out.txt"))) // escaping file
	must(t, os.Symlink("Résumé.TXT", filepath.Join(home, "resume-link-in.txt")))                                          // fine
	return base, home
}

func TestSearch(t *testing.T) {
	_, home := searchHome(t)
	m := systemMIME(t)
	ctx := context.Background()
	got, err := Search(ctx, home, "resume", 0, m)
	must(t, err)
	want := []Match{
		{"Résumé.TXT", "text/plain"},
		{"docs/deep/er/old resume draft.txt", "text/plain"},
		{"docs/resume-2024.pdf", "application/pdf"},
		{"resume-link-in.txt", "text/plain"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Search(resume) =\n%q\nwant\n%q", got, want)
	}
	// AND of keywords, case and accents folded on both sides.
	got, err = Search(ctx, home, "  RÉSUMÉ   Draft ", 10, nil)
	must(t, err)
	if len(got) != 1 || got[0].File != "docs/deep/er/old resume draft.txt" || got[0].Mime != "" {
		t.Errorf("AND search: %q", got)
	}
	// max respected exactly.
	for max := 1; max <= 4; max++ {
		got, err := Search(ctx, home, "resume", max, nil)
		must(t, err)
		if len(got) != max {
			t.Errorf("max=%d: %d results", max, len(got))
		}
	}
	if got, _ := Search(ctx, home, "nothing-matches", 5, nil); got == nil || len(got) != 0 {
		t.Errorf("no match: %#v", got)
	}
	var ie *InputError
	if _, err := Search(ctx, home, "   ", 5, nil); !errors.As(err, &ie) {
		t.Errorf("empty keywords: %v", err)
	}
	if _, err := Search(ctx, "relative", "x", 5, nil); err == nil {
		t.Error("relative home accepted")
	}
}

func TestSearchLimitsAndCancel(t *testing.T) {
	home := t.TempDir()
	for i := 0; i < 1100; i++ {
		writeFile(t, filepath.Join(home, fmt.Sprintf("d%d", i%7), fmt.Sprintf("file-%04d.txt", i)), nil)
	}
	ctx := context.Background()
	for _, c := range []struct{ max, want int }{{0, DefaultMaxFiles}, {-3, DefaultMaxFiles}, {64, 64}, {999, 999}, {1000, 1000}, {5000, MaxMaxFiles}} {
		got, err := Search(ctx, home, "file", c.max, nil)
		must(t, err)
		if len(got) != c.want {
			t.Errorf("max=%d: %d results, want %d", c.max, len(got), c.want)
		}
	}
	a, _ := Search(ctx, home, "file", 100, nil)
	b, _ := Search(ctx, home, "file", 100, nil)
	if !reflect.DeepEqual(a, b) || a[0].File != "d0/file-0000.txt" {
		t.Errorf("not deterministic or not in walk order: %q", a[:1])
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Search(cctx, home, "file", 10, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	tctx, cancel2 := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel2()
	time.Sleep(time.Millisecond)
	if _, err := Search(tctx, home, "file", 10, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{"Résumé": "resume", "ÅNGSTRÖM": "angstrom", "ﬁle": "file", "Straße": "strasse", "Ça": "ca"} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}
