package vmm

// TypePool is the JSON:API type of storage pool resources.
const TypePool = "pool"

// PoolAttributes describe a storage pool on an LXD server.
type PoolAttributes struct {
	PoolName        string            `json:"pool_name" doc:"name of the pool"`
	PoolDriver      string            `json:"pool_driver" doc:"storage driver (dir, zfs, btrfs, lvm, ceph…)"`
	PoolDescription string            `json:"pool_description,omitempty" doc:"description of the pool"`
	PoolStatus      string            `json:"pool_status,omitempty" doc:"state of the pool (Created, Errored…)"`
	PoolConfig      map[string]string `json:"pool_config" doc:"configuration keys"`
	PoolSpaceUsed   int64             `json:"pool_space_used" doc:"bytes used"`
	PoolSpaceTotal  int64             `json:"pool_space_total" doc:"bytes in total"`
	PoolInodesUsed  int64             `json:"pool_inodes_used" doc:"inodes used (0: not reported)"`
	PoolInodesTotal int64             `json:"pool_inodes_total" doc:"inodes in total (0: not reported)"`
	PoolSource      string            `json:"pool_source" doc:"where the pool keeps its data (its source: a path, a device, a dataset)"`
	PoolUsedBy      []string          `json:"pool_used_by" doc:"instances, images, volumes and profiles using it"`
	ServerID        int64             `json:"server_id" doc:"id of the server"`
	Provider        Provider          `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// PoolListRequest is the body of pool.list.
type PoolListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *PoolListRequest) Validate() error { return checkProvider(r.Provider) }
