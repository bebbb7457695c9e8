package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
	"github.com/lxc/incus/v6/shared/simplestreams"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/fault"
)

// ImageServer is a simplestreams image server that instances can be created from: deskhub's own, or
// one the operator configured.
type ImageServer struct {
	// Name is a short name ("deskhub" for deskhub's own).
	Name string
	// URL is what clients name it by (image.serverList's image_server_host).
	URL string
	// PullURL is where LXD servers fetch from (deskhub's own: its HTTPS address); empty: URL.
	PullURL string
	// Certificate is a PEM certificate LXD servers pin when they pull (deskhub's own, self-signed).
	Certificate string
	// Own marks deskhub's own image server: its images come from Options.OwnImages.
	Own bool
	// Aliases are other URLs that name the same server (e.g. ui-vmm's <origin>/api/v1/simplestream.list).
	Aliases []string
}

func (is ImageServer) pullURL() string {
	if is.PullURL != "" {
		return is.PullURL
	}
	return is.URL
}

// normURL makes URLs comparable: no trailing slash, lower-case scheme and host.
func normURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(strings.TrimSpace(raw), "/")
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// ImageServers are the image servers instances can be created from, deskhub's own first.
func (s *Service) ImageServers() []ImageServer { return s.opts.ImageServers }

// ImageServerView is image.serverList: the image servers as resources.
func (s *Service) ImageServerViews() []ResourceView[vmm.ImageServerAttributes] {
	out := make([]ResourceView[vmm.ImageServerAttributes], 0, len(s.opts.ImageServers))
	for i, is := range s.opts.ImageServers {
		p := vmm.ProviderLXD
		if is.Own {
			p = vmm.ProviderInternal
		}
		out = append(out, ResourceView[vmm.ImageServerAttributes]{ID: fmt.Sprint(i + 1), Attrs: vmm.ImageServerAttributes{
			ImageServerHost: is.URL, ImageServerProtocol: "simplestreams", ImageServerName: is.Name, Provider: p}})
	}
	return out
}

// imageServer finds the image server a client named (by its URL or an alias).
func (s *Service) imageServer(member, host string) (ImageServer, error) {
	want := normURL(host)
	for _, is := range s.opts.ImageServers {
		for _, u := range append([]string{is.URL, is.PullURL}, is.Aliases...) {
			if u != "" && normURL(u) == want {
				return is, nil
			}
		}
	}
	return ImageServer{}, fault.Invalidf(member, "%q is not an image server deskhub knows (see image.serverList)", host)
}

// catalog lists the images an image server offers, as LXD sees them.
func (s *Service) catalog(ctx context.Context, is ImageServer) ([]api.Image, error) {
	if is.Own {
		if s.opts.OwnImages == nil {
			return nil, fault.New(fault.Unavailable, "deskhub's image server is off")
		}
		return s.opts.OwnImages(ctx)
	}
	cl, err := incus.ConnectSimpleStreams(is.pullURL(), &incus.ConnectionArgs{TLSServerCert: is.Certificate})
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, "cannot reach image server "+is.URL)
	}
	ims, err := cl.GetImages()
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, "cannot read the images of "+is.URL)
	}
	return ims, nil
}

// ListCatalog is image.list with image_server_host: the images an image server offers for a server.
func (s *Service) ListCatalog(ctx context.Context, c account.Caller, serverID int64, host string) ([]ResourceView[vmm.ImageAttributes], error) {
	if _, err := s.visibleServer(ctx, c, serverID); err != nil {
		return nil, err
	}
	is, err := s.imageServer("image_server_host", host)
	if err != nil {
		return nil, err
	}
	ims, err := s.catalog(ctx, is)
	if err != nil {
		return nil, err
	}
	out := make([]ResourceView[vmm.ImageAttributes], 0, len(ims))
	for _, im := range ims {
		a := imageAttributes(serverID, im)
		if is.Own {
			a.Provider = vmm.ProviderInternal
		}
		out = append(out, ResourceView[vmm.ImageAttributes]{ID: im.Fingerprint, Attrs: a})
	}
	return out, nil
}

// findInCatalog checks that an image server offers the image instance.add names.
func (s *Service) findInCatalog(ctx context.Context, is ImageServer, alias, fingerprint string) error {
	ims, err := s.catalog(ctx, is)
	if err != nil {
		return err
	}
	for _, im := range ims {
		if fingerprint != "" && strings.HasPrefix(im.Fingerprint, strings.ToLower(fingerprint)) {
			return nil
		}
		for _, a := range im.Aliases {
			if alias != "" && a.Name == alias {
				return nil
			}
		}
	}
	if alias != "" {
		return fault.Invalidf("image_alias", "image server %s has no image alias %q", is.URL, alias)
	}
	return fault.Invalidf("image_fingerprint", "image server %s has no image %s", is.URL, fingerprint)
}

// imageSource is where an instance.add takes its image from: the server's own store, or an image
// server it pulls from (with deskhub's certificate pinned for deskhub's own).
func (s *Service) imageSource(spec *opSpec) (api.InstanceSource, error) {
	src := api.InstanceSource{Type: "image", Alias: spec.ImageAlias, Fingerprint: spec.ImageFingerprint}
	if spec.ImageServer == "" {
		return src, nil
	}
	is, err := s.imageServer("image_server_host", spec.ImageServer)
	if err != nil {
		return src, err
	}
	src.Server, src.Protocol, src.Certificate = is.pullURL(), "simplestreams", is.Certificate
	return src, nil
}

// ImagesFromStream reads a simplestreams products document (streams/v1/images.json) as LXD does and
// answers the images it offers.
func ImagesFromStream(doc []byte) ([]api.Image, error) {
	var p simplestreams.Products
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("reading a simplestreams products document: %w", err)
	}
	ims, _ := p.ToAPI()
	return ims, nil
}

// BaseImages answers the fingerprints of the images the instances of every server were created from
// (volatile.base_image), so that deskhub's image server never removes one in use. A server it cannot
// ask makes it fail: the caller then removes nothing.
func (s *Service) BaseImages(ctx context.Context) (map[string]bool, error) {
	rows, err := s.st.ListServers(ctx, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, row := range rows {
		cl, err := s.lxd.Get(row.ID)
		if err != nil {
			return nil, fmt.Errorf("server %d: %w", row.ID, err)
		}
		ins, err := cl.GetInstances(api.InstanceTypeAny)
		if err != nil {
			return nil, fmt.Errorf("server %d: listing instances: %w", row.ID, err)
		}
		for _, in := range ins {
			if fp := in.Config["volatile.base_image"]; fp != "" {
				out[fp] = true
			}
		}
	}
	return out, nil
}
