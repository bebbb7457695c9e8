package session

import (
	"context"
	"errors"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// Idle desktops are frozen (--freeze-idle, docs/LXD-DESKTOPS.md "Idle desktops are frozen"): a running
// session that has had no display client — a /ws/display websocket of its owner, or of a viewer through
// a share — for FreezeIdle is frozen by its provider when the provider can (provider.Freezer: LXD
// desktops; the host's desktops are never frozen). The idle time counts from the latest of the session's
// start, its last client's leaving and the desktop's last thaw. Agent calls and event streams are no
// clients: they thaw a frozen desktop when they need it (the provider does), and the idle time counts
// again from that thaw. session/connect thaws at once, so that the client's websocket finds the desktop
// running. A frozen session stays "running" (state) with frozen: true in session/list.

// idleTick is how often idle desktops are looked for: a fifth of the idle time, between 0.5 s and 30 s.
func idleTick(idle time.Duration) time.Duration {
	return min(max(idle/5, 500*time.Millisecond), 30*time.Second)
}

// startIdle starts the idle watcher when desktops are to be frozen and the provider can.
func (s *Service) startIdle() {
	if s.o.FreezeIdle <= 0 {
		return
	}
	f, ok := s.prov.(provider.Freezer)
	if !ok {
		s.log.Info("--freeze-idle is set but no provider of this deskhub can freeze desktops")
		return
	}
	s.wg.Add(1)
	go s.idleLoop(f)
}

func (s *Service) idleLoop(f provider.Freezer) {
	defer s.wg.Done()
	t := time.NewTicker(idleTick(s.o.FreezeIdle))
	defer t.Stop()
	skip := map[string]time.Time{} // session → until when it is not tried again
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.freezeIdle(f, skip)
	}
}

// freezeIdle freezes the running desktops idle for FreezeIdle or longer.
func (s *Service) freezeIdle(f provider.Freezer, skip map[string]time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{States: []string{StateRunning}})
	if err != nil {
		s.log.Warn("looking for idle desktops", "error", err)
		return
	}
	now := time.Now()
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.ID] = true
		if now.Before(skip[row.ID]) || s.o.Relay.Clients(row.ID) > 0 {
			continue
		}
		frozen, changed := f.FreezeState(row.ID)
		if frozen {
			continue
		}
		since := row.StartedAt
		for _, t := range []time.Time{row.LastConnect, row.LastDisconnect, changed} {
			if t.After(since) {
				since = t
			}
		}
		if now.Sub(since) < s.o.FreezeIdle {
			continue
		}
		err := f.Freeze(ctx, row.ID)
		switch {
		case errors.Is(err, errors.ErrUnsupported), errors.Is(err, provider.ErrNotFound):
			// The host's desktops, or one this process does not run (another replica's).
			skip[row.ID] = now.Add(24 * time.Hour)
			continue
		case err != nil:
			s.log.Warn("freezing an idle desktop", "session", row.ID, "error", err)
			skip[row.ID] = now.Add(s.o.FreezeIdle)
			continue
		}
		s.log.Info("idle desktop frozen", "session", row.ID, "idle", now.Sub(since).Round(time.Second).String())
		if s.o.Relay.Clients(row.ID) > 0 {
			// A client came meanwhile (its connection was made before the freeze): thawed for it.
			if err := f.Thaw(ctx, row.ID); err != nil {
				s.log.Warn("thawing a desktop a client came to", "session", row.ID, "error", err)
			}
		}
	}
	for id := range skip {
		if !seen[id] {
			delete(skip, id)
		}
	}
}

// thaw lets session id's desktop run again when it is frozen.
func (s *Service) thaw(ctx context.Context, id string) error {
	f, ok := s.prov.(provider.Freezer)
	if !ok {
		return nil
	}
	if frozen, _ := f.FreezeState(id); !frozen {
		return nil
	}
	if err := f.Thaw(ctx, id); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return fault.Wrap(fault.BadGateway, err, "the session's desktop is frozen and could not be thawed; see the server log")
	}
	return nil
}
