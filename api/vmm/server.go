package vmm

import (
	"net"
	"regexp"
	"strings"

	"github.com/deskhub/deskhub/api/field"
)

// TypeServer is the JSON:API type of server resources.
const TypeServer = "server"

// ServerAttributes describe a host deskhub places instances on: an LXD/Incus server added with
// server.add, or the local host (provider "internal").
type ServerAttributes struct {
	ServerName                   string   `json:"server_name" doc:"name of the server (its LXD server name or host name)"`
	ServerHost                   string   `json:"server_host" doc:"host name or address deskhub reaches the server at"`
	ServerPort                   FlexInt  `json:"server_port" doc:"TCP port of the server's API"`
	ServerProtocol               string   `json:"server_protocol" doc:"API protocol of the server (\"lxd\")"`
	ServerPath                   string   `json:"server_path" doc:"unix socket path, for a server reached over a socket"`
	ServerProject                string   `json:"server_project" doc:"LXD project deskhub works in on this server (deskhub extension)"`
	ServerOwner                  string   `json:"server_owner" doc:"login of the user who added the server"`
	ServerAddresses              []string `json:"server_addresses" doc:"addresses the server's API listens on"`
	ServerCertificateFingerprint string   `json:"server_certificate_fingerprint" doc:"SHA-256 fingerprint of the server's TLS certificate, pinned at server.add"`
	ServerCPU                    int      `json:"server_cpu" doc:"number of CPU threads"`
	ServerMemory                 int64    `json:"server_memory" doc:"total memory in bytes"`
	ServerStorage                int64    `json:"server_storage" doc:"total storage of its pools in bytes"`
	ServerKernel                 string   `json:"server_kernel" doc:"kernel name and version"`
	ServerDriver                 string   `json:"server_driver" doc:"instance drivers (e.g. \"lxc | qemu\")"`
	ServerVersion                string   `json:"server_version" doc:"version of LXD/Incus on the server"`
	ServerInstanceTypes          []string `json:"server_instance_types" doc:"instance types it can run: \"container\", \"virtual-machine\""`
	ServerState                  string   `json:"server_state" doc:"\"online\", \"offline\" or \"untrusted\""`
	Provider                     Provider `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// hostnameRE is a DNS name: dot-separated labels of letters, digits and inner dashes.
var hostnameRE = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))*\.?$`)

// ServerProtocols are the values server_protocol takes.
var ServerProtocols = []string{"lxd", "incus"}

// checkServerConn checks the members of server.add and server.verify.
func checkServerConn(host string, port FlexInt, protocol, path, project string) error {
	if path != "" {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "\x00\n") {
			return field.Errorf("server_path", "must be an absolute path to a unix socket, not %q", path)
		}
	} else {
		if strings.TrimSpace(host) == "" {
			return field.Errorf("server_host", "must not be empty")
		}
		h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if net.ParseIP(h) == nil && (len(host) > 253 || !hostnameRE.MatchString(host)) {
			return field.Errorf("server_host", "must be a host name or an IP address (no scheme, port or path), not %q", host)
		}
		if port < 1 || port > 65535 {
			return field.Errorf("server_port", "must be a port number between 1 and 65535, not %d", port)
		}
	}
	if !slicesContains(ServerProtocols, protocol) {
		return field.Errorf("server_protocol", "must be \"lxd\" or \"incus\", not %q", protocol)
	}
	if project != "" && !projectRE.MatchString(project) {
		return field.Errorf("server_project", "must be an LXD project name (letters, digits, '-', '_', '.'), not %q", project)
	}
	return nil
}

var projectRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ServerAddRequest is the body of server.add: deskhub makes the LXD server trust its client
// certificate with the trust password (LXD 5.0) or a trust token, and records the server.
type ServerAddRequest struct {
	ServerHost     string  `json:"server_host" required:"true" doc:"host name or address of the LXD server"`
	ServerPassword string  `json:"server_password" required:"true" doc:"trust password of the LXD server (core.trust_password), or a trust token from \"lxc config trust add\""`
	ServerPath     string  `json:"server_path" doc:"unix socket path, to reach a local server over its socket"`
	ServerPort     FlexInt `json:"server_port" required:"true" doc:"TCP port of the server's API (usually 8443); a number or a numeric string"`
	ServerProtocol string  `json:"server_protocol" required:"true" doc:"API protocol of the server: \"lxd\" or \"incus\""`
	ServerProject  string  `json:"server_project" doc:"LXD project deskhub works in on this server (deskhub extension; default \"default\")"`
}

// Validate checks host, port, protocol and project.
func (r *ServerAddRequest) Validate() error {
	return checkServerConn(r.ServerHost, r.ServerPort, r.ServerProtocol, r.ServerPath, r.ServerProject)
}

// ServerVerifyRequest is the body of server.verify: the same members as server.add, but deskhub only
// checks that the server answers and accepts the credentials, recording nothing. (The seed types
// server_host as an integer here, a slip: it is a string as in server.add.)
type ServerVerifyRequest ServerAddRequest

// Validate checks host, port, protocol and project.
func (r *ServerVerifyRequest) Validate() error {
	return checkServerConn(r.ServerHost, r.ServerPort, r.ServerProtocol, r.ServerPath, r.ServerProject)
}

// ServerGetRequest is the body of server.get.
type ServerGetRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID int64    `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ServerGetRequest) Validate() error { return checkProvider(r.Provider) }

// ServerListRequest is the body of server.list. The seed marks server_id required even for the list;
// 0 lists every server available to the user.
type ServerListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID int64    `json:"server_id" required:"true" doc:"id of one server to list, or 0 for all servers available to the user"`
}

// Validate checks the provider.
func (r *ServerListRequest) Validate() error { return checkProvider(r.Provider) }

// ServerDeleteRequest is the body of server.delete, a deskhub extension (the seed has no way to remove
// a server): deskhub forgets the server and, unless asked not to, withdraws its certificate from the
// server's trust store.
type ServerDeleteRequest struct {
	Provider        Provider `json:"provider" required:"true" doc:"\"lxd\""`
	ServerID        int64    `json:"server_id" required:"true" doc:"id of the server to forget"`
	ServerKeepTrust bool     `json:"server_keep_trust" doc:"leave deskhub's certificate in the server's trust store (default: remove it, unless another added record uses the same server)"`
}

// Validate checks the provider.
func (r *ServerDeleteRequest) Validate() error { return checkProvider(r.Provider) }
