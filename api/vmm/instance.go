package vmm

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// TypeInstance is the JSON:API type of instance resources.
const TypeInstance = "instance"

// Instance types.
const (
	InstanceTypeContainer      = "container"
	InstanceTypeVirtualMachine = "virtual-machine"
)

// InstanceActions are the values instance.action takes in instance_status.
var InstanceActions = []string{"start", "stop", "stop-force", "restart", "restart-force", "freeze", "unfreeze", "delete"}

// InstanceAttributes describe an LXD instance (a container or VM) visible to the user. The members
// ui-vmm's panel reads are there under its names: instance_arch, instance_image_os,
// instance_image_version, instance_memory, instance_cpu, instance_devices, instance_profiles as a
// comma-separated string, instance_status in lower case.
type InstanceAttributes struct {
	InstanceID           int64                        `json:"instance_id" doc:"deskhub's id of the instance, for instance.action"`
	InstanceName         string                       `json:"instance_name" doc:"LXD name of the instance"`
	InstanceType         string                       `json:"instance_type" doc:"\"container\" or \"virtual-machine\""`
	InstanceStatus       string                       `json:"instance_status" doc:"LXD status in lower case: running, stopped, frozen, error…"`
	InstanceDescription  string                       `json:"instance_description,omitempty" doc:"description of the instance"`
	InstanceArch         string                       `json:"instance_architecture" doc:"architecture (x86_64, aarch64…)"`
	InstanceArchShort    string                       `json:"instance_arch" doc:"the architecture again, as ui-vmm's panel reads it"`
	InstanceImage        string                       `json:"instance_image,omitempty" doc:"image the instance was created from (alias or fingerprint)"`
	InstanceImageOS      string                       `json:"instance_image_os" doc:"operating system of its image (image.os), e.g. debian"`
	InstanceImageVersion string                       `json:"instance_image_version" doc:"release of its image (image.version, else image.release), e.g. 12"`
	InstanceMemory       string                       `json:"instance_memory" doc:"memory limit (limits.memory, e.g. 512MiB); empty: none"`
	InstanceCPU          string                       `json:"instance_cpu" doc:"CPU limit (limits.cpu); empty: none"`
	InstanceDevices      map[string]map[string]string `json:"instance_devices" doc:"devices of the instance, its profiles' included, by name"`
	InstanceProfiles     CommaList                    `json:"instance_profiles" doc:"profiles applied to the instance, comma-separated"`
	InstanceAddresses    []string                     `json:"instance_addresses" doc:"IP addresses of the instance"`
	InstanceOwner        string                       `json:"instance_owner" doc:"login of the user the instance belongs to"`
	InstanceCreatedAt    time.Time                    `json:"instance_created_at" doc:"when the instance was created"`
	InstanceLastUsedAt   *time.Time                   `json:"instance_last_used_at,omitempty" doc:"when the instance was last started"`
	ServerID             int64                        `json:"server_id" doc:"id of the server the instance runs on"`
	Provider             Provider                     `json:"provider" doc:"\"lxd\" or \"internal\""`
	InstanceSessionID    string                       `json:"instance_session_id,omitempty" doc:"deskhub: set when the instance is a desktop deskhub runs: the id of its session (session surface); absent for other instances"`
}

