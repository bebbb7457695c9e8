package sqlstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVersionGate: concurrent callers share reads, and every caller gets a value from a read that
// began after its call did.
func TestVersionGate(t *testing.T) {
	var started atomic.Uint64
	g := &versionGate{read: func(context.Context) (uint64, error) {
		n := started.Add(1) // this read's number: reads begun so far
		time.Sleep(200 * time.Microsecond)
		return n, nil
	}}
	var wg sync.WaitGroup
	const callers, calls = 16, 300
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				before := started.Load() // reads begun before this call
				v, err := g.version(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if v <= before {
					t.Errorf("a call after %d reads had begun got read %d's value", before, v)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d calls, %d reads", callers*calls, started.Load())
	if started.Load() >= callers*calls {
		t.Errorf("%d reads for %d calls: none shared", started.Load(), callers*calls)
	}
}
