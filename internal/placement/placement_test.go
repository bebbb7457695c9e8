package placement

import (
	"slices"
	"sync"
	"testing"

	"github.com/deskhub/deskhub/internal/provider"
)

func cand(id string, sessions int, free int64) Candidate {
	return Candidate{ServerID: id, Load: provider.Load{Sessions: sessions, FreeMemory: free}}
}

func TestStrategies(t *testing.T) {
	a, b, c := cand("a", 3, 4<<30), cand("b", 1, 2<<30), cand("c", 1, 8<<30)
	for _, tc := range []struct {
		name  string
		s     Strategy
		cands []Candidate
		want  string
	}{
		{"fewest: one", FewestSessions, []Candidate{a}, "a"},
		{"fewest", FewestSessions, []Candidate{a, c}, "c"},
		{"fewest: tie to the smaller id", FewestSessions, []Candidate{a, c, b}, "b"},
		{"fewest: all idle", FewestSessions, []Candidate{cand("z", 0, 0), cand("y", 0, 0)}, "y"},
		{"memory: one", MostFreeMemory, []Candidate{b}, "b"},
		{"memory", MostFreeMemory, []Candidate{a, b, c}, "c"},
		{"memory: tie to the smaller id", MostFreeMemory, []Candidate{cand("q", 5, 1<<30), cand("p", 0, 1<<30)}, "p"},
		{"memory: unknown (0) loses", MostFreeMemory, []Candidate{cand("a", 0, 0), cand("b", 9, 1)}, "b"},
	} {
		got, err := Choose(tc.s, tc.cands)
		if err != nil || got.ServerID != tc.want {
			t.Errorf("%s: chose %q, %v; want %q", tc.name, got.ServerID, err, tc.want)
		}
	}
}

func TestNext(t *testing.T) {
	cands := []Candidate{cand("b", 0, 0), cand("c", 0, 0), cand("a", 0, 0)}
	for _, tc := range []struct{ last, want string }{
		{"", "a"}, {"a", "b"}, {"b", "c"}, {"c", "a"}, {"bb", "c"}, {"zz", "a"},
	} {
		if got := cands[Next(cands, tc.last)].ServerID; got != tc.want {
			t.Errorf("Next after %q = %q, want %q", tc.last, got, tc.want)
		}
	}
	if got := Next([]Candidate{cand("only", 0, 0)}, "only"); got != 0 {
		t.Errorf("one candidate: %d", got)
	}
}

func TestRoundRobin(t *testing.T) {
	var rr RoundRobin
	cands := []Candidate{cand("s2", 0, 0), cand("s1", 0, 0), cand("s3", 0, 0)}
	var got []string
	for range 5 {
		c, _ := Choose(&rr, cands)
		got = append(got, c.ServerID)
	}
	if want := []string{"s1", "s2", "s3", "s1", "s2"}; !slices.Equal(got, want) {
		t.Fatalf("turns %v, want %v", got, want)
	}
	// A server going away keeps the turn where it was.
	c, _ := Choose(&rr, []Candidate{cand("s1", 0, 0), cand("s2", 0, 0)})
	if c.ServerID != "s1" {
		t.Fatalf("after s2 without s3: %s", c.ServerID)
	}
	// Safe for concurrent use.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = Choose(&rr, cands) })
	}
	wg.Wait()
}

func TestChooseNone(t *testing.T) {
	if _, err := Choose(FewestSessions, nil); err != ErrNoCandidate {
		t.Fatalf("no candidates: %v", err)
	}
}

func TestByName(t *testing.T) {
	for _, n := range []string{"", "fewest-sessions", "most-free-memory", "round-robin"} {
		if s, ok := ByName(n); !ok || s == nil {
			t.Errorf("ByName(%q) = %v, %v", n, s, ok)
		}
	}
	if _, ok := ByName("random"); ok {
		t.Error("ByName(random) ok")
	}
}