// InstanceAddRequest is the body of instance.add. The seed repeats instance.action's body here (a
// copy-paste slip); this is the body needed to create an instance, with the members ui-vmm's panel
// sends: instance_image (a fingerprint or an alias, for image_fingerprint/image_alias),
// instance_memory (MiB) and instance_cpu as numbers or numeric strings, instance_profiles as an array or
// a comma-separated string, instance_command and the network members (applied through cloud-init).
// The call is asynchronous: it answers an operation at once and reports completion on the event stream
// under request_id.
type InstanceAddRequest struct {
	ServerID           FlexInt    `json:"server_id" required:"true" doc:"id of the server to create the instance on (the seed's instance.add body is a copy of instance.action's; this body is deskhub's)"`
	InstanceName       string     `json:"instance_name" required:"true" doc:"LXD name of the new instance"`
	ImageAlias         string     `json:"image_alias" doc:"alias of the image to create it from (one of image_alias, image_fingerprint, instance_image)"`
	ImageFingerprint   string     `json:"image_fingerprint" doc:"fingerprint of the image to create it from"`
	InstanceImage      string     `json:"instance_image" doc:"the image as ui-vmm's panel names it: a fingerprint (12 to 64 hex digits) or else an alias"`
	ImageServerHost    string     `json:"image_server_host" doc:"empty: an image stored on the server; else the URL of an image server from image.serverList (deskhub's own included) that the server pulls the image from"`
	Profiles           StringList `json:"instance_profiles" doc:"profiles to apply, an array or a comma-separated string (default: the server's default profile)"`
	InstanceType       string     `json:"instance_type" doc:"\"container\" (default) or \"virtual-machine\""`
	InstanceMemory     FlexInt    `json:"instance_memory" doc:"memory limit in MiB (limits.memory); 0 or absent: none"`
	InstanceCPU        FlexInt    `json:"instance_cpu" doc:"number of CPUs (limits.cpu); 0 or absent: none"`
	InstanceCommand    string     `json:"instance_command" doc:"a shell command cloud-init runs once on the first boot (user.user-data runcmd); needs an image with cloud-init"`
	InstanceInterface  string     `json:"instance_interface" doc:"network interface the address and name server apply to (e.g. eth0), through cloud-init"`
	InstanceNetwork    string     `json:"instance_network" doc:"static address of instance_interface in CIDR form (e.g. 10.0.0.5/24), through cloud-init"`
	InstanceNameserver string     `json:"instance_nameserver" doc:"name server for instance_interface (with instance_network), through cloud-init"`
	InstanceDHCP       bool       `json:"instance_dhcp" doc:"configure instance_interface by DHCP, through cloud-init"`
	InstanceStart      *bool      `json:"instance_start,omitempty" doc:"start the instance once created (deskhub extension; default true)"`
	RequestID          string     `json:"request_id" doc:"client's id for this request, echoed on the event stream when it completes"`
	Provider           Provider   `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
}

// fingerprintRE is an image fingerprint or a prefix of one.
var fingerprintRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-fA-F]{12,64}$`) })

// Validate checks the name, the image choice, the type, the limits and the network members; it moves
// instance_image into image_fingerprint or image_alias.
func (r *InstanceAddRequest) Validate() error {
	if err := checkProvider(r.Provider); err != nil {
		return err
	}
	if !validInstanceName(r.InstanceName) {
		return field.Errorf("instance_name", "must be 1-63 letters, digits and dashes, starting with a letter and not ending with a dash, not %q", r.InstanceName)
	}
	if r.InstanceImage != "" {
		if r.ImageAlias != "" || r.ImageFingerprint != "" {
			return field.Errorf("instance_image", "cannot be given with image_alias or image_fingerprint")
		}
		if fingerprintRE().MatchString(r.InstanceImage) {
			r.ImageFingerprint = r.InstanceImage
		} else {
			r.ImageAlias = r.InstanceImage
		}
		r.InstanceImage = ""
	}
	if (r.ImageAlias == "") == (r.ImageFingerprint == "") {
		return fmt.Errorf("exactly one of the members \"image_alias\", \"image_fingerprint\" and \"instance_image\" must be given")
	}
	switch r.InstanceType {
	case "", InstanceTypeContainer, InstanceTypeVirtualMachine:
	default:
		return field.Errorf("instance_type", "must be %q or %q, not %q", InstanceTypeContainer, InstanceTypeVirtualMachine, r.InstanceType)
	}
	if r.InstanceMemory < 0 || r.InstanceMemory > 1<<30 {
		return field.Errorf("instance_memory", "must be a number of MiB between 0 and %d, not %d", 1<<30, r.InstanceMemory)
	}
	if r.InstanceCPU < 0 || r.InstanceCPU > 4096 {
		return field.Errorf("instance_cpu", "must be a number of CPUs between 0 and 4096, not %d", r.InstanceCPU)
	}
	if strings.ContainsAny(r.InstanceCommand, "\x00") || len(r.InstanceCommand) > 4096 {
		return field.Errorf("instance_command", "must be at most 4096 bytes of text")
	}
	if r.InstanceInterface != "" && !ifaceRE().MatchString(r.InstanceInterface) {
		return field.Errorf("instance_interface", "must be an interface name (letters, digits, '-', '_', '.'; at most 15), not %q", r.InstanceInterface)
	}
	if r.InstanceNetwork != "" {
		if r.InstanceInterface == "" {
			return field.Errorf("instance_network", "needs instance_interface")
		}
		if _, _, err := net.ParseCIDR(r.InstanceNetwork); err != nil {
			return field.Errorf("instance_network", "must be an address in CIDR form (10.0.0.5/24), not %q", r.InstanceNetwork)
		}
	}
	if r.InstanceNameserver != "" && net.ParseIP(r.InstanceNameserver) == nil {
		return field.Errorf("instance_nameserver", "must be an IP address, not %q", r.InstanceNameserver)
	}
	if r.InstanceDHCP && r.InstanceInterface == "" {
		return field.Errorf("instance_dhcp", "needs instance_interface")
	}
	return checkRequestID(r.RequestID)
}

var ifaceRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`) })

// validInstanceName applies LXD's rules for instance names (a host name label).
func validInstanceName(name string) bool {
	if len(name) < 1 || len(name) > 63 || name[len(name)-1] == '-' {
		return false
	}
	if c := name[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return false
	}
	return strings.IndexFunc(name, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')
	}) < 0
}

// InstanceActionRequest is the body of instance.action. The call is asynchronous: it answers an
// operation at once and reports completion on the event stream under request_id. The seed names the
// instance by instance_id; ui-vmm's panel names it by instance_name (with server_id): either is taken.
// The seed marks instance_status optional, but there is nothing to do without it: it is required.
type InstanceActionRequest struct {
	InstanceID     FlexInt  `json:"instance_id" doc:"id of the instance (the seed's way; or instance_name)"`
	InstanceName   string   `json:"instance_name" doc:"LXD name of the instance (ui-vmm's panel's way), with server_id when two servers have one of that name"`
	ServerID       FlexInt  `json:"server_id" doc:"id of the server the instance runs on (with instance_name)"`
	InstanceStatus string   `json:"instance_status" required:"true" doc:"the action: start, stop, stop-force, restart, restart-force, freeze, unfreeze or delete"`
	RequestID      string   `json:"request_id" doc:"client's id for this request, echoed on the event stream when it completes"`
	Provider       Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
}

// Validate checks the provider, the instance and the action.
func (r *InstanceActionRequest) Validate() error {
	if err := checkProvider(r.Provider); err != nil {
		return err
	}
	if (r.InstanceID == 0) == (r.InstanceName == "") {
		return fmt.Errorf("exactly one of the members \"instance_id\" and \"instance_name\" must be given")
	}
	if !slices.Contains(InstanceActions, r.InstanceStatus) {
		return field.Errorf("instance_status", "must be one of %s, not %q", strings.Join(InstanceActions, ", "), r.InstanceStatus)
	}
	return checkRequestID(r.RequestID)
}

// InstanceGetRequest is the body of instance.get.
type InstanceGetRequest struct {
	InstanceName string   `json:"instance_name" doc:"LXD name of the instance"`
	Provider     Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID     FlexInt  `json:"server_id" doc:"id of the server the instance runs on"`
}

// Validate checks the provider.
func (r *InstanceGetRequest) Validate() error { return checkProvider(r.Provider) }

// InstanceListRequest is the body of instance.list; absent filters list every instance available to
// the user.
type InstanceListRequest struct {
	InstanceID FlexInt  `json:"instance_id" doc:"only this instance"`
	Provider   Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID   FlexInt  `json:"server_id" doc:"only instances on this server"`
}

// Validate checks the provider.
func (r *InstanceListRequest) Validate() error { return checkProvider(r.Provider) }

// TypeOperation is the JSON:API type of operation resources.
const TypeOperation = "operation"

// Operation statuses.
const (
	OperationPending = "pending"
	OperationRunning = "running"
	OperationSuccess = "success"
	OperationFailure = "failure"
)

// OperationAttributes answer the asynchronous calls (instance.add, instance.action): the work goes on
// after the answer, and its end is reported on the event stream under request_id.
type OperationAttributes struct {
	OperationID string   `json:"operation_id" doc:"id of the background operation"`
	RequestID   string   `json:"request_id" doc:"the client's request_id, echoed"`
	Status      string   `json:"status" doc:"\"pending\", \"running\", \"success\" or \"failure\""`
	Provider    Provider `json:"provider,omitempty" doc:"\"lxd\" or \"internal\""`
}
