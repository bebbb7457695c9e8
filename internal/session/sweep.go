package session

import (
	"context"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

// sweepEvery is how often, besides at Resume, the provider's desktops that no session owns are swept
// (provider.Sweeper): a start interrupted by a server going away, or a session marked ended while its
// LXD server did not answer, leaves an instance that only a sweep removes.
const sweepEvery = 10 * time.Minute

// startSweeps sweeps every SweepInterval until Close.
func (s *Service) startSweeps() {
	sw, ok := s.prov.(provider.Sweeper)
	if !ok {
		return
	}
	every := s.o.SweepInterval
	if every <= 0 {
		every = sweepEvery
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
			}
			s.sweep(sw)
		}
	}()
}

// sweep runs one sweep and marks the sessions of what it removed ended.
func (s *Service) sweep(sw provider.Sweeper) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids, err := sw.Sweep(ctx)
	if err != nil {
		s.log.Warn("sweeping desktops no session owns", "error", err)
	}
	for _, id := range ids {
		s.markEnded(ctx, id, "stopped: no session owned its desktop")
	}
}
