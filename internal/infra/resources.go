package infra

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"github.com/deskhub/deskhub/internal/account"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"
	"go.yaml.in/yaml/v4"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/lxdconn"
)

// ResourceView is one resource of a server with its JSON:API id.
type ResourceView[A any] struct {
	ID    string
	Attrs A
}

// resID is the JSON:API id of a named resource on a server: "<server_id>/<name>".
func resID(serverID int64, name string) string { return strconv.FormatInt(serverID, 10) + "/" + name }

// ---- pools, networks, volumes -------------------------------------------------------------------------

// ListPools is pool.list.
func (s *Service) ListPools(ctx context.Context, c account.Caller, serverID int64) ([]ResourceView[vmm.PoolAttributes], error) {
	return listOn(s, ctx, c, serverID, "storage pools", incus.InstanceServer.GetStoragePools,
		func(cl incus.InstanceServer, p api.StoragePool) (ResourceView[vmm.PoolAttributes], bool) {
			a := vmm.PoolAttributes{PoolName: p.Name, PoolDriver: p.Driver, PoolDescription: p.Description, PoolStatus: p.Status,
				PoolSource: p.Config["source"], PoolConfig: nonNilMap(p.Config), PoolUsedBy: nonNil(p.UsedBy), ServerID: serverID, Provider: vmm.ProviderLXD}
			if res, err := cl.GetStoragePoolResources(p.Name); err == nil {
				a.PoolSpaceUsed, a.PoolSpaceTotal = int64(res.Space.Used), int64(res.Space.Total)
				a.PoolInodesUsed, a.PoolInodesTotal = int64(res.Inodes.Used), int64(res.Inodes.Total)
			}
			return ResourceView[vmm.PoolAttributes]{ID: resID(serverID, p.Name), Attrs: a}, true
		})
}

