package server

import (
	"net/url"
	"strings"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/infra"
)

// The bases the simplestreams tree of deskhub's own image server is served under: its own, and the one
// ui-vmm's panel names deskhub's server by (${origin}/api/v1/simplestream.list).
var simplestreamBases = []string{"/simplestreams", "/api/v1/simplestream.list"}

// imageServers are the image servers of image.serverList: deskhub's own first (when it serves images),
// then the configured ones.
func (s *Server) imageServers(cfg config.Config) []infra.ImageServer {
	var out []infra.ImageServer
	if cfg.Features.SimplestreamEnabled {
		own := infra.ImageServer{Name: "deskhub", Own: true, URL: cfg.ImageServer()}
		if own.URL == "" {
			own.URL = cfg.BaseURL() + simplestreamBases[0]
		}
		if s.tls != nil {
			own.Certificate = string(s.tls.PEM)
		}
		for _, b := range simplestreamBases {
			own.Aliases = append(own.Aliases, cfg.BaseURL()+b)
			if cfg.TLS.Listen != "" {
				own.Aliases = append(own.Aliases, strings.TrimSuffix(own.URL, simplestreamBases[0])+b)
			}
		}
		out = append(out, own)
	}
	for _, entry := range cfg.ImageServers {
		name, u, _ := strings.Cut(entry, "=")
		out = append(out, infra.ImageServer{Name: name, URL: u})
	}
	return out
}

// ownImageHost turns a URL that names deskhub's own image server through the address the client
// reached deskhub at (the panel sends ${origin}/api/v1/simplestream.list) into the server's URL; any
// other value is returned as it is.
func (s *Server) ownImageHost(c *httpapi.Call, host string) string {
	u, err := url.Parse(host)
	if host == "" || err != nil || !strings.EqualFold(u.Host, c.R.Host) {
		return host
	}
	for _, b := range simplestreamBases {
		if strings.TrimSuffix(u.Path, "/") == b {
			for _, is := range s.infra.ImageServers() {
				if is.Own {
					return is.URL
				}
			}
		}
	}
	return host
}

// imageList is image.list: the images stored on a server, or those an image server offers for it.
func (s *Server) imageList(c *httpapi.Call, r *vmm.ImageListRequest) (jsonapi.Many[vmm.ImageAttributes], error) {
	if out, ok := internalNone[vmm.ImageAttributes](r.Provider); ok {
		return out, nil
	}
	var views []infra.ResourceView[vmm.ImageAttributes]
	var err error
	if r.ImageServerHost == "" {
		views, err = s.infra.ListImages(c.Ctx, infraCaller(c), int64(r.ServerID))
	} else {
		views, err = s.infra.ListCatalog(c.Ctx, infraCaller(c), int64(r.ServerID), s.ownImageHost(c, r.ImageServerHost))
	}
	if err != nil {
		return jsonapi.Many[vmm.ImageAttributes]{}, err
	}
	return many(vmm.TypeImage, views), nil
}

// imageServerList is image.serverList: the image servers instances of a server can be created from.
func (s *Server) imageServerList(c *httpapi.Call, r *vmm.ImageServerListRequest) (jsonapi.Many[vmm.ImageServerAttributes], error) {
	if r.Provider == vmm.ProviderLXD {
		if err := s.infra.CheckServer(c.Ctx, infraCaller(c), int64(r.ServerID)); err != nil {
			return jsonapi.Many[vmm.ImageServerAttributes]{}, err
		}
	}
	return many(vmm.TypeImage, s.infra.ImageServerViews()), nil
}
