package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// occupy takes the queue's only worker until the returned func is called.
func occupy(t *testing.T, q *HashQueue) func() {
	t.Helper()
	started, release := make(chan struct{}), make(chan struct{})
	go func() { _ = q.Do(context.Background(), "", nil, func() { close(started); <-release }) }()
	<-started
	return func() { close(release) }
}

// waitQueued waits until n callers wait on q.
func waitQueued(t *testing.T, q *HashQueue, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		q.mu.Lock()
		l := q.waiting
		q.mu.Unlock()
		if l == n {
			return
		}
	}
	t.Fatalf("%d callers never queued", n)
}

func TestHashQueueRunsInArrivalOrder(t *testing.T) {
	q := NewHashQueue(HashQueueOptions{Workers: 1})
	free := occupy(t, q)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Do(context.Background(), "", nil, func() { mu.Lock(); order = append(order, i); mu.Unlock() }); err != nil {
				t.Error(err)
			}
		}()
		waitQueued(t, q, i+1) // arrival order is known
	}
	free()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("ran in order %v, want arrival order", order)
		}
	}
}

// TestHashQueueServesLinesInTurn: a long line (a flood from one address) does not stand between a
// caller of another line and its turn.
func TestHashQueueServesLinesInTurn(t *testing.T) {
	q := NewHashQueue(HashQueueOptions{Workers: 1})
	free := occupy(t, q)
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	arrivals := []string{"a1", "a2", "a3", "a4", "b1", "c1", "b2"}
	for i, name := range arrivals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = q.Do(context.Background(), name[:1], nil, func() { mu.Lock(); order = append(order, name); mu.Unlock() })
		}()
		waitQueued(t, q, i+1)
	}
	free()
	wg.Wait()
	if got, want := strings.Join(order, " "), "a1 b1 c1 a2 b2 a3 a4"; got != want {
		t.Fatalf("served %s, want %s", got, want)
	}
	if len(q.lines) != 0 || len(q.ring) != 0 {
		t.Fatalf("lines left behind: %v %v", q.lines, q.ring)
	}
}

func TestHashQueueBoundsConcurrency(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			q := NewHashQueue(HashQueueOptions{Workers: workers})
			var now, peak atomic.Int64
			var wg sync.WaitGroup
			for range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = q.Do(context.Background(), "", nil, func() {
						n := now.Add(1)
						for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
						}
						time.Sleep(2 * time.Millisecond)
						now.Add(-1)
					})
				}()
			}
			wg.Wait()
			if peak.Load() != int64(workers) || q.Done() != 30 {
				t.Fatalf("peak %d at once (want %d), %d done (want 30)", peak.Load(), workers, q.Done())
			}
		})
	}
}

