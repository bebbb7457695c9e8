package xdesk

import (
	"fmt"
	"time"
)

// Restarts is the restart budget of one supervised program: at most Max restarts within any Window,
// each after a delay that doubles with the restarts still in the window (Base, 2·Base, … up to Cap).
// The zero value allows 5 restarts a minute, from 250 ms up to 5 s apart. Not safe for concurrent use.
type Restarts struct {
	Max    int
	Window time.Duration
	Base   time.Duration
	Cap    time.Duration

	times []time.Time
}

// Next records a restart at now. It answers how long to wait before starting the program again, or,
// when the program already restarted Max times within Window, an error saying so.
func (r *Restarts) Next(now time.Time) (time.Duration, error) {
	max, window, base, limit := r.Max, r.Window, r.Base, r.Cap
	if max <= 0 {
		max = 5
	}
	if window <= 0 {
		window = time.Minute
	}
	if base <= 0 {
		base = 250 * time.Millisecond
	}
	if limit <= 0 {
		limit = 5 * time.Second
	}
	kept := r.times[:0]
	for _, t := range r.times {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	r.times = kept
	if len(r.times) >= max {
		return 0, fmt.Errorf("it exited %d times within %s", len(r.times)+1, window)
	}
	d := base
	for i := 0; i < len(r.times) && d < limit; i++ {
		d *= 2
	}
	r.times = append(r.times, now)
	return min(d, limit), nil
}
