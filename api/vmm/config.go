package vmm

// TypeConfig is the JSON:API type of the config answer.
const TypeConfig = "config"

// ConfigAttributes answer config.get: the options of the server that the UI needs before login.
type ConfigAttributes struct {
	DisableUserRecovery     bool   `json:"disable_user_recovery" doc:"password recovery by mail is off"`
	DisableUserRegistration bool   `json:"disable_user_registration" doc:"self-registration is off"`
	DisableServerAdd        bool   `json:"disable_server_add" doc:"only administrators may add servers"`
	DisableSSHKeyAdd        bool   `json:"disable_ssh_key_add" doc:"users may not add SSH keys"`
	Stream                  string `json:"stream" doc:"a fresh event stream id: open it with event.subscribe, bind it with event.auth"`
	WebauthEnabled          bool   `json:"webauth_enabled" doc:"WebAuthn login is on"`
	SimplestreamEnabled     bool   `json:"simplestream_enabled" doc:"deskhub's simplestreams image server is on"`
}