// listOn reads one kind of resource from a server the caller may use, converting each item (conv
// may leave one out).
func listOn[T, A any](s *Service, ctx context.Context, c account.Caller, serverID int64, what string,
	fetch func(incus.InstanceServer) ([]T, error), conv func(incus.InstanceServer, T) (ResourceView[A], bool)) ([]ResourceView[A], error) {
	_, cl, err := s.serverClient(ctx, c, serverID)
	if err != nil {
		return nil, err
	}
	items, err := fetch(cl)
	if err != nil {
		return nil, s.callError(serverID, "listing "+what, err)
	}
	out := make([]ResourceView[A], 0, len(items))
	for _, it := range items {
		if v, ok := conv(cl, it); ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// ListNetworks is network.list.
func (s *Service) ListNetworks(ctx context.Context, c account.Caller, serverID int64) ([]ResourceView[vmm.NetworkAttributes], error) {
	return listOn(s, ctx, c, serverID, "networks", incus.InstanceServer.GetNetworks,
		func(_ incus.InstanceServer, n api.Network) (ResourceView[vmm.NetworkAttributes], bool) {
			return ResourceView[vmm.NetworkAttributes]{ID: resID(serverID, n.Name), Attrs: vmm.NetworkAttributes{
				NetworkName: n.Name, NetworkType: n.Type, NetworkManaged: n.Managed, NetworkDescription: n.Description,
				NetworkStatus: n.Status, NetworkConfig: nonNilMap(n.Config), NetworkUsedBy: nonNil(n.UsedBy),
				ServerID: serverID, Provider: vmm.ProviderLXD}}, true
		})
}

// ListVolumes is volume.list: the volumes of every pool, in the server's project.
func (s *Service) ListVolumes(ctx context.Context, c account.Caller, serverID int64) ([]ResourceView[vmm.VolumeAttributes], error) {
	_, cl, err := s.serverClient(ctx, c, serverID)
	if err != nil {
		return nil, err
	}
	pools, err := cl.GetStoragePoolNames()
	if err != nil {
		return nil, s.callError(serverID, "listing storage pools", err)
	}
	out := []ResourceView[vmm.VolumeAttributes]{}
	for _, pool := range pools {
		vols, err := cl.GetStoragePoolVolumes(pool)
		if err != nil {
			return nil, s.callError(serverID, "listing the volumes of pool "+pool, err)
		}
		for _, v := range vols {
			out = append(out, ResourceView[vmm.VolumeAttributes]{ID: resID(serverID, pool+"/"+v.Type+"/"+v.Name), Attrs: vmm.VolumeAttributes{
				VolumeName: v.Name, VolumeType: v.Type, VolumePool: pool, PoolName: pool, VolumeContentType: v.ContentType,
				VolumeDescription: v.Description, VolumeConfig: nonNilMap(v.Config), VolumeUsedBy: nonNil(v.UsedBy),
				VolumeCreatedAt: v.CreatedAt.UTC(), ServerID: serverID, Provider: vmm.ProviderLXD}})
		}
	}
	return out, nil
}

// ---- images -------------------------------------------------------------------------------------------

// ListImages is image.list without an image server: every image stored on the server, the copies it
// keeps of images pulled from image servers included (image_cached).
func (s *Service) ListImages(ctx context.Context, c account.Caller, serverID int64) ([]ResourceView[vmm.ImageAttributes], error) {
	return listOn(s, ctx, c, serverID, "images", incus.InstanceServer.GetImages,
		func(_ incus.InstanceServer, im api.Image) (ResourceView[vmm.ImageAttributes], bool) {
			return ResourceView[vmm.ImageAttributes]{ID: im.Fingerprint, Attrs: imageAttributes(serverID, im)}, true
		})
}

func imageAttributes(serverID int64, im api.Image) vmm.ImageAttributes {
	aliases := make([]string, 0, len(im.Aliases))
	for _, a := range im.Aliases {
		aliases = append(aliases, a.Name)
	}
	a := vmm.ImageAttributes{ImageFingerprint: im.Fingerprint, ImageAliases: aliases, ImageDescription: im.Properties["description"],
		ImageArch: im.Architecture, ImageOS: im.Properties["os"], ImageRelease: im.Properties["release"], ImageType: im.Type,
		ImageSerial: im.Properties["serial"], ImageSize: im.Size, ImagePublic: im.Public, ImageCreatedAt: im.CreatedAt.UTC(), ImageUploadedAt: im.UploadedAt.UTC(),
		ImageCached: im.Cached, ServerID: serverID, Provider: vmm.ProviderLXD}
	if im.LastUsedAt.Year() > 1970 {
		a.ImageLastUsedAt = im.LastUsedAt.Unix()
	}
	if a.ImageType == "" {
		a.ImageType = vmm.InstanceTypeContainer
	}
	a.ImageInstanceType = a.ImageType
	if im.ExpiresAt.Year() > 1970 {
		a.ImageExpiresAt = im.ExpiresAt.Unix()
	}
	return a
}

var fingerprintRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F]{12,64}$`) })

// checkFingerprint refuses what cannot be a fingerprint (or an unambiguous prefix of one) before LXD
// is asked.
func checkFingerprint(member, fp string) error {
	if !fingerprintRE().MatchString(fp) {
		return fault.Memberf(member, "must be a SHA-256 fingerprint (12 to 64 hex digits), not %q", fp)
	}
	return nil
}

// DeleteImage is image.delete; it waits for LXD to finish.
func (s *Service) DeleteImage(ctx context.Context, c account.Caller, serverID int64, fp string) error {
	if err := checkFingerprint("image_fingerprint", fp); err != nil {
		return err
	}
	_, cl, err := s.serverClient(ctx, c, serverID)
	if err != nil {
		return err
	}
	im, _, err := cl.GetImage(strings.ToLower(fp))
	if err != nil {
		if lxdconn.IsNotFound(err) {
			return fault.NotFoundf("server %d has no image %s", serverID, fp)
		}
		return s.callError(serverID, "reading image "+fp, err)
	}
	op, err := cl.DeleteImage(im.Fingerprint)
	if err == nil {
		err = waitOp(ctx, cl, op.Get().ID)
	}
	if err != nil {
		return s.callError(serverID, "deleting image "+fp, err)
	}
	return nil
}

// ---- profiles -----------------------------------------------------------------------------------------

// ListProfiles is profile.list.
func (s *Service) ListProfiles(ctx context.Context, c account.Caller, serverID int64) ([]ResourceView[vmm.ProfileAttributes], error) {
	return listOn(s, ctx, c, serverID, "profiles", incus.InstanceServer.GetProfiles,
		func(_ incus.InstanceServer, p api.Profile) (ResourceView[vmm.ProfileAttributes], bool) {
			return ResourceView[vmm.ProfileAttributes]{ID: resID(serverID, p.Name), Attrs: profileAttributes(serverID, p)}, true
		})
}

func profileAttributes(serverID int64, p api.Profile) vmm.ProfileAttributes {
	devs := p.Devices
	if devs == nil {
		devs = map[string]map[string]string{}
	}
	// The profile as "lxc profile show" prints it (and profile.update takes it back): ui-vmm's panel
	// edits this text.
	body, _ := yaml.Marshal(struct {
		Config      map[string]string            `yaml:"config"`
		Description string                       `yaml:"description"`
		Devices     map[string]map[string]string `yaml:"devices"`
		Name        string                       `yaml:"name"`
		UsedBy      []string                     `yaml:"used_by"`
	}{nonNilMap(p.Config), p.Description, devs, p.Name, nonNil(p.UsedBy)})
	return vmm.ProfileAttributes{ProfileName: p.Name, ProfileDescription: p.Description, ProfileConfig: nonNilMap(p.Config),
		ProfileDevices: devs, ProfileUsedBy: nonNil(p.UsedBy), ProfileBody: string(body), ServerID: serverID, Provider: vmm.ProviderLXD}
}

// profileBody is what profile.update accepts: the members "lxc profile edit" shows (name and used_by
// are read-only there and ignored here too).
type profileBody struct {
	Description *string                      `yaml:"description"`
	Config      map[string]string            `yaml:"config"`
	Devices     map[string]map[string]string `yaml:"devices"`
	Name        string                       `yaml:"name"`
	UsedBy      []string                     `yaml:"used_by"`
	Project     string                       `yaml:"project"`
}

// parseProfileBody reads profile.update's body: YAML (JSON is YAML too), known members only, one
// document.
func parseProfileBody(body string) (profileBody, error) {
	var pb profileBody
	if strings.TrimSpace(body) == "" {
		return pb, fmt.Errorf("it is empty")
	}
	dec := yaml.NewDecoder(strings.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&pb); err != nil {
		return pb, err
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		return pb, fmt.Errorf("it holds more than one YAML document")
	}
	return pb, nil
}

var profileNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`) })

