package vmm

// TypeHealth is the JSON:API type of health answers.
const TypeHealth = "health"

// HealthAttributes answer health.alive and health.ready.
type HealthAttributes struct {
	Status string `json:"status" doc:"\"ok\" when alive/ready"`
	Store  string `json:"store,omitempty" doc:"for health.ready: the store backend that answered (sqlite or postgres)"`
}
