package infra

import (
	"context"
	"errors"
	"fmt"
	"github.com/deskhub/deskhub/internal/account"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider/lxd"
	"github.com/deskhub/deskhub/internal/store"
)

// instances returns the server's instances with their state, from the cache when it is fresh.
func (s *Service) instances(serverID int64) ([]api.InstanceFull, error) {
	c := s.cache(serverID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && time.Since(c.at) < s.opts.CacheTTL {
		return c.list, nil
	}
	cl := s.lxd.Client(serverID)
	if cl == nil {
		return nil, errors.New("not connected")
	}
	list, err := listInstances(cl)
	if err != nil {
		s.lxd.Failed(serverID, err)
		return nil, err
	}
	c.list, c.at = list, time.Now()
	return list, nil
}

// listInstances reads the server's instances. LXD's full listing (recursion=2) gathers every
// instance's state — disks, counters, processes — and takes ~10 ms per running instance; deskhub needs
// the state only for the addresses of running instances that have a network device, so it reads the
// plain list and asks for those states alone, a few at a time.
func listInstances(cl incus.InstanceServer) ([]api.InstanceFull, error) {
	plain, err := cl.GetInstances(api.InstanceTypeAny)
	if err != nil {
		return nil, err
	}
	out := make([]api.InstanceFull, len(plain))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, inst := range plain {
		out[i].Instance = inst
		if inst.StatusCode != api.Running || !hasNIC(inst.ExpandedDevices) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if st, _, err := cl.GetInstanceState(inst.Name); err == nil {
				out[i].State = st
			}
		}()
	}
	wg.Wait()
	return out, nil
}

func hasNIC(devices map[string]map[string]string) bool {
	for _, d := range devices {
		if d["type"] == "nic" {
			return true
		}
	}
	return false
}

// InstanceList is what instance.list answers: the instances, and the servers that did not answer.
type InstanceList struct {
	Instances   []ResourceView[vmm.InstanceAttributes]
	Unreachable []int64
}

// ListInstances is instance.list: instances on the caller's servers and the instances deskhub created
// for the caller elsewhere, optionally only on one server or only one instance.
func (s *Service) ListInstances(ctx context.Context, c account.Caller, serverID, instanceID int64) (InstanceList, error) {
	out := InstanceList{Instances: []ResourceView[vmm.InstanceAttributes]{}}
	var rows []store.Server
	if instanceID != 0 {
		in, err := s.st.GetInstance(ctx, instanceID)
		if err != nil || (serverID != 0 && in.ServerID != serverID) {
			return out, instanceNotFound(instanceID)
		}
		serverID = in.ServerID
	}
	if serverID != 0 {
		row, err := s.st.GetServer(ctx, serverID)
		if err != nil {
			return out, serverNotFound(serverID)
		}
		rows = []store.Server{row}
	} else {
		all, err := s.st.ListServers(ctx, 0)
		if err != nil {
			return out, err
		}
		rows = all
	}
	owned, err := s.ownedInstances(ctx, c)
	if err != nil {
		return out, err
	}
	for _, row := range rows {
		if row.Provider != string(vmm.ProviderLXD) {
			continue
		}
		whole := mayUseServer(c, row)
		if !whole && len(owned[row.ID]) == 0 {
			if serverID != 0 {
				return out, serverNotFound(serverID)
			}
			continue
		}
		views, err := s.serverInstances(ctx, row, func(name string, in store.Instance) bool {
			return (whole || owned[row.ID][name]) && (instanceID == 0 || in.ID == instanceID)
		})
		if err != nil {
			if serverID != 0 {
				return out, err
			}
			out.Unreachable = append(out.Unreachable, row.ID)
			continue
		}
		out.Instances = append(out.Instances, views...)
	}
	if instanceID != 0 && len(out.Instances) == 0 {
		return out, instanceNotFound(instanceID)
	}
	return out, nil
}

