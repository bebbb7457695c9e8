package imagebuild

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Event is a step of a build starting, going on or finishing.
type Event struct {
	Step, Steps int
	Name        string        // "installing packages (offline)"
	Elapsed     time.Duration // since the step started
	Done        bool
	In, Out     int64  // bytes (compressing: tar stream in, compressed out); 0 when not known
	Note        string // a word after the step: "cached", "downloaded 179.2 MiB"
}

// String renders the event as one status line: "[5/6] compressing 183.4 MiB → 61.2 MiB 0m41s".
func (e Event) String() string {
	s := fmt.Sprintf("[%d/%d] %s", e.Step, e.Steps, e.Name)
	switch {
	case e.In > 0 && e.Out > 0:
		s += fmt.Sprintf(" %s → %s", MiB(e.In), MiB(e.Out))
	case e.In > 0:
		s += " " + MiB(e.In)
	}
	if e.Note != "" {
		s += " " + e.Note
	}
	return s + " " + clock(e.Elapsed)
}

// MiB renders a byte count as "183.4 MiB".
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// clock renders a duration as 1m02s.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// Progress prints build events to a writer: on a terminal one status line redrawn in place (the
// elapsed time ticking every second) and a finished line per step; elsewhere one line when a step
// starts and one when it ends.
type Progress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	cur  *Event
	at   time.Time // when cur was reported
	stop chan struct{}
	done chan struct{}
}

// NewProgress makes a Progress writing to w; tty selects the single updating line. Call Close at the
// end.
func NewProgress(w io.Writer, tty bool) *Progress {
	p := &Progress{w: w, tty: tty, stop: make(chan struct{}), done: make(chan struct{})}
	if tty {
		go p.tick()
	} else {
		close(p.done)
	}
	return p
}

// Event reports an event (Options.Progress).
func (p *Progress) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		if e.Done {
			fmt.Fprintf(p.w, "\r\033[K%s\n", e)
			p.cur = nil
			return
		}
		c := e
		p.cur, p.at = &c, time.Now()
		fmt.Fprintf(p.w, "\r\033[K%s", e)
		return
	}
	if e.Done {
		fmt.Fprintln(p.w, e)
		return
	}
	if p.cur == nil || p.cur.Step != e.Step || p.cur.Name != e.Name {
		// One line when a step starts; updates (bytes) wait for the step's end.
		fmt.Fprintf(p.w, "[%d/%d] %s …\n", e.Step, e.Steps, e.Name)
	}
	c := e
	p.cur = &c
}

func (p *Progress) tick() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.cur != nil {
				e := *p.cur
				e.Elapsed += time.Since(p.at)
				fmt.Fprintf(p.w, "\r\033[K%s", e)
			}
			p.mu.Unlock()
		}
	}
}

// Close stops the ticking and ends an unfinished status line.
func (p *Progress) Close() {
	select {
	case <-p.stop:
		return
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.cur != nil {
		fmt.Fprintln(p.w)
		p.cur = nil
	}
}
