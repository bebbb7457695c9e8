package fastx

// Null is the result of calls the seed answers with { "result": null }; it encodes as JSON null.
type Null struct{}

// MarshalJSON encodes Null as null.
func (Null) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// Params are a session's free user parameters. In session/params an empty value deletes the key.
type Params map[string]string

// Config is the answer of /v3/api and /v3/api/config: what a client needs before logging in.
type Config struct {
	Version   int       `json:"version" doc:"API version (3)"`
	ServerID  string    `json:"serverId" doc:"server id of the server you are connecting to"`
	Port      int       `json:"port" doc:"HTTP port"`
	HTTPSPort int       `json:"httpsport" doc:"HTTPS port"`
	Hostname  string    `json:"hostname" doc:"hostname of the server"`
	Servers   []string  `json:"servers" doc:"ids of the servers you can connect to"`
	SSH       SSHConfig `json:"ssh" doc:"how the login form authenticates"`
}

// SSHConfig tells the login form which SSH authentication to offer.
type SSHConfig struct {
	Basic             bool `json:"basic" doc:"force basic SSH authentication"`
	PublicKey         bool `json:"publicKey" doc:"enable public-key authentication"`
	HidePasswordField bool `json:"hidePasswordField" doc:"hide the password field"`
}

// XrdpConfig is the answer of /v3/api/xrdp/config: the display defaults new sessions get. The seed names
// this endpoint without describing it; these members are deskhub's.
type XrdpConfig struct {
	Geometry   string `json:"geometry" doc:"default geometry of new sessions, WIDTHxHEIGHT"`
	ColorDepth int    `json:"colorDepth" doc:"colour depth of new displays in bits per pixel (8, 16, 24 or 32)"`
	FrameRate  int    `json:"frameRate" doc:"maximum frames per second sent to clients"`
	Clipboard  string `json:"clipboard" doc:"clipboard sharing between browser and session: both, to-client, to-server or none"`
}
