package sqlstore

import (
	"context"
	"sync"
)

// versionGate shares the backend's change-version reads between concurrent callers without ever
// answering one a value read before it asked: a caller that finds a read in flight (begun before it
// came) waits for the next read, which begins once that one is done and serves everyone who came in
// the meantime. Under load a read thus serves a whole round of callers — one PostgreSQL round trip, or
// one PRAGMA, instead of one per call — and each caller still gets a value read after its call began,
// which is all store.Versioner promises.
type versionGate struct {
	read func(ctx context.Context) (uint64, error)

	mu       sync.Mutex
	inflight *versionRound // the read under way
	next     *versionRound // the read that begins when inflight is done; callers that came meanwhile wait for it
}

type versionRound struct {
	done chan struct{}
	v    uint64
	err  error
}

func (g *versionGate) version(ctx context.Context) (uint64, error) {
	g.mu.Lock()
	if g.inflight == nil {
		r := &versionRound{done: make(chan struct{})}
		g.inflight = r
		g.mu.Unlock()
		g.run(ctx, r)
		return r.v, r.err
	}
	prev, r := g.inflight, g.next
	leader := r == nil
	if leader {
		r = &versionRound{done: make(chan struct{})}
		g.next = r
	}
	g.mu.Unlock()
	if leader {
		<-prev.done
		g.mu.Lock()
		g.inflight, g.next = r, nil
		g.mu.Unlock()
		g.run(ctx, r)
	} else {
		<-r.done
	}
	return r.v, r.err
}

// run reads the version for round r (begun now) and hands it to r's callers.
func (g *versionGate) run(ctx context.Context, r *versionRound) {
	r.v, r.err = g.read(ctx)
	g.mu.Lock()
	if g.inflight == r {
		g.inflight = nil
	}
	g.mu.Unlock()
	close(r.done)
}
