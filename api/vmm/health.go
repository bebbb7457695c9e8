package vmm

// TypeHealth is the JSON:API type of health answers.
const TypeHealth = "health"

// HealthAttributes answer health.alive and health.ready.
type HealthAttributes struct {
	Status string `json:"status" doc:"\"ok\" when alive/ready"`
	Store  string `json:"store,omitempty" doc:"for health.ready: the store backend that answered (sqlite or postgres)"`
	// Servers is set by health.ready when LXD servers have been added.
	Servers []ServerHealth `json:"servers,omitempty" doc:"for health.ready: reachability of each LXD server deskhub follows; status is \"degraded\" when one is not online"`
}

// ServerHealth is one LXD server's reachability in health.ready.
type ServerHealth struct {
	ServerID    int64  `json:"server_id" doc:"id of the server"`
	ServerState string `json:"server_state" doc:"\"online\", \"offline\", \"untrusted\" or \"connecting\""`
}
