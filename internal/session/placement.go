package session

import (
	"context"

	"github.com/deskhub/deskhub/internal/placement"
	"github.com/deskhub/deskhub/internal/provider"
)

// placeBy is how a new session's server is chosen. Today there is one candidate, this host; the
// strategy becomes a setting once LXD servers take sessions too.
var placeBy = placement.FewestSessions

// place chooses the server a session starts on: today always this host (s.o.ServerID), with the load
// its provider reports.
func (s *Service) place(ctx context.Context) (placement.Candidate, error) {
	here := placement.Candidate{ServerID: s.o.ServerID}
	if lr, ok := s.prov.(provider.LoadReporter); ok {
		if l, err := lr.Load(ctx); err == nil {
			here.Load = l
		}
	}
	return placement.Choose(placeBy, []placement.Candidate{here})
}
