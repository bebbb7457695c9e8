package infra

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/events"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/store"
)

// Server states (lxdconn's).
const (
	stateOnline    = lxdconn.StateOnline
	stateOffline   = lxdconn.StateOffline
	stateUntrusted = lxdconn.StateUntrusted
)

// instanceCache is a short-lived copy of one server's instance list.
type instanceCache struct {
	mu   sync.Mutex
	list []api.InstanceFull
	at   time.Time
}

// cache is the instance cache of a server.
func (s *Service) cache(serverID int64) *instanceCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.caches[serverID]
	if c == nil {
		c = &instanceCache{}
		s.caches[serverID] = c
	}
	return c
}

// invalidate drops the server's cached instance list.
func (s *Service) invalidate(serverID int64) {
	c := s.cache(serverID)
	c.mu.Lock()
	c.list, c.at = nil, time.Time{}
	c.mu.Unlock()
}

// forget drops what the service keeps about a server it no longer follows.
func (s *Service) forget(serverID int64) {
	s.mu.Lock()
	delete(s.caches, serverID)
	s.mu.Unlock()
}

// DropCaches forgets every cached instance list (the next instance.list asks the servers).
func (s *Service) DropCaches() {
	s.mu.Lock()
	ids := make([]int64, 0, len(s.caches))
	for id := range s.caches {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.invalidate(id)
	}
}

// serverState announces a server's change of state on the event stream (a server back online has
// its instance list read afresh).
func (s *Service) serverState(ch lxdconn.StateChange) {
	if ch.State == stateOnline {
		s.invalidate(ch.Server.ID)
	}
	data, _ := json.Marshal(map[string]any{"server_id": ch.Server.ID, "server_state": ch.State})
	s.hub.Publish(vmm.Event{Type: "server", Status: ch.State, Error: ch.Err, Resource: vmm.TypeServer,
		ResourceID: strconv.FormatInt(ch.Server.ID, 10), Data: data, Provider: vmm.ProviderLXD, Time: time.Now().UTC()},
		events.Audience{Users: []int64{ch.Server.OwnerID}})
}

// lifecycle relays one LXD lifecycle event to the users who may see what it is about.
func (s *Service) lifecycle(row store.Server, ev api.Event) {
	var lc api.EventLifecycle
	if err := json.Unmarshal(ev.Metadata, &lc); err != nil {
		return
	}
	aud := events.Audience{Users: []int64{row.OwnerID}}
	kind, action, _ := strings.Cut(lc.Action, "-")
	name := lc.Name
	if name == "" {
		name = sourceName(lc.Source)
	}
	at := ev.Timestamp.UTC()
	if at.IsZero() {
		at = time.Now().UTC()
	}
	out := vmm.Event{Type: "lifecycle", Status: lc.Action, Resource: kind, Provider: vmm.ProviderLXD, Time: at}
	data := map[string]any{"server_id": row.ID, "action": lc.Action, "source": lc.Source, "name": name}
	if kind == "instance" && name != "" && !strings.Contains(lc.Source, "/snapshots/") && !strings.Contains(lc.Source, "/backups/") {
		s.invalidate(row.ID)
		ctx := context.Background()
		out.Type, out.Status, out.Resource = "instance", action, vmm.TypeInstance
		if in, err := s.st.EnsureInstance(ctx, row.ID, name); err == nil {
			out.ResourceID = strconv.FormatInt(in.ID, 10)
			data["instance_id"] = in.ID
			if in.OwnerID != 0 {
				aud.Users = append(aud.Users, in.OwnerID)
			}
			if action == "deleted" {
				if err := s.st.DeleteInstance(ctx, in.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					s.log.Warn("forgetting a deleted instance", "instance", name, "err", err)
				}
			}
		}
		data["instance_name"] = name
	}
	out.Data, _ = json.Marshal(data)
	s.hub.Publish(out, aud)
}

// sourceName is the last path element of a lifecycle source ("/1.0/instances/c1?project=p" → "c1").
func sourceName(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		return ""
	}
	p := strings.TrimSuffix(u.Path, "/")
	name, _ := url.PathUnescape(p[strings.LastIndex(p, "/")+1:])
	return name
}
