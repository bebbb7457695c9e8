package fastx

// SessionProfile is the answer of /v3/system/session/profile: the policy the caller's sessions get.
type SessionProfile struct {
	Login             string   `json:"login" doc:"the user the profile applies to"`
	MaxSessions       int      `json:"maxSessions" doc:"most sessions the user may run at once (0: no limit)"`
	Sessions          int      `json:"sessions" doc:"sessions the user runs now"`
	DefaultGeometry   string   `json:"defaultGeometry" doc:"geometry of sessions started without one"`
	MaxWidth          int      `json:"maxWidth" doc:"widest geometry allowed, in pixels"`
	MaxHeight         int      `json:"maxHeight" doc:"tallest geometry allowed, in pixels"`
	DisconnectTimeout int      `json:"disconnectTimeout" doc:"seconds a disconnected session is kept (0: forever)"`
	Sharing           bool     `json:"sharing" doc:"the user may share sessions"`
	Servers           []string `json:"servers" doc:"ids of the servers the user's sessions may be placed on"`
}

// SystemCountRequest is the body of /v3/system/session/count.
type SystemCountRequest struct {
	Filter []string `json:"filter,omitempty" doc:"filters name==value1,value2 as in session/list: values OR, filters AND"`
}

// Validate checks the filters.
func (r *SystemCountRequest) Validate() error { return checkFilters(r.Filter) }

// ServerInfo is one server of /v3/system/server/list.
type ServerInfo struct {
	ID          string     `json:"id" doc:"server id"`
	Hostname    string     `json:"hostname" doc:"hostname of the server"`
	CPUs        int        `json:"cpus" doc:"number of CPUs"`
	CPUModel    string     `json:"cpuModel,omitempty" doc:"CPU model name, when known"`
	FreeMemory  int64      `json:"freeMemory" doc:"available memory in bytes"`
	TotalMemory int64      `json:"totalMemory" doc:"total memory in bytes"`
	LoadAverage [3]float64 `json:"loadAverage" doc:"load average over 1, 5 and 15 minutes"`
	Sessions    int        `json:"sessions" doc:"sessions running on the server"`
	Uptime      int64      `json:"uptime" doc:"seconds since the server booted"`
	State       string     `json:"state" doc:"deskhub: online (takes sessions), full (runs --max-sessions-per-server sessions), or why it takes none: offline, untrusted, connecting, unreachable, unavailable"`
	Error       string     `json:"error,omitempty" doc:"deskhub: why the server is not online"`
	Provider    string     `json:"provider" doc:"deskhub: what runs its desktops: local (this host) or lxd (LXD instances on a server added with server.add; id lxd-<server_id>)"`
	MaxSessions int        `json:"maxSessions" doc:"deskhub: most sessions per server (0: no limit)"`
	Pooled      int        `json:"pooled" doc:"deskhub: started desktops waiting for sessions there (the LXD warm pool, --lxd-pool-size); no sessions, not counted in sessions"`
}