// ownedInstances maps server id → names of the instances deskhub created for the caller.
func (s *Service) ownedInstances(ctx context.Context, c account.Caller) (map[int64]map[string]bool, error) {
	rows, err := s.st.ListInstancesByOwner(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	out := map[int64]map[string]bool{}
	for _, r := range rows {
		if out[r.ServerID] == nil {
			out[r.ServerID] = map[string]bool{}
		}
		out[r.ServerID][r.Name] = true
	}
	return out, nil
}

// serverInstances lists one server's instances that keep says to keep, giving each its deskhub id.
func (s *Service) serverInstances(ctx context.Context, row store.Server, keep func(name string, in store.Instance) bool) ([]ResourceView[vmm.InstanceAttributes], error) {
	if _, _, ok := s.lxd.Status(row.ID); !ok {
		return nil, fault.New(fault.Unavailable, "server %d is not connected", row.ID)
	}
	list, err := s.instances(row.ID)
	if err != nil {
		st, e, _ := s.lxd.Status(row.ID)
		return nil, &fault.Error{Kind: fault.Unavailable, RetryAfter: 5, Err: err,
			Msg: fmt.Sprintf("server %d is %s: %s", row.ID, st, e)}
	}
	known, err := s.st.ListInstances(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]store.Instance, len(known))
	for _, k := range known {
		byName[k.Name] = k
	}
	owners := map[int64]string{}
	out := make([]ResourceView[vmm.InstanceAttributes], 0, len(list))
	for _, inst := range list {
		in, ok := byName[inst.Name]
		if !ok {
			if in, err = s.st.EnsureInstance(ctx, row.ID, inst.Name); err != nil {
				return nil, err
			}
		}
		if !keep(inst.Name, in) {
			continue
		}
		a := instanceAttributes(row.ID, in, inst)
		if in.OwnerID != 0 {
			if _, ok := owners[in.OwnerID]; !ok {
				if u, err := s.st.GetUser(ctx, in.OwnerID); err == nil {
					owners[in.OwnerID] = u.Login
				}
			}
			a.InstanceOwner = owners[in.OwnerID]
		}
		out = append(out, ResourceView[vmm.InstanceAttributes]{ID: strconv.FormatInt(in.ID, 10), Attrs: a})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attrs.InstanceID < out[j].Attrs.InstanceID })
	return out, nil
}

func instanceAttributes(serverID int64, in store.Instance, inst api.InstanceFull) vmm.InstanceAttributes {
	a := vmm.InstanceAttributes{InstanceID: in.ID, InstanceName: inst.Name, InstanceType: inst.Type, InstanceStatus: inst.Status,
		InstanceDescription: inst.Description, InstanceArch: inst.Architecture, InstanceProfiles: nonNil(inst.Profiles),
		InstanceAddresses: []string{}, InstanceCreatedAt: inst.CreatedAt.UTC(), ServerID: serverID, Provider: vmm.ProviderLXD}
	if a.InstanceType == "" {
		a.InstanceType = vmm.InstanceTypeContainer
	}
	if img := inst.Config["volatile.base_image"]; img != "" {
		a.InstanceImage = img
	}
	a.InstanceImageOS = inst.Config["image.os"]
	if a.InstanceImageVersion = inst.Config["image.version"]; a.InstanceImageVersion == "" {
		a.InstanceImageVersion = inst.Config["image.release"]
	}
	a.InstanceMemory, a.InstanceCPU = inst.ExpandedConfig["limits.memory"], inst.ExpandedConfig["limits.cpu"]
	a.InstanceDevices = map[string]map[string]string{}
	for name, d := range inst.ExpandedDevices {
		a.InstanceDevices[name] = d
	}
	a.InstanceSessionID = inst.Config[lxd.KeySession]
	if !inst.LastUsedAt.IsZero() && inst.LastUsedAt.Year() > 1 {
		t := inst.LastUsedAt.UTC()
		a.InstanceLastUsedAt = &t
	}
	if inst.State != nil {
		names := make([]string, 0, len(inst.State.Network))
		for n := range inst.State.Network {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if n == "lo" {
				continue
			}
			for _, ad := range inst.State.Network[n].Addresses {
				a.InstanceAddresses = append(a.InstanceAddresses, ad.Address)
			}
		}
	}
	return a
}

