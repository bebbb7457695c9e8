package auth

import (
	"container/list"
	"context"
	"math"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/httpapi"
)

// HashQueueOptions tune a HashQueue; zero values take the defaults.
type HashQueueOptions struct {
	// Workers is how many computations run at once (default GOMAXPROCS / argon2id lanes, at least 1:
	// one argon2id computation already keeps argonThreads cores busy, and each holds 64 MiB).
	Workers int
	// MaxWait bounds the wait for a turn (default 5 s): a caller whose expected wait is longer is
	// refused at once, and one still waiting after MaxWait gives up; both get a 503 with Retry-After.
	MaxWait time.Duration
	// MaxQueue bounds how many callers wait (default 256).
	MaxQueue int
}

// HashQueue runs password hash computations (argon2id) a bounded number at a time, in arrival order.
// A waiting caller is handed the slot of the computation that finishes (no thundering herd of waiters
// racing for a semaphore), and a caller may be refused at its turn, before any hashing, by an admit
// check (the login throttle, whose verdict may have changed while it waited).
type HashQueue struct {
	o       HashQueueOptions
	mu      sync.Mutex
	running int
	waiting list.List     // of *turn, oldest first
	avg     time.Duration // moving average of one computation
	done    int64         // computations run (tests)
}

// turn is one waiting caller; granted (under the queue's lock) means a slot was handed to it.
type turn struct {
	ready   chan struct{}
	granted bool
}

// NewHashQueue returns a queue with the options' defaults filled in.
func NewHashQueue(o HashQueueOptions) *HashQueue {
	if o.Workers <= 0 {
		o.Workers = max(1, runtime.GOMAXPROCS(0)/argonThreads)
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Second
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 256
	}
	return &HashQueue{o: o, avg: 100 * time.Millisecond}
}

// Options returns the options in force.
func (q *HashQueue) Options() HashQueueOptions { return q.o }

// Done is how many computations the queue has run.
func (q *HashQueue) Done() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.done
}

// Do waits for a turn, runs admit (nil: none) and, if it lets the caller in, fn. It answers admit's
// error, a 503 when the queue is too long, or the context's error.
func (q *HashQueue) Do(ctx context.Context, admit func() error, fn func()) error {
	if err := q.acquire(ctx); err != nil {
		return err
	}
	defer q.release()
	if admit != nil {
		if err := admit(); err != nil {
			return err
		}
	}
	start := time.Now()
	fn()
	q.observe(time.Since(start))
	return nil
}

func (q *HashQueue) acquire(ctx context.Context) error {
	q.mu.Lock()
	if q.running < q.o.Workers && q.waiting.Len() == 0 {
		q.running++
		q.mu.Unlock()
		return nil
	}
	// Expected wait: everyone ahead, plus the ones running, shared by the workers.
	expect := time.Duration(q.waiting.Len()+1) * q.avg / time.Duration(q.o.Workers)
	if q.waiting.Len() >= q.o.MaxQueue || expect > q.o.MaxWait {
		q.mu.Unlock()
		return busy(expect - q.o.MaxWait)
	}
	t := &turn{ready: make(chan struct{})}
	el := q.waiting.PushBack(t)
	q.mu.Unlock()

	timer := time.NewTimer(q.o.MaxWait)
	defer timer.Stop()
	var err error
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = busy(time.Second)
	}
	q.mu.Lock()
	if t.granted { // the slot came as we gave up: pass it on
		q.mu.Unlock()
		q.release()
		return err
	}
	q.waiting.Remove(el)
	q.mu.Unlock()
	return err
}

// release hands the slot to the oldest waiter, or frees it.
func (q *HashQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if el := q.waiting.Front(); el != nil {
		t := q.waiting.Remove(el).(*turn)
		t.granted = true
		close(t.ready)
		return
	}
	q.running--
}

func (q *HashQueue) observe(d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done++
	q.avg += (d - q.avg) / 8
}

// busy is the 503 of a full queue; Retry-After is at least a second.
func busy(after time.Duration) error {
	secs := max(1, int(math.Ceil(after.Seconds())))
	e := httpapi.Errorf(http.StatusServiceUnavailable, "too many logins at once; try again in %d seconds", secs)
	e.RetryAfter = secs
	return e
}