func TestHashQueueWaitLimit(t *testing.T) {
	status := func(err error) (int, int) {
		var e *fault.Error
		if !errors.As(err, &e) {
			return 0, 0
		}
		return kindStatus[e.Kind], e.RetryAfter
	}
	t.Run("a full queue refuses at once", func(t *testing.T) {
		q := NewHashQueue(HashQueueOptions{Workers: 1, MaxQueue: 2, MaxWait: time.Minute})
		free := occupy(t, q)
		defer free()
		for range 2 {
			go func() { _ = q.Do(context.Background(), "", nil, func() {}) }()
		}
		waitQueued(t, q, 2)
		start := time.Now()
		err := q.Do(context.Background(), "", nil, func() { t.Error("ran past a full queue") })
		// At once: not after the minute MaxWait allows (the bound is loose, for a loaded machine).
		if s, ra := status(err); s != http.StatusServiceUnavailable || ra < 1 || time.Since(start) > 10*time.Second {
			t.Fatalf("%v (status %d, Retry-After %d) after %s", err, s, ra, time.Since(start))
		}
	})
	t.Run("an expected wait over the limit refuses at once", func(t *testing.T) {
		q := NewHashQueue(HashQueueOptions{Workers: 1, MaxWait: 250 * time.Millisecond})
		q.avg = 100 * time.Millisecond
		free := occupy(t, q)
		defer free()
		for range 2 {
			go func() { _ = q.Do(context.Background(), "", nil, func() {}) }()
		}
		waitQueued(t, q, 2) // third in line: 300 ms expected
		if s, _ := status(q.Do(context.Background(), "", nil, func() {})); s != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", s)
		}
	})
	t.Run("refused callers are told to come back at the queue's pace", func(t *testing.T) {
		q := NewHashQueue(HashQueueOptions{Workers: 1, MaxWait: 250 * time.Millisecond})
		q.avg = 100 * time.Millisecond
		free := occupy(t, q)
		defer free()
		for range 2 {
			go func() { _ = q.Do(context.Background(), "", nil, func() {}) }()
		}
		waitQueued(t, q, 2)
		var last int
		for i := range 30 { // 100 ms apart: the 30th comes back 3 s after the first
			s, ra := status(q.Do(context.Background(), "", nil, func() {}))
			if s != http.StatusServiceUnavailable || ra < last {
				t.Fatalf("refusal %d: status %d, Retry-After %d after %d", i, s, ra, last)
			}
			last = ra
		}
		if last < 3 || last > 4 {
			t.Fatalf("the 30th refused caller comes back after %d s, want 3–4", last)
		}
	})
	t.Run("a waiter gives up after the limit and leaves the line", func(t *testing.T) {
		q := NewHashQueue(HashQueueOptions{Workers: 1, MaxWait: 200 * time.Millisecond})
		q.avg = time.Millisecond
		free := occupy(t, q)
		start := time.Now()
		err := q.Do(context.Background(), "", nil, func() { t.Error("ran after giving up") })
		if s, _ := status(err); s != http.StatusServiceUnavailable || time.Since(start) < 200*time.Millisecond {
			t.Fatalf("%v after %s", err, time.Since(start))
		}
		waitQueued(t, q, 0)
		free()
		if err := q.Do(context.Background(), "", nil, func() {}); err != nil { // the slot was not lost
			t.Fatal(err)
		}
	})
	t.Run("a cancelled waiter leaves the line", func(t *testing.T) {
		q := NewHashQueue(HashQueueOptions{Workers: 1})
		free := occupy(t, q)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() { errc <- q.Do(ctx, "", nil, func() { t.Error("ran after cancel") }) }()
		waitQueued(t, q, 1)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		free()
		if err := q.Do(context.Background(), "", nil, func() {}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestHashQueueAdmitRefusesBeforeWork(t *testing.T) {
	q := NewHashQueue(HashQueueOptions{Workers: 1})
	no := fault.New(fault.TooMany, "no")
	if err := q.Do(context.Background(), "", func() error { return no }, func() { t.Error("ran although refused") }); err != no {
		t.Fatalf("got %v", err)
	}
	if q.Done() != 0 {
		t.Fatal("a refused caller was counted as a computation")
	}
	if err := q.Do(context.Background(), "", nil, func() {}); err != nil { // its slot was freed
		t.Fatal(err)
	}
}

// TestLoginFloodIsThrottledBeforeTheHash: 100 concurrent wrong logins (half for unknown accounts) from
// one address all pass the throttle on arrival; at their turn the throttle refuses all but the first
// few, before hashing. A genuine login from another address, arriving behind the whole flood, has its
// turn after one of the flood's hashes, not a hundred (nor the four the throttle lets through).
func TestLoginFloodIsThrottledBeforeTheHash(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/deskhub.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, login := range []string{"alice", "bob"} {
		u, err := NewLocalUser(login, login+"@example.org", "correct horse battery", false)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
	}
	q := NewHashQueue(HashQueueOptions{Workers: 1, MaxWait: time.Minute})
	svc := New(Options{Store: st, Hashes: q, Throttle: ThrottleOptions{Free: 3, Base: time.Minute}})
	free := occupy(t, q) // hold the queue so that the whole flood is in line before any hash
	var statuses sync.Map
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			login := "alice"
			if i%2 == 1 {
				login = fmt.Sprintf("nobody-%d", i)
			}
			_, err := svc.CheckLoginPassword(ctx, login, "wrong password", "198.51.100.7")
			var e *fault.Error
			status := http.StatusUnauthorized
			if errors.As(err, &e) {
				status = kindStatus[e.Kind]
			}
			n, _ := statuses.LoadOrStore(status, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}()
	}
	waitQueued(t, q, 100)
	genuine := make(chan error)
	var doneThen int64
	go func() {
		_, err := svc.CheckLoginPassword(ctx, "bob", "correct horse battery", "203.0.113.9")
		doneThen = q.Done()
		genuine <- err
	}()
	waitQueued(t, q, 101)
	free()
	if err := <-genuine; err != nil {
		t.Fatalf("genuine login: %v", err)
	}
	if doneThen > 3 { // occupy's, one of the flood's, its own
		t.Fatalf("the genuine login finished after %d computations, want 3", doneThen)
	}
	wg.Wait()
	count := func(status int) int64 {
		n, ok := statuses.Load(status)
		if !ok {
			return 0
		}
		return n.(*atomic.Int64).Load()
	}
	// Free failures, then the one that starts the backoff; everything after is refused unhashed.
	if count(401) != 4 || count(429) != 96 {
		t.Fatalf("flood answers: %d × 401, %d × 429; want 4 and 96", count(401), count(429))
	}
	if done := q.Done(); done != 5+1 { // occupy's, 4 flood hashes, the genuine one
		t.Fatalf("%d computations, want 6", done)
	}
}

// kindStatus is the status internal/httpapi answers each kind of error the queue and the throttle give.
var kindStatus = map[fault.Kind]int{fault.TooMany: http.StatusTooManyRequests, fault.Unavailable: http.StatusServiceUnavailable,
	fault.Unauthorized: http.StatusUnauthorized}

// TestIdleTrim: the computations' memory is handed back once the queue has stayed idle, once per idle
// moment (not after every computation of a burst), and never when IdleTrim is negative.
func TestIdleTrim(t *testing.T) {
	for _, tc := range []struct {
		trim time.Duration
		want [2]int32
	}{{20 * time.Millisecond, [2]int32{1, 2}}, {-1, [2]int32{0, 0}}} {
		q := NewHashQueue(HashQueueOptions{Workers: 1, IdleTrim: tc.trim})
		var n atomic.Int32
		q.trim = func() { n.Add(1) }
		burst := func() {
			for range 3 {
				if err := q.Do(context.Background(), "a", nil, func() {}); err != nil {
					t.Fatal(err)
				}
			}
		}
		burst()
		time.Sleep(150 * time.Millisecond)
		if got := n.Load(); got != tc.want[0] {
			t.Errorf("IdleTrim %v: %d trims after one burst, want %d", tc.trim, got, tc.want[0])
		}
		burst()
		time.Sleep(150 * time.Millisecond)
		if got := n.Load(); got != tc.want[1] {
			t.Errorf("IdleTrim %v: %d trims after two bursts, want %d", tc.trim, got, tc.want[1])
		}
	}
}

// TestCollectInBurst: in a burst, a finished computation's memory is collected before the next one
// starts (so the burst does not stack 64 MiB per login); with nobody waiting it is left to the idle trim.
func TestCollectInBurst(t *testing.T) {
	q := NewHashQueue(HashQueueOptions{Workers: 1, IdleTrim: -1})
	var collected atomic.Int32
	q.collect = func() { collected.Add(1) }
	if err := q.Do(context.Background(), "a", nil, func() {}); err != nil {
		t.Fatal(err)
	}
	if got := collected.Load(); got != 0 {
		t.Fatalf("%d collections for a lone computation, want 0", got)
	}
	// Three callers at once: the first two finish with someone waiting.
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.Do(context.Background(), fmt.Sprint("k", i), nil, func() { <-release }); err != nil {
				t.Error(err)
			}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		q.mu.Lock()
		w := q.waiting
		q.mu.Unlock()
		if w == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want 2", w)
		}
	}
	close(release)
	wg.Wait()
	if got := collected.Load(); got != 2 {
		t.Fatalf("%d collections in a burst of 3, want 2", got)
	}
}
