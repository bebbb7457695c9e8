package auth

import (
	"container/list"
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
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
	// IdleTrim is how long the queue must stay idle before the memory of the computations (64 MiB
	// each, garbage once they end) is handed back to the operating system (default 500 ms; negative:
	// never, leaving it to the Go runtime's slow scavenger, which keeps an idle broker ~64 MiB larger).
	IdleTrim time.Duration
}

// HashQueue runs password hash computations (argon2id) a bounded number at a time, fairly: callers
// wait in one line per key (the client address), served in arrival order within a line and in turn
// across lines. A waiting caller is handed the slot of the computation that finishes (no thundering
// herd of waiters racing for a semaphore), and a caller may be refused at its turn, before any
// hashing, by an admit check (the login throttle, whose verdict may have changed while it waited).
//
// Why a line per address rather than one line: a flood of logins from one address, all arriving before
// any has failed (so before the throttle can stop them), would otherwise stand between every other
// login and its hash; with a line each, a login from elsewhere waits for at most one computation per
// address ahead of it in the round, and the flood's own line is refused at its turns once the throttle
// has seen its first failures.
type HashQueue struct {
	o       HashQueueOptions
	mu      sync.Mutex
	running int
	lines   map[string]*list.List // key → waiting *turn, oldest first
	ring    []string              // keys with waiters, in serving order
	next    int                   // index in ring of the line served next
	waiting int
	retryAt time.Time     // when the last caller refused for a long wait was told to come back
	avg     time.Duration // moving average of one computation
	done    int64         // computations run (tests)
	trim    func()        // hands freed memory back (debug.FreeOSMemory; tests count calls)
	collect func()        // frees a finished computation's memory before the next one (runtime.GC)
	idle    *time.Timer   // runs trim once the queue has been idle for IdleTrim
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
	if o.IdleTrim == 0 {
		o.IdleTrim = 500 * time.Millisecond
	}
	return &HashQueue{o: o, avg: 100 * time.Millisecond, lines: map[string]*list.List{}, trim: debug.FreeOSMemory,
		collect: runtime.GC}
}

// Options returns the options in force.
func (q *HashQueue) Options() HashQueueOptions { return q.o }

// Done is how many computations the queue has run.
func (q *HashQueue) Done() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.done
}

// Do waits for a turn in key's line, runs admit (nil: none) and, if it lets the caller in, fn. It
// answers admit's error, a 503 when the wait would be too long, or the context's error.
func (q *HashQueue) Do(ctx context.Context, key string, admit func() error, fn func()) error {
	if err := q.acquire(ctx, key); err != nil {
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
	// In a burst, the next computation would allocate its 64 MiB while this one's are garbage the
	// collector has not reached yet (it waits for the heap to double), so a burst of n logins grew the
	// heap — and the RSS — by up to n × 64 MiB. Collecting now (~1 ms next to a ~70 ms computation)
	// lets the next one reuse the same memory: a burst holds Workers × 64 MiB at most.
	q.mu.Lock()
	waiting := q.waiting > 0
	q.mu.Unlock()
	if waiting {
		q.collect()
	}
	return nil
}

func (q *HashQueue) acquire(ctx context.Context, key string) error {
	q.mu.Lock()
	if q.running < q.o.Workers && q.waiting == 0 {
		q.running++
		q.mu.Unlock()
		return nil
	}
	line := q.lines[key]
	ahead, lines := 0, len(q.ring)
	if line != nil {
		ahead = line.Len()
	} else {
		lines++
	}
	// Expected wait: a full round of the lines for each caller ahead in this one, and this round.
	expect := time.Duration(min(q.waiting+1, (ahead+1)*lines)) * q.avg / time.Duration(q.o.Workers)
	if q.waiting >= q.o.MaxQueue || expect > q.o.MaxWait {
		err := busy(q.retryAfter(expect - q.o.MaxWait))
		q.mu.Unlock()
		return err
	}
	if line == nil {
		line = list.New()
		q.lines[key] = line
		q.ring = append(q.ring, key)
	}
	t := &turn{ready: make(chan struct{})}
	el := line.PushBack(t)
	q.waiting++
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
	line.Remove(el)
	q.waiting--
	if line.Len() == 0 {
		q.dropLine(key)
	}
	q.mu.Unlock()
	return err
}

// retryAfter is how long a refused caller should stay away: until the line would take it within the
// wait limit, and after the callers refused before it, one computation apart — so that a burst of
// refused callers comes back at the pace the queue serves, not all at once to be refused again.
// Called under the lock.
func (q *HashQueue) retryAfter(short time.Duration) time.Duration {
	now := time.Now()
	at := now.Add(short)
	if q.retryAt.After(at) {
		at = q.retryAt
	}
	q.retryAt = at.Add(q.avg / time.Duration(q.o.Workers))
	return at.Sub(now)
}

// release hands the slot to the head of the next line in the round, or frees it.
func (q *HashQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting == 0 {
		q.running--
		if q.running == 0 && q.o.IdleTrim > 0 {
			q.armTrim()
		}
		return
	}
	q.next %= len(q.ring)
	key := q.ring[q.next]
	line := q.lines[key]
	t := line.Remove(line.Front()).(*turn)
	q.waiting--
	if line.Len() == 0 {
		q.dropLine(key) // the next line moves into this index
	} else {
		q.next++
	}
	t.granted = true
	close(t.ready)
}

// armTrim (under the lock) schedules trim for when the queue has stayed idle for IdleTrim; a new
// computation meanwhile postpones it to the next idle moment.
func (q *HashQueue) armTrim() {
	if q.idle != nil {
		q.idle.Reset(q.o.IdleTrim)
		return
	}
	q.idle = time.AfterFunc(q.o.IdleTrim, func() {
		q.mu.Lock()
		busy := q.running > 0
		q.mu.Unlock()
		if !busy {
			q.trim()
		}
	})
}

// dropLine forgets an empty line, keeping the round's position.
func (q *HashQueue) dropLine(key string) {
	delete(q.lines, key)
	i := slices.Index(q.ring, key)
	q.ring = slices.Delete(q.ring, i, i+1)
	if i < q.next {
		q.next--
	}
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
	e := fault.New(fault.Unavailable, "too many logins at once; try again in %d seconds", secs)
	e.RetryAfter = secs
	return e
}
