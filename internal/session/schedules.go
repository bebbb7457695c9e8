package session

import (
	"context"
	"errors"
	"github.com/deskhub/deskhub/internal/account"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Scheduled starts: a session row in state scheduled and a timer that launches it.

// Schedule records a start at a given time (at once when it is past).
func (s *Service) Schedule(ctx context.Context, c account.Caller, sp StartSpec, at time.Time) (fastx.Schedule, error) {
	row, err := s.prepare(ctx, c, sp)
	if err != nil {
		return fastx.Schedule{}, err
	}
	row.State = StateScheduled
	row.ScheduledAt = at.UTC()
	if sp.ServerID != "" {
		// The server must exist and be the caller's to use now; whether it can take the session is
		// seen at start time.
		srv, ok := s.findServer(ctx, c, sp.ServerID)
		if !ok {
			return fastx.Schedule{}, fault.Memberf("serverId", "names no server you may start sessions on: %q (see session/profile's servers)", sp.ServerID)
		}
		row.ServerID = srv.StoreID
	}
	if err := s.st.CreateSession(ctx, &row); errors.Is(err, store.ErrConflict) {
		return fastx.Schedule{}, fault.Conflictf("a session with id %q exists already", row.ID)
	} else if err != nil {
		return fastx.Schedule{}, err
	}
	s.arm(row)
	geom := row.Geometry
	if row.WindowMode == fastx.WindowModeRootless {
		geom = fastx.Rootless
	}
	return fastx.Schedule{ID: row.ID, At: row.ScheduledAt, Command: row.Command, Geometry: geom, Name: row.Name, Params: row.Params}, nil
}

// arm sets the timer of a scheduled session.
func (s *Service) arm(row store.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timers[row.ID] = time.AfterFunc(max(0, time.Until(row.ScheduledAt)), func() {
		s.mu.Lock()
		delete(s.timers, row.ID)
		s.mu.Unlock()
		ctx := context.Background()
		cur, err := s.st.GetSession(ctx, row.ID)
		if err != nil || cur.State != StateScheduled {
			return
		}
		u, err := s.st.GetUser(ctx, cur.UserID)
		if err != nil {
			s.markEnded(ctx, row.ID, "owner gone")
			return
		}
		c := account.Caller{UserID: u.ID, Login: u.Login, Admin: u.Admin, Provider: u.Provider}
		want := ""
		if cur.ServerID != 0 {
			want = s.serverKey(cur)
		}
		if err := s.launch(ctx, c, &cur, want); err != nil {
			s.log.Warn("scheduled session did not start", "session", row.ID, "error", err)
		}
	})
}
