package session

import (
	"context"
	"github.com/deskhub/deskhub/internal/account"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// The system views: the caller's session policy, counts over all users, and this host's figures.

// Profile answers the session policy of the caller.
func (s *Service) Profile(ctx context.Context, c account.Caller) (fastx.SessionProfile, error) {
	n, err := s.Count(ctx, c)
	return fastx.SessionProfile{Login: c.Login, MaxSessions: s.o.MaxPerUser, Sessions: n, DefaultGeometry: s.o.DefaultGeometry,
		MaxWidth: fastx.MaxGeometry, MaxHeight: fastx.MaxGeometry, Sharing: true, Servers: []string{s.o.ServerID}}, err
}

// CountAll counts every user's running sessions that match the filters.
func (s *Service) CountAll(ctx context.Context, c account.Caller, filter []string) (int, error) {
	list, err := s.List(ctx, c, ListOptions{AllUsers: true, Filter: filter})
	return len(list), err
}

// Servers answers this host's figures, as its provider reports them.
func (s *Service) Servers(ctx context.Context) ([]fastx.ServerInfo, error) {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{States: []string{StateStarting, StateRunning}})
	if err != nil {
		return nil, err
	}
	info := fastx.ServerInfo{ID: s.o.ServerID, Hostname: s.o.Hostname, Sessions: len(rows)}
	if lr, ok := s.prov.(provider.LoadReporter); ok {
		if l, err := lr.Load(ctx); err == nil {
			info.CPUs, info.CPUModel, info.TotalMemory, info.FreeMemory = l.CPUs, l.CPUModel, l.TotalMemory, l.FreeMemory
			info.LoadAverage, info.Uptime = l.LoadAverage, l.Uptime
		} else {
			s.log.Warn("reading the host's load", "error", err)
		}
	}
	return []fastx.ServerInfo{info}, nil
}
