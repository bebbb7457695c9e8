package vmm

import "github.com/deskhub/deskhub/api/field"

// TypeProfile is the JSON:API type of profile resources.
const TypeProfile = "profile"

// ProfileAttributes describe an LXD profile.
type ProfileAttributes struct {
	ProfileName        string                       `json:"profile_name" doc:"name of the profile"`
	ProfileDescription string                       `json:"profile_description,omitempty" doc:"description of the profile"`
	ProfileConfig      map[string]string            `json:"profile_config" doc:"instance configuration keys"`
	ProfileDevices     map[string]map[string]string `json:"profile_devices" doc:"devices by name"`
	ProfileUsedBy      []string                     `json:"profile_used_by" doc:"instances using the profile"`
	ProfileBody        string                       `json:"profile_body" doc:"the profile as YAML, as \"lxc profile show\" prints it and profile.update takes it (ui-vmm's panel edits it)"`
	ServerID           int64                        `json:"server_id" doc:"id of the server"`
	Provider           Provider                     `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// ProfileDeleteRequest is the body of profile.delete.
type ProfileDeleteRequest struct {
	ProfileName string   `json:"profile_name" required:"true" doc:"name of the profile to remove"`
	Provider    Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID    FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ProfileDeleteRequest) Validate() error { return checkProvider(r.Provider) }

// ProfileListRequest is the body of profile.list.
type ProfileListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ProfileListRequest) Validate() error { return checkProvider(r.Provider) }

// ProfileUpdateRequest is the body of profile.update.
type ProfileUpdateRequest struct {
	ProfileBody   string   `json:"profile_body" required:"true" doc:"the profile as YAML or JSON (description, config, devices), as \"lxc profile edit\" shows it"`
	ProfileName   string   `json:"profile_name" required:"true" doc:"name of the profile to update"`
	ProfileRename string   `json:"profile_rename" doc:"new name for the profile"`
	Provider      Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID      FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider and the names.
func (r *ProfileUpdateRequest) Validate() error {
	if r.ProfileName == "" {
		return field.Errorf("profile_name", "must not be empty")
	}
	return checkProvider(r.Provider)
}
