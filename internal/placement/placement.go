// Package placement chooses the server a new session starts on, among candidates that report their
// load: the strategies the FastX broker offers — fewest sessions, most free memory, round robin. The
// strategies are pure functions of the candidates (round robin also of the server it chose last), so
// they are tested as tables; gathering the candidates is the caller's.
package placement

import (
	"cmp"
	"errors"
	"slices"
	"sync"

	"github.com/deskhub/deskhub/internal/provider"
)

// Candidate is a server a session could start on, with what it reports.
type Candidate struct {
	ServerID string
	Load     provider.Load
}

// Strategy picks one of the candidates.
type Strategy interface {
	// Pick returns the index in cands of the chosen candidate; cands is not empty.
	Pick(cands []Candidate) int
}

// StrategyFunc is a stateless Strategy.
type StrategyFunc func(cands []Candidate) int

// Pick implements Strategy.
func (f StrategyFunc) Pick(cands []Candidate) int { return f(cands) }

// ErrNoCandidate: there is no server to start on.
var ErrNoCandidate = errors.New("no server can take a session")

// Choose is the candidate s picks.
func Choose(s Strategy, cands []Candidate) (Candidate, error) {
	if len(cands) == 0 {
		return Candidate{}, ErrNoCandidate
	}
	i := s.Pick(cands)
	if i < 0 || i >= len(cands) {
		i = 0
	}
	return cands[i], nil
}

// best is the index of the candidate that better ranks first, ties going to the smaller server id.
func best(cands []Candidate, better func(a, b Candidate) int) int {
	bi := 0
	for i, c := range cands[1:] {
		b := cands[bi]
		if r := better(c, b); r < 0 || (r == 0 && c.ServerID < b.ServerID) {
			bi = i + 1
		}
	}
	return bi
}

// FewestSessions picks the server that runs the fewest sessions.
var FewestSessions Strategy = StrategyFunc(func(cands []Candidate) int {
	return best(cands, func(a, b Candidate) int { return cmp.Compare(a.Load.Sessions, b.Load.Sessions) })
})

// MostFreeMemory picks the server with the most memory available.
var MostFreeMemory Strategy = StrategyFunc(func(cands []Candidate) int {
	return best(cands, func(a, b Candidate) int { return cmp.Compare(b.Load.FreeMemory, a.Load.FreeMemory) })
})

// Next is round robin as a pure function: the candidate whose server id follows last in server id
// order, wrapping around (the first one when last is "" or gone past the end).
func Next(cands []Candidate, last string) int {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(cands[a].ServerID, cands[b].ServerID) })
	for _, i := range order {
		if cands[i].ServerID > last {
			return i
		}
	}
	return order[0]
}

// RoundRobin takes the servers in turn (in server id order, so servers coming and going do not reset
// the turn). Its zero value is ready; it is safe for concurrent use.
type RoundRobin struct {
	mu   sync.Mutex
	last string
}

// Pick implements Strategy.
func (r *RoundRobin) Pick(cands []Candidate) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := Next(cands, r.last)
	r.last = cands[i].ServerID
	return i
}

// ByName is the strategy of a name as FastX configuration spells it: "fewest-sessions" (also the
// default, for ""), "most-free-memory", "round-robin"; ok is false for another name.
func ByName(name string) (s Strategy, ok bool) {
	switch name {
	case "", "fewest-sessions":
		return FewestSessions, true
	case "most-free-memory":
		return MostFreeMemory, true
	case "round-robin":
		return &RoundRobin{}, true
	}
	return nil, false
}
