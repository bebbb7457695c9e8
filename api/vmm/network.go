package vmm

// TypeNetwork is the JSON:API type of network resources.
const TypeNetwork = "network"

// NetworkAttributes describe a network on an LXD server.
type NetworkAttributes struct {
	NetworkName        string            `json:"network_name" doc:"name of the network"`
	NetworkType        string            `json:"network_type" doc:"bridge, macvlan, sriov, ovn, physical…"`
	NetworkManaged     bool              `json:"network_managed" doc:"whether LXD manages it"`
	NetworkDescription string            `json:"network_description,omitempty" doc:"description of the network"`
	NetworkStatus      string            `json:"network_status,omitempty" doc:"state of a managed network (Created, Errored…)"`
	NetworkConfig      map[string]string `json:"network_config" doc:"configuration keys"`
	NetworkUsedBy      []string          `json:"network_used_by" doc:"instances and profiles using it"`
	ServerID           int64             `json:"server_id" doc:"id of the server"`
	Provider           Provider          `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// NetworkListRequest is the body of network.list.
type NetworkListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *NetworkListRequest) Validate() error { return checkProvider(r.Provider) }
