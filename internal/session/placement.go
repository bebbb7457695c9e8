package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/placement"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// Where sessions run: this host (serverId = the host's UUID, its desktops by the local provider) and,
// when the provider is a fleet (provider/multi with LXD desktops on), the LXD servers added with
// server.add (serverId lxd-<id>). A session row keeps its server as the server record's id (0: the
// host).

// serverKey is the serverId of a stored session's server.
func (s *Service) serverKey(row store.Session) string {
	if row.ServerID == 0 {
		return s.o.ServerID
	}
	return provider.StoredServerID(row.ServerID)
}

// servers lists every server desktops may run on, the host first.
func (s *Service) servers(ctx context.Context) []provider.Server {
	if f, ok := s.prov.(provider.Fleet); ok {
		return f.Servers(ctx)
	}
	state, why := provider.StateOnline, ""
	if u, ok := s.prov.(*provider.Unavailable); ok {
		state, why = "unavailable", u.Err.Error()
	}
	return []provider.Server{{ID: s.o.ServerID, Name: s.o.Hostname, Provider: s.prov.Name(), State: state, Err: why}}
}

// mayUse tells whether the caller may start desktops on srv: the host is everyone's; an LXD server is
// its owner's and the administrators' (infra's rule), or everyone's when shared.
func mayUse(c account.Caller, srv provider.Server) bool {
	return srv.StoreID == 0 || srv.Shared || c.Admin || (c.UserID != 0 && srv.OwnerID == c.UserID)
}

// serverLoad is what a server reports of itself.
func (s *Service) serverLoad(ctx context.Context, srv provider.Server) (provider.Load, error) {
	if f, ok := s.prov.(provider.Fleet); ok {
		return f.ServerLoad(ctx, srv.ID)
	}
	if lr, ok := s.prov.(provider.LoadReporter); ok {
		return lr.Load(ctx)
	}
	return provider.Load{}, nil
}

// sessionCounts counts the starting and running sessions of every server, by serverId.
func (s *Service) sessionCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{States: []string{StateStarting, StateRunning}})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range rows {
		out[s.serverKey(r)]++
	}
	return out, nil
}

// usable is srv's load when it can take one more session now, else why not: not online, full
// (--max-sessions-per-server), or its figures cannot be read (unreachable). The host's figures are not
// needed for it to take a session.
func (s *Service) usable(ctx context.Context, srv provider.Server, counts map[string]int) (provider.Load, string) {
	if srv.State != provider.StateOnline {
		why := srv.State
		if srv.Err != "" {
			why += ": " + srv.Err
		}
		return provider.Load{}, why
	}
	n := counts[srv.ID]
	if s.o.MaxPerServer > 0 && n >= s.o.MaxPerServer {
		return provider.Load{}, fmt.Sprintf("full: it runs %d sessions, the most per server", n)
	}
	l, err := s.serverLoad(ctx, srv)
	if err != nil {
		if srv.StoreID != 0 {
			return provider.Load{}, "unreachable: " + err.Error()
		}
		s.log.Warn("reading the host's load", "error", err)
	}
	l.Sessions = n
	return l, ""
}

// place chooses the server a new session of c starts on: want when the caller names one (it must be a
// server the caller may use, and able to take the session), else the one the strategy picks among the
// servers the caller may use that can take it. Skipped servers are logged with the reason.
func (s *Service) place(ctx context.Context, c account.Caller, want string) (provider.Server, error) {
	return s.placeExcept(ctx, c, want, nil)
}

// placeExcept is place skipping the servers of failed (serverId → why a start failed there).
func (s *Service) placeExcept(ctx context.Context, c account.Caller, want string, failed map[string]string) (provider.Server, error) {
	counts, err := s.sessionCounts(ctx)
	if err != nil {
		return provider.Server{}, err
	}
	all := s.servers(ctx)
	if want != "" {
		for _, srv := range all {
			if srv.ID != want || !mayUse(c, srv) {
				continue
			}
			if _, why := s.usable(ctx, srv, counts); why != "" {
				return provider.Server{}, &fault.Error{Kind: fault.Unavailable, RetryAfter: 5,
					Msg: fmt.Sprintf("server %s (%s) cannot take a session now: %s", srv.ID, srv.Name, why)}
			}
			return srv, nil
		}
		return provider.Server{}, fault.Memberf("serverId", "names no server you may start sessions on: %q (see session/profile's servers)", want)
	}
	var cands []placement.Candidate
	byID := map[string]provider.Server{}
	var skipped []string
	for _, srv := range all {
		if !mayUse(c, srv) {
			continue
		}
		l, why := s.usable(ctx, srv, counts)
		if f, ok := failed[srv.ID]; ok {
			why = "unreachable: the start failed: " + f
		}
		if why != "" {
			s.log.Info("placement skips a server", "server", srv.ID, "name", srv.Name, "reason", why, "login", c.Login)
			skipped = append(skipped, fmt.Sprintf("%s (%s): %s", srv.ID, srv.Name, why))
			continue
		}
		cands = append(cands, placement.Candidate{ServerID: srv.ID, Load: l})
		byID[srv.ID] = srv
	}
	if len(cands) == 0 {
		return provider.Server{}, &fault.Error{Kind: fault.Unavailable, RetryAfter: 5,
			Msg: "no server can take your session now: " + strings.Join(skipped, "; ")}
	}
	strategy := s.o.Placement
	if strategy == nil {
		strategy = placement.FewestSessions
	}
	chosen, err := placement.Choose(strategy, cands)
	if err != nil {
		return provider.Server{}, err
	}
	if len(cands) > 1 {
		s.log.Info("placement", "server", chosen.ServerID, "candidates", len(cands), "sessions", chosen.Load.Sessions,
			"free_memory", chosen.Load.FreeMemory, "login", c.Login)
	}
	return byID[chosen.ServerID], nil
}

// findServer is the server of serverId id, if the caller may use it.
func (s *Service) findServer(ctx context.Context, c account.Caller, id string) (provider.Server, bool) {
	for _, srv := range s.servers(ctx) {
		if srv.ID == id && mayUse(c, srv) {
			return srv, true
		}
	}
	return provider.Server{}, false
}

// unreachable tells whether a start that failed on srv with err failed because the server does not
// answer (its provider says so, or its link dropped meanwhile): another server may take the session.
func (s *Service) unreachable(ctx context.Context, srv provider.Server, err error) bool {
	if errors.Is(err, provider.ErrUnavailable) {
		return true
	}
	if srv.StoreID == 0 {
		return false
	}
	for _, now := range s.servers(ctx) {
		if now.ID == srv.ID {
			return now.State != provider.StateOnline
		}
	}
	return true // removed meanwhile
}
