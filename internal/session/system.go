package session

import (
	"context"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/account"
)

// The system views: the caller's session policy, counts over all users, and every server's figures.

// Profile answers the session policy of the caller; Servers are the servers the caller may start
// sessions on now (session/start's serverId).
func (s *Service) Profile(ctx context.Context, c account.Caller) (fastx.SessionProfile, error) {
	n, err := s.Count(ctx, c)
	servers := []string{}
	for _, srv := range s.servers(ctx) {
		if mayUse(c, srv) && (srv.StoreID == 0 || srv.State == "online") {
			servers = append(servers, srv.ID)
		}
	}
	return fastx.SessionProfile{Login: c.Login, MaxSessions: s.o.MaxPerUser, Sessions: n, DefaultGeometry: s.o.DefaultGeometry,
		MaxWidth: fastx.MaxGeometry, MaxHeight: fastx.MaxGeometry, Sharing: true, Servers: servers}, err
}

// CountAll counts every user's running sessions that match the filters.
func (s *Service) CountAll(ctx context.Context, c account.Caller, filter []string) (int, error) {
	list, err := s.List(ctx, c, ListOptions{AllUsers: true, Filter: filter})
	return len(list), err
}

// Servers answers every server's figures — the host and the LXD servers that take desktops — as they
// report them, with the sessions running there.
func (s *Service) Servers(ctx context.Context) ([]fastx.ServerInfo, error) {
	counts, err := s.sessionCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := []fastx.ServerInfo{}
	for _, srv := range s.servers(ctx) {
		info := fastx.ServerInfo{ID: srv.ID, Hostname: srv.Name, Sessions: counts[srv.ID], State: srv.State,
			Provider: srv.Provider, MaxSessions: s.o.MaxPerServer}
		if srv.StoreID == 0 {
			info.Hostname = s.o.Hostname
		}
		if srv.Err != "" {
			info.Error = srv.Err
		}
		if srv.State == "online" || srv.StoreID == 0 {
			if l, err := s.serverLoad(ctx, srv); err == nil {
				info.CPUs, info.CPUModel, info.TotalMemory, info.FreeMemory = l.CPUs, l.CPUModel, l.TotalMemory, l.FreeMemory
				info.LoadAverage, info.Uptime = l.LoadAverage, l.Uptime
				info.Pooled = l.Pooled
			} else {
				s.log.Warn("reading a server's load", "server", srv.ID, "error", err)
				if srv.StoreID != 0 {
					info.State, info.Error = "unreachable", err.Error()
				}
			}
		}
		if s.o.MaxPerServer > 0 && info.Sessions >= s.o.MaxPerServer && info.State == "online" {
			info.State = "full"
		}
		out = append(out, info)
	}
	return out, nil
}
