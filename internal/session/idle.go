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

// Idle desktops also give back their page cache (--trim-idle, docs/LXD-DESKTOPS.md "Idle desktops give
// back their page cache"): once per idle spell — counted the same way — a desktop idle for TrimIdle is
// trimmed by its provider when the provider can (provider.Trimmer: LXD desktops). Trimming comes before
// freezing when both are due (a frozen desktop is not trimmed).

// idleTick is how often idle desktops are looked for: a fifth of the shortest idle time, between 0.5 s
// and 30 s.
func idleTick(idle ...time.Duration) time.Duration {
	d := time.Duration(0)
	for _, v := range idle {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	return min(max(d/5, 500*time.Millisecond), 30*time.Second)
}

// idleWork is what the idle watcher does: freeze (f, after FreezeIdle), trim (t, after TrimIdle).
type idleWork struct {
	f provider.Freezer
	t provider.Trimmer
	// skip: session → until when it is not tried again (freezing); trimmed: session → the start of
	// the idle spell it was trimmed in.
	skip, trimmed map[string]time.Time
}

// startIdle starts the idle watcher when desktops are to be frozen or trimmed and the provider can.
func (s *Service) startIdle() {
	w := &idleWork{skip: map[string]time.Time{}, trimmed: map[string]time.Time{}}
	if s.o.FreezeIdle > 0 {
		f, ok := s.prov.(provider.Freezer)
		if !ok {
			s.log.Info("--freeze-idle is set but no provider of this deskhub can freeze desktops")
		}
		w.f = f
	}
	if s.o.TrimIdle > 0 {
		w.t, _ = s.prov.(provider.Trimmer)
	}
	if w.f == nil && w.t == nil {
		return
	}
	s.wg.Add(1)
	go s.idleLoop(w)
}

func (s *Service) idleLoop(w *idleWork) {
	defer s.wg.Done()
	var idle []time.Duration
	if w.f != nil {
		idle = append(idle, s.o.FreezeIdle)
	}
	if w.t != nil {
		idle = append(idle, s.o.TrimIdle)
	}
	t := time.NewTicker(idleTick(idle...))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.idleRound(w)
	}
}

// idleRound trims and freezes the running desktops idle for long enough.
func (s *Service) idleRound(w *idleWork) {
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
		if s.o.Relay.Clients(row.ID) > 0 {
			continue
		}
		frozen, changed := false, time.Time{}
		if w.f != nil {
			frozen, changed = w.f.FreezeState(row.ID)
		}
		if frozen {
			continue
		}
		since := row.StartedAt
		for _, t := range []time.Time{row.LastConnect, row.LastDisconnect, changed} {
			if t.After(since) {
				since = t
			}
		}
		if w.t != nil && now.Sub(since) >= s.o.TrimIdle && !w.trimmed[row.ID].Equal(since) {
			w.trimmed[row.ID] = since // once per idle spell, whatever the outcome
			s.trim(ctx, w.t, row.ID)
		}
		if w.f != nil && !now.Before(w.skip[row.ID]) && now.Sub(since) >= s.o.FreezeIdle {
			s.freeze(ctx, w, row.ID, now, since)
		}
	}
	for _, m := range []map[string]time.Time{w.skip, w.trimmed} {
		for id := range m {
			if !seen[id] {
				delete(m, id)
			}
		}
	}
}

// trim gives idle desktop id's page cache back.
func (s *Service) trim(ctx context.Context, t provider.Trimmer, id string) {
	_, _, err := t.Trim(ctx, id)
	switch {
	case err == nil, errors.Is(err, errors.ErrUnsupported), errors.Is(err, provider.ErrNotFound), errors.Is(err, provider.ErrGone):
		// Trimmed (the provider logs what it gave back); or the host's desktops, one this process does
		// not run (another replica's), one that just ended.
	default:
		s.log.Warn("trimming an idle desktop", "session", id, "error", err)
	}
}

// freeze freezes idle desktop id.
func (s *Service) freeze(ctx context.Context, w *idleWork, id string, now, since time.Time) {
	err := w.f.Freeze(ctx, id)
	switch {
	case errors.Is(err, errors.ErrUnsupported), errors.Is(err, provider.ErrNotFound):
		// The host's desktops, or one this process does not run (another replica's).
		w.skip[id] = now.Add(24 * time.Hour)
		return
	case err != nil:
		s.log.Warn("freezing an idle desktop", "session", id, "error", err)
		w.skip[id] = now.Add(s.o.FreezeIdle)
		return
	}
	s.log.Info("idle desktop frozen", "session", id, "idle", now.Sub(since).Round(time.Second).String())
	if s.o.Relay.Clients(id) > 0 {
		// A client came meanwhile (its connection was made before the freeze): thawed for it.
		if err := w.f.Thaw(ctx, id); err != nil {
			s.log.Warn("thawing a desktop a client came to", "session", id, "error", err)
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
