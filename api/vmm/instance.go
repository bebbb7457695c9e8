package vmm

import (
	"fmt"
	"slices"
	"strings"
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

// InstanceAttributes describe an LXD instance (a container or VM) visible to the user.
type InstanceAttributes struct {
	InstanceID          int64      `json:"instance_id" doc:"deskhub's id of the instance, for instance.action"`
	InstanceName        string     `json:"instance_name" doc:"LXD name of the instance"`
	InstanceType        string     `json:"instance_type" doc:"\"container\" or \"virtual-machine\""`
	InstanceStatus      string     `json:"instance_status" doc:"LXD status: Running, Stopped, Frozen, Error…"`
	InstanceDescription string     `json:"instance_description,omitempty" doc:"description of the instance"`
	InstanceArch        string     `json:"instance_architecture" doc:"architecture (x86_64, aarch64…)"`
	InstanceImage       string     `json:"instance_image,omitempty" doc:"image the instance was created from (alias or fingerprint)"`
	InstanceProfiles    []string   `json:"instance_profiles" doc:"profiles applied to the instance"`
	InstanceAddresses   []string   `json:"instance_addresses" doc:"IP addresses of the instance"`
	InstanceOwner       string     `json:"instance_owner" doc:"login of the user the instance belongs to"`
	InstanceCreatedAt   time.Time  `json:"instance_created_at" doc:"when the instance was created"`
	InstanceLastUsedAt  *time.Time `json:"instance_last_used_at,omitempty" doc:"when the instance was last started"`
	ServerID            int64      `json:"server_id" doc:"id of the server the instance runs on"`
	Provider            Provider   `json:"provider" doc:"\"lxd\" or \"internal\""`
	InstanceSessionID   string     `json:"instance_session_id,omitempty" doc:"deskhub: set when the instance is a desktop deskhub runs: the id of its session (session surface); absent for other instances"`
}

// InstanceAddRequest is the body of instance.add. The seed repeats instance.action's body here (a
// copy-paste slip); this is the body needed to create an instance. The call is asynchronous: it
// answers an operation at once and reports completion on the event stream under request_id.
type InstanceAddRequest struct {
	ServerID         int64    `json:"server_id" required:"true" doc:"id of the server to create the instance on (the seed's instance.add body is a copy of instance.action's; this body is deskhub's)"`
	InstanceName     string   `json:"instance_name" required:"true" doc:"LXD name of the new instance"`
	ImageAlias       string   `json:"image_alias" doc:"alias of the image to create it from (this or image_fingerprint)"`
	ImageFingerprint string   `json:"image_fingerprint" doc:"fingerprint of the image to create it from (this or image_alias)"`
	ImageServerHost  string   `json:"image_server_host" doc:"empty: an image stored on the server; else the URL of an image server from image.serverList (deskhub's own included) that the server pulls the image from"`
	Profiles         []string `json:"instance_profiles" doc:"profiles to apply (default: the server's default profile)"`
	InstanceType     string   `json:"instance_type" doc:"\"container\" (default) or \"virtual-machine\""`
	InstanceStart    *bool    `json:"instance_start" doc:"start the instance once created (deskhub extension; default true)"`
	RequestID        string   `json:"request_id" doc:"client's id for this request, echoed on the event stream when it completes"`
	Provider         Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
}

// Validate checks the name, the image choice and the type.
func (r *InstanceAddRequest) Validate() error {
	if err := checkProvider(r.Provider); err != nil {
		return err
	}
	if !validInstanceName(r.InstanceName) {
		return field.Errorf("instance_name", "must be 1-63 letters, digits and dashes, starting with a letter and not ending with a dash, not %q", r.InstanceName)
	}
	if (r.ImageAlias == "") == (r.ImageFingerprint == "") {
		return fmt.Errorf("exactly one of the members \"image_alias\" and \"image_fingerprint\" must be given")
	}
	switch r.InstanceType {
	case "", InstanceTypeContainer, InstanceTypeVirtualMachine:
	default:
		return field.Errorf("instance_type", "must be %q or %q, not %q", InstanceTypeContainer, InstanceTypeVirtualMachine, r.InstanceType)
	}
	return checkRequestID(r.RequestID)
}

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
// operation at once and reports completion on the event stream under request_id. The seed marks
// instance_status optional, but there is nothing to do without it, so Validate requires it.
type InstanceActionRequest struct {
	InstanceID     int64    `json:"instance_id" required:"true" doc:"id of the instance"`
	InstanceStatus string   `json:"instance_status" doc:"the action: start, stop, stop-force, restart, restart-force, freeze, unfreeze or delete"`
	RequestID      string   `json:"request_id" doc:"client's id for this request, echoed on the event stream when it completes"`
	Provider       Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
}

// Validate checks the provider and the action.
func (r *InstanceActionRequest) Validate() error {
	if err := checkProvider(r.Provider); err != nil {
		return err
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
	ServerID     int64    `json:"server_id" doc:"id of the server the instance runs on"`
}

// Validate checks the provider.
func (r *InstanceGetRequest) Validate() error { return checkProvider(r.Provider) }

// InstanceListRequest is the body of instance.list; absent filters list every instance available to
// the user.
type InstanceListRequest struct {
	InstanceID int64    `json:"instance_id" doc:"only this instance"`
	Provider   Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID   int64    `json:"server_id" doc:"only instances on this server"`
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