// UpdateProfile is profile.update: the body (YAML or JSON) replaces the profile's description, config
// and devices, then the profile is renamed if asked. Nothing changes if the body does not parse.
func (s *Service) UpdateProfile(ctx context.Context, c account.Caller, serverID int64, name, body, rename string) (ResourceView[vmm.ProfileAttributes], error) {
	var zero ResourceView[vmm.ProfileAttributes]
	pb, err := parseProfileBody(body)
	if err != nil {
		return zero, fault.Memberf("profile_body", "is not a profile in YAML or JSON: %v", err)
	}
	for dev, cfg := range pb.Devices {
		if cfg["type"] == "" {
			return zero, fault.Invalidf("profile_body", "device %q in \"profile_body\" has no type", dev)
		}
	}
	if rename != "" && !profileNameRE().MatchString(rename) {
		return zero, fault.Memberf("profile_rename", "must be 1-63 letters, digits, '.', '_' or '-', not %q", rename)
	}
	if rename != "" && name == "default" {
		return zero, fault.Invalidf("profile_rename", "the default profile cannot be renamed")
	}
	_, cl, err := s.serverClient(ctx, c, serverID)
	if err != nil {
		return zero, err
	}
	cur, etag, err := cl.GetProfile(name)
	if err != nil {
		if lxdconn.IsNotFound(err) {
			return zero, fault.NotFoundf("server %d has no profile %q", serverID, name)
		}
		return zero, s.callError(serverID, "reading profile "+name, err)
	}
	put := api.ProfilePut{Description: cur.Description, Config: pb.Config, Devices: pb.Devices}
	if pb.Description != nil {
		put.Description = *pb.Description
	}
	if err := cl.UpdateProfile(name, put, etag); err != nil {
		if lxdconn.Status(err) != 0 && !lxdconn.IsNotFound(err) && !lxdconn.IsChanged(err) {
			// LXD validates the profile and answers 400 or (LXD 5.0, for some keys) 500: either way the
			// body is what it refused.
			return zero, &fault.Error{Kind: fault.Invalid, Field: "profile_body", Msg: fmt.Sprintf("the server refused the profile: %v", err), Err: err}
		}
		return zero, s.callError(serverID, "updating profile "+name, err)
	}
	if rename != "" && rename != name {
		if err := cl.RenameProfile(name, api.ProfilePost{Name: rename}); err != nil {
			return zero, lxdError(fmt.Sprintf("the profile was updated, but renaming it to %q failed", rename), err)
		}
		name = rename
	}
	p, _, err := cl.GetProfile(name)
	if err != nil {
		return zero, s.callError(serverID, "reading profile "+name, err)
	}
	return ResourceView[vmm.ProfileAttributes]{ID: resID(serverID, p.Name), Attrs: profileAttributes(serverID, *p)}, nil
}

