package vmm

import "time"

// TypeVolume is the JSON:API type of storage volume resources.
const TypeVolume = "volume"

// VolumeAttributes describe a storage volume on an LXD server.
type VolumeAttributes struct {
	VolumeName        string            `json:"volume_name" doc:"name of the volume"`
	VolumeType        string            `json:"volume_type" doc:"container, virtual-machine, image or custom"`
	VolumePool        string            `json:"volume_pool" doc:"pool holding the volume"`
	PoolName          string            `json:"pool_name" doc:"the pool again, as ui-vmm's panel reads it"`
	VolumeContentType string            `json:"volume_content_type" doc:"filesystem or block"`
	VolumeDescription string            `json:"volume_description,omitempty" doc:"description of the volume"`
	VolumeConfig      map[string]string `json:"volume_config" doc:"configuration keys"`
	VolumeUsedBy      CommaList         `json:"volume_used_by" doc:"instances and profiles using it, comma-separated (as ui-vmm's panel shows it)"`
	VolumeCreatedAt   time.Time         `json:"volume_created_at" doc:"when the volume was created"`
	ServerID          int64             `json:"server_id" doc:"id of the server"`
	Provider          Provider          `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// VolumeListRequest is the body of volume.list.
type VolumeListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *VolumeListRequest) Validate() error { return checkProvider(r.Provider) }
