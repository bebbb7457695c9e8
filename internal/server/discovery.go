package server

import (
	"github.com/google/uuid"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// Discovery: what a client reads before it logs in — the infrastructure surface's config.get and the
// FastX configuration calls.

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