// DeleteProfile is profile.delete.
func (s *Service) DeleteProfile(ctx context.Context, c account.Caller, serverID int64, name string) error {
	if name == "default" {
		return fault.Invalidf("profile_name", "the default profile cannot be deleted")
	}
	_, cl, err := s.serverClient(ctx, c, serverID)
	if err != nil {
		return err
	}
	if err := cl.DeleteProfile(name); err != nil {
		if lxdconn.IsNotFound(err) {
			return fault.NotFoundf("server %d has no profile %q", serverID, name)
		}
		return lxdError("deleting profile "+name, err)
	}
	return nil
}

// ---- certificates -------------------------------------------------------------------------------------

// ListCertificates is certificate.list: the server's trust store, deskhub's own certificate marked.
func (s *Service) ListCertificates(ctx context.Context, c account.Caller, serverID int64) ([]ResourceView[vmm.CertificateAttributes], error) {
	out, err := listOn(s, ctx, c, serverID, "certificates", incus.InstanceServer.GetCertificates,
		func(_ incus.InstanceServer, ct api.Certificate) (ResourceView[vmm.CertificateAttributes], bool) {
			a := vmm.CertificateAttributes{CertificateName: ct.Name, CertificateFingerprint: ct.Fingerprint, CertificateType: ct.Type,
				CertificateRestricted: ct.Restricted, CertificateProjects: nonNil(ct.Projects),
				CertificateDeskhub: ct.Fingerprint == s.id.Fingerprint, ServerID: serverID, Provider: vmm.ProviderLXD}
			if b, _ := pem.Decode([]byte(ct.Certificate)); b != nil {
				if x, err := x509.ParseCertificate(b.Bytes); err == nil {
					t := x.NotAfter.UTC()
					a.CertificateExpiresAt = &t
				}
			}
			return ResourceView[vmm.CertificateAttributes]{ID: ct.Fingerprint, Attrs: a}, true
		})
	slices.SortFunc(out, func(a, b ResourceView[vmm.CertificateAttributes]) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

// RevokeCertificate is certificate.revoke. Revoking deskhub's own certificate cuts deskhub off the
// server, so it needs force.
func (s *Service) RevokeCertificate(ctx context.Context, c account.Caller, serverID int64, fp string, force bool) error {
	if err := checkFingerprint("certificate_fingerprint", fp); err != nil {
		return err
	}
	_, cl, err := s.serverClient(ctx, c, serverID)
	if err != nil {
		return err
	}
	fp = strings.ToLower(fp)
	certs, err := cl.GetCertificates()
	if err != nil {
		return s.callError(serverID, "listing certificates", err)
	}
	var match []string
	for _, ct := range certs {
		if strings.HasPrefix(ct.Fingerprint, fp) {
			match = append(match, ct.Fingerprint)
		}
	}
	switch {
	case len(match) == 0:
		return fault.NotFoundf("server %d trusts no certificate %s", serverID, fp)
	case len(match) > 1:
		return fault.Invalidf("certificate_fingerprint", "%q matches %d certificates: give more of the fingerprint", fp, len(match))
	}
	if match[0] == s.id.Fingerprint && !force {
		return &fault.Error{Kind: fault.Conflict, Field: "certificate_fingerprint",
			Msg: "this is deskhub's own certificate: revoking it cuts deskhub off this server; send \"certificate_force\": true to do it anyway"}
	}
	if err := cl.DeleteCertificate(match[0]); err != nil {
		return lxdError("revoking certificate "+fp, err)
	}
	return nil
}

// callError reports a failed call to a server: LXD's own 4xx answers keep their status, anything
// else marks the server unreachable and answers 502.
func (s *Service) callError(serverID int64, what string, err error) error {
	s.lxd.Failed(serverID, err)
	return lxdError(what, err)
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