func instanceNotFound(id int64) error { return fault.NotFoundf("no instance with instance_id %d", id) }

// GetInstance is instance.get: one instance by name, on the given server or (server_id 0) on any
// server the caller sees it on.
func (s *Service) GetInstance(ctx context.Context, c account.Caller, serverID int64, name string) (ResourceView[vmm.InstanceAttributes], error) {
	var zero ResourceView[vmm.InstanceAttributes]
	if name == "" {
		return zero, fault.Memberf("instance_name", "must not be empty")
	}
	list, err := s.ListInstances(ctx, c, serverID, 0)
	if err != nil {
		return zero, err
	}
	var found []ResourceView[vmm.InstanceAttributes]
	for _, v := range list.Instances {
		if v.Attrs.InstanceName == name {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		if len(list.Unreachable) > 0 {
			return zero, fault.New(fault.Unavailable, "no instance %q found; servers %v did not answer", name, list.Unreachable)
		}
		return zero, fault.NotFoundf("no instance %q", name)
	case 1:
		return found[0], nil
	}
	return zero, fault.Invalidf("server_id", "instance name %q exists on %d servers: give server_id", name, len(found))
}

// opSpec is what an operation is to do, kept with it so that a restarted deskhub can finish it.
type opSpec struct {
	ImageAlias       string   `json:"image_alias,omitempty"`
	ImageFingerprint string   `json:"image_fingerprint,omitempty"`
	ImageServer      string   `json:"image_server,omitempty"` // URL of the image server it pulls from
	Profiles         []string `json:"profiles,omitempty"`
	Type             string   `json:"type,omitempty"`
	Start            bool     `json:"start,omitempty"`
	Phase            string   `json:"phase,omitempty"` // for instance.add: "create", then "start"
	// Config is the new instance's configuration (limits, cloud-init data).
	Config map[string]string `json:"config,omitempty"`
}

// NewInstance is what instance.add creates: an instance of an image (by alias, or else by
// fingerprint) on a server.
type NewInstance struct {
	ServerID         int64
	Name             string
	ImageAlias       string
	ImageFingerprint string
	ImageServer      string // URL of an image server of ImageServers; empty: the server's own images
	Profiles         []string
	Type             string // "container" (default) or "virtual-machine"
	Start            bool   // start it once created
	RequestID        string // the client's id, echoed on the event stream
	// Config is the new instance's LXD configuration (limits.cpu, limits.memory, user.user-data…).
	Config map[string]string
}

// AddInstance is instance.add. It checks what it can at once (server, name, image, profiles, type),
// answers the operation, and creates (and starts) the instance in the background.
func (s *Service) AddInstance(ctx context.Context, c account.Caller, r NewInstance) (ResourceView[vmm.OperationAttributes], error) {
	var zero ResourceView[vmm.OperationAttributes]
	row, cl, err := s.serverClient(ctx, c, r.ServerID)
	if err != nil {
		return zero, err
	}
	typ := r.Type
	if typ == "" {
		typ = vmm.InstanceTypeContainer
	}
	if info, err := lxdconn.GetInfo(cl); err == nil && len(info.InstanceTypes()) > 0 && !slices.Contains(info.InstanceTypes(), typ) {
		return zero, fault.Invalidf("instance_type", "server %d cannot run instances of type %q (it runs %s)", r.ServerID, typ,
			strings.Join(info.InstanceTypes(), ", "))
	}
	if _, _, err := cl.GetInstance(r.Name); err == nil {
		return zero, &fault.Error{Kind: fault.Conflict, Field: "instance_name", Msg: fmt.Sprintf("server %d already has an instance %q", r.ServerID, r.Name)}
	} else if !lxdconn.IsNotFound(err) {
		return zero, s.callError(r.ServerID, "checking the instance name", err)
	}
	switch {
	case r.ImageServer != "":
		is, err := s.imageServer("image_server_host", r.ImageServer)
		if err != nil {
			return zero, err
		}
		if r.ImageFingerprint != "" {
			if err := checkFingerprint("image_fingerprint", r.ImageFingerprint); err != nil {
				return zero, err
			}
		}
		if err := s.findInCatalog(ctx, is, r.ImageAlias, r.ImageFingerprint); err != nil {
			return zero, err
		}
	case r.ImageAlias != "":
		if _, _, err := cl.GetImageAlias(r.ImageAlias); err != nil {
			if lxdconn.IsNotFound(err) {
				return zero, fault.Invalidf("image_alias", "server %d has no image alias %q", r.ServerID, r.ImageAlias)
			}
			return zero, s.callError(r.ServerID, "checking the image", err)
		}
	default:
		if err := checkFingerprint("image_fingerprint", r.ImageFingerprint); err != nil {
			return zero, err
		}
		if _, _, err := cl.GetImage(r.ImageFingerprint); err != nil {
			if lxdconn.IsNotFound(err) {
				return zero, fault.Invalidf("image_fingerprint", "server %d has no image %s", r.ServerID, r.ImageFingerprint)
			}
			return zero, s.callError(r.ServerID, "checking the image", err)
		}
	}
	if len(r.Profiles) > 0 {
		have, err := cl.GetProfileNames()
		if err != nil {
			return zero, s.callError(r.ServerID, "listing profiles", err)
		}
		for _, p := range r.Profiles {
			if !slices.Contains(have, p) {
				return zero, fault.Invalidf("instance_profiles", "server %d has no profile %q", r.ServerID, p)
			}
		}
	}
	spec := opSpec{ImageAlias: r.ImageAlias, ImageFingerprint: r.ImageFingerprint, ImageServer: r.ImageServer, Profiles: r.Profiles, Type: typ, Start: r.Start, Phase: "create", Config: r.Config}
	return s.startOp(ctx, c, store.Operation{Kind: "instance.add", ServerID: row.ID, InstanceName: r.Name, RequestID: r.RequestID}, spec)
}

// Action is what instance.action does to an instance: start, stop, stop-force, restart,
// restart-force, freeze, unfreeze or delete.
type Action struct {
	InstanceID int64
	Action     string
	RequestID  string // the client's id, echoed on the event stream
}

// InstanceAction is instance.action: it answers the operation at once and acts in the background.
func (s *Service) InstanceAction(ctx context.Context, c account.Caller, r Action) (ResourceView[vmm.OperationAttributes], error) {
	var zero ResourceView[vmm.OperationAttributes]
	in, err := s.st.GetInstance(ctx, r.InstanceID)
	if errors.Is(err, store.ErrNotFound) {
		return zero, instanceNotFound(r.InstanceID)
	} else if err != nil {
		return zero, err
	}
	row, err := s.st.GetServer(ctx, in.ServerID)
	if err != nil || !(mayUseServer(c, row) || (in.OwnerID != 0 && in.OwnerID == c.UserID)) {
		return zero, instanceNotFound(r.InstanceID)
	}
	// A server that is away for a moment (offline, reconnecting) gets the action when it is back, within
	// the operation timeout; one that no longer trusts deskhub cannot.
	st, e, ok := s.lxd.Status(row.ID)
	if !ok {
		return zero, fault.New(fault.Unavailable, "server %d is not connected", row.ID)
	}
	if st == stateUntrusted {
		return zero, fault.New(fault.Unavailable, "server %d does not trust deskhub any more: %s", row.ID, e)
	}
	return s.startOp(ctx, c, store.Operation{Kind: "instance.action", Action: r.Action, ServerID: row.ID, InstanceID: in.ID,
		InstanceName: in.Name, RequestID: r.RequestID}, opSpec{})
}
