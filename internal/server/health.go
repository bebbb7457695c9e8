package server

import (
	"context"
	"net/http"
	"time"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// Health: health.alive and health.ready, which need no account.

func (s *Server) healthAlive(*httpapi.Call, *httpapi.Empty) (jsonapi.One[vmm.HealthAttributes], error) {
	return jsonapi.NewOne(vmm.TypeHealth, "alive", vmm.HealthAttributes{Status: "ok"}), nil
}

// healthReady is ready when the store answers within two seconds.
func (s *Server) healthReady(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.One[vmm.HealthAttributes], error) {
	ctx, cancel := context.WithTimeout(c.Ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return jsonapi.One[vmm.HealthAttributes]{}, &httpapi.Error{Status: http.StatusServiceUnavailable,
			Msg: "not ready: the " + s.store.Backend() + " store does not answer", Err: err}
	}
	h := vmm.HealthAttributes{Status: "ok", Store: s.store.Backend()}
	// LXD servers that do not answer leave deskhub ready (it serves everything else) but degraded.
	for _, sv := range s.infra.Health() {
		h.Servers = append(h.Servers, vmm.ServerHealth{ServerID: sv.ID, ServerState: sv.State})
		if sv.State != "online" {
			h.Status = "degraded"
		}
	}
	return jsonapi.NewOne(vmm.TypeHealth, "ready", h), nil
}
