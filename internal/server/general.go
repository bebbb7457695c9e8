package server

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// The endpoints that need no account: health, configuration and the FastX discovery calls.

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

// configGet reports the feature switches. stream is a fresh id for event.subscribe.
func (s *Server) configGet(*httpapi.Call, *httpapi.Empty) (jsonapi.One[vmm.ConfigAttributes], error) {
	f := s.cfg.Features
	return jsonapi.NewOne("config", "deskhub", vmm.ConfigAttributes{
		DisableUserRecovery:     f.DisableUserRecovery,
		DisableUserRegistration: f.DisableUserRegistration,
		DisableServerAdd:        f.DisableServerAdd,
		DisableSSHKeyAdd:        f.DisableSSHKeyAdd,
		Stream:                  uuid.NewString(),
		WebauthEnabled:          f.WebAuthnEnabled,
		SimplestreamEnabled:     f.SimplestreamEnabled,
	}), nil
}

func (s *Server) fastxConfig(*httpapi.Call, *httpapi.Empty) (fastx.Config, error) {
	return fastx.Config{
		Version:   3,
		ServerID:  s.serverID,
		Port:      s.cfg.Port(),
		HTTPSPort: 0,
		Hostname:  s.hostname,
		Servers:   []string{s.serverID},
		SSH: fastx.SSHConfig{
			Basic:             s.cfg.SSH.Basic,
			PublicKey:         s.cfg.SSH.PublicKey,
			HidePasswordField: s.cfg.SSH.HidePasswordField,
		},
	}, nil
}

func (s *Server) xrdpConfig(*httpapi.Call, *httpapi.Empty) (fastx.XrdpConfig, error) {
	d := s.cfg.Display
	return fastx.XrdpConfig{Geometry: d.Geometry, ColorDepth: d.ColorDepth, FrameRate: d.FrameRate, Clipboard: d.Clipboard}, nil
}
