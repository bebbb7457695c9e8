package auth

import (
	"math"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
)

// ThrottleOptions tune login throttling; zero values take the defaults.
type ThrottleOptions struct {
	// Free is how many failures in a row cost nothing; each further one starts a backoff (default 5).
	Free int
	// Base is the first backoff (default 1 s); each further failure doubles it, up to Max (default 15 min).
	Base, Max time.Duration
	// Forget is how long a quiet key is remembered (default 1 h).
	Forget time.Duration
}

// Throttle counts failed logins per account and per client address, and refuses further tries during
// an exponential backoff once Free failures have happened. State lives in memory, per process.
type Throttle struct {
	o   ThrottleOptions
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*failures
}

type failures struct {
	n     int
	until time.Time
	last  time.Time
}

// NewThrottle returns a throttle with the given options and clock.
func NewThrottle(o ThrottleOptions, now func() time.Time) *Throttle {
	if o.Free == 0 {
		o.Free = 5
	}
	if o.Base == 0 {
		o.Base = time.Second
	}
	if o.Max == 0 {
		o.Max = 15 * time.Minute
	}
	if o.Forget == 0 {
		o.Forget = time.Hour
	}
	return &Throttle{o: o, now: now, m: map[string]*failures{}}
}

func keys(login, remote string) []string {
	var k []string
	if login != "" {
		k = append(k, "login:"+login)
	}
	if remote != "" {
		k = append(k, "addr:"+remote)
	}
	return k
}

// Check refuses a try while the account or the address is backing off: a 429 with Retry-After.
func (t *Throttle) Check(login, remote string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys(login, remote) {
		if f := t.m[k]; f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	if wait <= 0 {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	e := fault.New(fault.TooMany, "too many failed logins; try again in %d seconds", secs)
	e.RetryAfter = secs
	return e
}

// Fail records a failed try.
func (t *Throttle) Fail(login, remote string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys(login, remote) {
		f := t.m[k]
		if f == nil || now.Sub(f.last) > t.o.Forget {
			f = &failures{}
			t.m[k] = f
		}
		f.n++
		f.last = now
		if over := f.n - t.o.Free - 1; over >= 0 {
			d := t.o.Base << min(over, 30)
			if d > t.o.Max || d <= 0 {
				d = t.o.Max
			}
			f.until = now.Add(d)
		}
	}
	if len(t.m) > 100_000 { // bound memory under a spray of addresses
		for k, f := range t.m {
			if now.Sub(f.last) > t.o.Forget || now.After(f.until) {
				delete(t.m, k)
			}
		}
	}
}

// Succeed forgets the account's failures (the address keeps its record: one good password must not
// clear a spray against other accounts).
func (t *Throttle) Succeed(login, _ string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, "login:"+login)
}
