package vmm

import (
	"net"
	"regexp"
	"strings"
	"sync"

	"github.com/deskhub/deskhub/api/field"
)

// TypeServer is the JSON:API type of server resources.
const TypeServer = "server"

// ServerAttributes describe a host deskhub places instances on: an LXD/Incus server added with
// server.add, or the local host (provider "internal"). The seed gives no answer schema; the members
// follow ui-vmm's panel (server_id, user_id, server_cpu_*, server_memory_* in MiB, server_kernel_*,
// server_driver_version, server_server*, server_storage as the storage driver, lists as
// comma-separated strings), with deskhub's own members beside them.
type ServerAttributes struct {
	ServerID                     int64     `json:"server_id" doc:"id of the server (the resource's id again, as ui-vmm's panel reads it)"`
	UserID                       int64     `json:"user_id" doc:"id of the user who added the server (0: none)"`
	ServerName                   string    `json:"server_name" doc:"name of the server (its LXD server name or host name)"`
	ServerHost                   string    `json:"server_host" doc:"host name or address deskhub reaches the server at"`
	ServerPort                   FlexInt   `json:"server_port" doc:"TCP port of the server's API"`
	ServerProtocol               string    `json:"server_protocol" doc:"API protocol of the server (\"lxd\" or \"incus\")"`
	ServerPath                   string    `json:"server_path" doc:"unix socket path, for a server reached over a socket"`
	ServerProject                string    `json:"server_project" doc:"LXD project deskhub works in on this server (deskhub extension)"`
	ServerOwner                  string    `json:"server_owner" doc:"login of the user who added the server"`
	ServerAddresses              CommaList `json:"server_addresses" doc:"addresses the server's API listens on, comma-separated"`
	ServerCertificateFingerprint string    `json:"server_certificate_fingerprint" doc:"SHA-256 fingerprint of the server's TLS certificate, pinned at server.add"`
	ServerCPU                    int       `json:"server_cpu" doc:"number of CPU threads"`
	ServerCPUCores               int       `json:"server_cpu_cores" doc:"number of CPU cores"`
	ServerCPUThreads             int       `json:"server_cpu_threads" doc:"number of CPU threads"`
	ServerCPUModel               string    `json:"server_cpu_model" doc:"CPU model name"`
	ServerCPUVendor              string    `json:"server_cpu_vendor" doc:"CPU vendor"`
	ServerMemory                 int64     `json:"server_memory" doc:"total memory in bytes"`
	ServerMemoryTotal            int64     `json:"server_memory_total" doc:"total memory in MiB"`
	ServerMemoryUsed             int64     `json:"server_memory_used" doc:"memory in use in MiB"`
	ServerStorage                string    `json:"server_storage" doc:"storage driver of the server (dir, zfs, btrfs…)"`
	ServerStorageVersion         string    `json:"server_storage_version" doc:"version of the storage driver"`
	ServerStorageTotal           int64     `json:"server_storage_total" doc:"total storage of its pools in bytes (server.get)"`
	ServerKernel                 string    `json:"server_kernel" doc:"kernel name and version"`
	ServerKernelVersion          string    `json:"server_kernel_version" doc:"kernel version"`
	ServerKernelArchitecture     string    `json:"server_kernel_architecture" doc:"kernel architecture (x86_64, aarch64…)"`
	ServerDriver                 string    `json:"server_driver" doc:"instance drivers (e.g. \"lxc | qemu\")"`
	ServerDriverVersion          string    `json:"server_driver_version" doc:"versions of the instance drivers"`
	ServerServer                 string    `json:"server_server" doc:"the server software: \"lxd\" or \"incus\""`
	ServerServerVersion          string    `json:"server_server_version" doc:"version of LXD/Incus on the server"`
	ServerVersion                string    `json:"server_version" doc:"version of LXD/Incus on the server"`
	ServerInstanceTypes          []string  `json:"server_instance_types" doc:"instance types it can run: \"container\", \"virtual-machine\""`
	ServerSupportedInstanceTypes CommaList `json:"server_supported_instance_types" doc:"the instance types again, comma-separated, as ui-vmm's panel reads them"`
	ServerState                  string    `json:"server_state" doc:"\"online\", \"offline\", \"untrusted\" or \"connecting\""`
	Provider                     Provider  `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// hostnameRE is a DNS name: dot-separated labels of letters, digits and inner dashes.
var hostnameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))*\.?$`)
})

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
		if net.ParseIP(h) == nil && (len(host) > 253 || !hostnameRE().MatchString(host)) {
			return field.Errorf("server_host", "must be a host name or an IP address (no scheme, port or path), not %q", host)
		}
		if port < 1 || port > 65535 {
			return field.Errorf("server_port", "must be a port number between 1 and 65535, not %d", port)
		}
	}
	if !slicesContains(ServerProtocols, protocol) {
		return field.Errorf("server_protocol", "must be \"lxd\" or \"incus\", not %q", protocol)
	}
	if project != "" && !projectRE().MatchString(project) {
		return field.Errorf("server_project", "must be an LXD project name (letters, digits, '-', '_', '.'), not %q", project)
	}
	return nil
}

var projectRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`) })

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
	ServerHost     string   `json:"server_host" required:"true" doc:"host name or address of the LXD server"`
	ServerPassword string   `json:"server_password" required:"true" doc:"trust password of the LXD server (core.trust_password), or a trust token from \"lxc config trust add\""`
	ServerPath     string   `json:"server_path" doc:"unix socket path, to reach a local server over its socket"`
	ServerPort     FlexInt  `json:"server_port" required:"true" doc:"TCP port of the server's API (usually 8443); a number or a numeric string"`
	ServerProtocol string   `json:"server_protocol" required:"true" doc:"API protocol of the server: \"lxd\" or \"incus\""`
	ServerProject  string   `json:"server_project" doc:"LXD project deskhub works in on this server (deskhub extension; default \"default\")"`
	Provider       Provider `json:"provider" doc:"\"lxd\" (ui-vmm's panel sends it; the only provider servers can be added to)"`
}

// Validate checks host, port, protocol, project and provider.
func (r *ServerAddRequest) Validate() error {
	if err := checkAddProvider(r.Provider); err != nil {
		return err
	}
	return checkServerConn(r.ServerHost, r.ServerPort, r.ServerProtocol, r.ServerPath, r.ServerProject)
}

// checkAddProvider refuses a provider other than "lxd" (absent means "lxd").
func checkAddProvider(p Provider) error {
	if p != "" && p != ProviderLXD {
		return field.Errorf("provider", "must be %q: LXD and Incus servers are the servers deskhub adds, not %q", ProviderLXD, string(p))
	}
	return nil
}

// ServerVerifyRequest is the body of server.verify: the same members as server.add, but deskhub only
// checks that the server answers and accepts the credentials, recording nothing. (The seed types
// server_host as an integer here, a slip: it is a string as in server.add.)
type ServerVerifyRequest ServerAddRequest

// Validate checks host, port, protocol, project and provider.
func (r *ServerVerifyRequest) Validate() error {
	if err := checkAddProvider(r.Provider); err != nil {
		return err
	}
	return checkServerConn(r.ServerHost, r.ServerPort, r.ServerProtocol, r.ServerPath, r.ServerProject)
}

// ServerGetRequest is the body of server.get.
type ServerGetRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ServerGetRequest) Validate() error { return checkProvider(r.Provider) }

// ServerListRequest is the body of server.list. The seed marks both members required, but ui-vmm's
// panel sends {}: an absent provider lists every provider's servers, an absent (or 0) server_id every
// server available to the user.
type ServerListRequest struct {
	Provider Provider `json:"provider" doc:"\"lxd\" or \"internal\"; absent: all (the seed marks it required; ui-vmm's panel sends {})"`
	ServerID FlexInt  `json:"server_id" doc:"id of one server to list; absent or 0: all servers available to the user"`
}

// Validate checks the provider, when given.
func (r *ServerListRequest) Validate() error {
	if r.Provider == "" {
		return nil
	}
	return checkProvider(r.Provider)
}

// ServerDeleteRequest is the body of server.delete, a deskhub extension (the seed has no way to remove
// a server): deskhub forgets the server and, unless asked not to, withdraws its certificate from the
// server's trust store.
type ServerDeleteRequest struct {
	Provider        Provider `json:"provider" required:"true" doc:"\"lxd\""`
	ServerID        FlexInt  `json:"server_id" required:"true" doc:"id of the server to forget"`
	ServerKeepTrust bool     `json:"server_keep_trust" doc:"leave deskhub's certificate in the server's trust store (default: remove it, unless another added record uses the same server)"`
}

// Validate checks the provider.
func (r *ServerDeleteRequest) Validate() error { return checkProvider(r.Provider) }
