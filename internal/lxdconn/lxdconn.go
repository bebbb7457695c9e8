// Package lxdconn owns deskhub's connections to the LXD and Incus servers added with server.add: one
// link per server record, opened with deskhub's client identity, kept up (reconnected with a growing
// pause when the server goes away), and handed out by server id. The infrastructure service
// (internal/infra) and the LXD desktop provider use the same Registry.
//
// This package is where deskhub speaks LXD's HTTP API (the incus client's transport, raw queries, LXD's
// status codes), so it imports net/http; the domain packages that use it do not.
package lxdconn

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Config is what a server record's Config column holds.
type Config struct {
	Project    string `json:"project"`
	ServerCert string `json:"server_cert,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	// Version and Driver are what the server last reported, shown while it is not asked live.
	Version string `json:"server_version,omitempty"`
	Driver  string `json:"server_driver,omitempty"`
}

// ReadConfig reads a server record's Config column (project "default" when it names none).
func ReadConfig(row store.Server) Config {
	var c Config
	_ = json.Unmarshal([]byte(row.Config), &c)
	if c.Project == "" {
		c.Project = "default"
	}
	return c
}

// Target is how to reach the server of a record.
func (c Config) Target(row store.Server) Target {
	return Target{Host: row.Host, Port: row.Port, Path: row.Path, Project: c.Project, ServerCert: c.ServerCert}
}

// Kernel is the kernel the server reports, with its version.
func (i Info) Kernel() string {
	if i.Environment.KernelVersion == "" {
		return i.Environment.Kernel
	}
	return i.Environment.Kernel + " " + i.Environment.KernelVersion
}

// Target is how deskhub reaches one LXD/Incus server.
type Target struct {
	Host       string // host name or address (HTTPS), or "" for a unix socket
	Port       int
	Path       string // unix socket path
	Project    string
	ServerCert string // pinned PEM certificate of the server (HTTPS)
}

func (t Target) String() string {
	if t.Path != "" {
		return "unix:" + t.Path
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// Info is what deskhub reads of GET /1.0. It is decoded leniently: LXD 5.0 reports
// core.trust_password as a boolean, which the incus client's typed GetServer cannot decode.
type Info struct {
	Auth          string   `json:"auth"`
	APIExtensions []string `json:"api_extensions"`
	Environment   struct {
		Addresses              []string `json:"addresses"`
		Architectures          []string `json:"architectures"`
		Certificate            string   `json:"certificate"`
		CertificateFingerprint string   `json:"certificate_fingerprint"`
		Driver                 string   `json:"driver"`
		DriverVersion          string   `json:"driver_version"`
		Kernel                 string   `json:"kernel"`
		KernelVersion          string   `json:"kernel_version"`
		KernelArchitecture     string   `json:"kernel_architecture"`
		Server                 string   `json:"server"`
		ServerName             string   `json:"server_name"`
		ServerVersion          string   `json:"server_version"`
		Storage                string   `json:"storage"`
		StorageVersion         string   `json:"storage_version"`
		InstanceTypes          []string `json:"instance_types"`
	} `json:"environment"`
}

// Trusted tells whether the server trusts the connection's client certificate.
func (i Info) Trusted() bool { return i.Auth == "trusted" }

// InstanceTypes are the instance types the server can run: the environment's list where the server
// gives one, else read from its drivers ("lxc" → container, "qemu" → virtual-machine).
func (i Info) InstanceTypes() []string {
	if len(i.Environment.InstanceTypes) > 0 {
		return i.Environment.InstanceTypes
	}
	var out []string
	for d := range strings.SplitSeq(i.Environment.Driver, "|") {
		switch strings.TrimSpace(d) {
		case "lxc":
			out = append(out, "container")
		case "qemu":
			out = append(out, "virtual-machine")
		}
	}
	return out
}

// DialTimeout bounds reaching a server (TCP + TLS, and the first answer).
const DialTimeout = 10 * time.Second

// Connect opens a client for t with deskhub's identity. No request is made. API clients never open
// LXD's event websocket (operations are followed by polling, which survives LXD going away, and the
// client's lazy event listener races with concurrent calls); the watcher opens an events client of its
// own with events set.
func (r *Registry) Connect(ctx context.Context, t Target, events bool) (incus.InstanceServer, error) {
	args := &incus.ConnectionArgs{
		SkipGetEvents: !events,
		UserAgent:     "deskhub",
		TLSClientCert: r.id.CertPEM,
		TLSClientKey:  r.id.KeyPEM,
		TLSServerCert: t.ServerCert,
		SkipGetServer: true,
		// A server that stops answering must not hold deskhub's calls for an hour (the client's
		// default); long waits on operations are done in short polls instead.
		TransportWrapper: func(tr *http.Transport) incus.HTTPTransporter {
			tr.ResponseHeaderTimeout = r.opts.CallTimeout
			return transport{tr}
		},
	}
	var (
		c   incus.InstanceServer
		err error
	)
	if t.Path != "" {
		c, err = incus.ConnectIncusUnixWithContext(ctx, t.Path, args)
	} else {
		c, err = incus.ConnectIncusWithContext(ctx, "https://"+t.String(), args)
	}
	if err != nil {
		return nil, err
	}
	if t.Project != "" {
		c = c.UseProject(t.Project)
	}
	return c, nil
}

// transport is the client's http.Transport as the incus client wants it.
type transport struct{ t *http.Transport }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) { return t.t.RoundTrip(r) }
func (t transport) Transport() *http.Transport                        { return t.t }

// WaitOperation asks LXD for an operation, waiting up to timeout seconds for it to end. (The client's
// own GetOperationWait clears the shared transport's response timeout, racing with every other call.)
func WaitOperation(cl incus.InstanceServer, id string, timeout int) (*api.Operation, error) {
	resp, _, err := cl.RawQuery(http.MethodGet, fmt.Sprintf("/1.0/operations/%s/wait?timeout=%d", url.PathEscape(id), timeout), nil, "")
	if err != nil {
		return nil, err
	}
	var o api.Operation
	if err := json.Unmarshal(resp.Metadata, &o); err != nil {
		return nil, fmt.Errorf("reading operation %s: %w", id, err)
	}
	return &o, nil
}

// Wait follows an LXD operation to its end (or ctx's) in polls of poll seconds; an operation that
// ends other than in success is an error with LXD's text.
func Wait(ctx context.Context, cl incus.InstanceServer, id string, poll int) error {
	for {
		o, err := WaitOperation(cl, id, poll)
		if err != nil {
			return err
		}
		if o.StatusCode.IsFinal() {
			if o.StatusCode != api.Success {
				if o.Err != "" {
					return errors.New(o.Err)
				}
				return fmt.Errorf("LXD reports the operation %s", strings.ToLower(o.Status))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// GetInfo reads GET /1.0 leniently.
func GetInfo(c incus.InstanceServer) (Info, error) {
	resp, _, err := c.RawQuery(http.MethodGet, "/1.0", nil, "")
	if err != nil {
		return Info{}, err
	}
	var info Info
	if err := json.Unmarshal(resp.Metadata, &info); err != nil {
		return Info{}, fmt.Errorf("reading the server's GET /1.0: %w", err)
	}
	return info, nil
}

// FetchServerCert reads the TLS certificate a server presents, without trusting it yet (the caller pins
// it, trust on first use, and shows its fingerprint).
func FetchServerCert(ctx context.Context, host string, port int) (string, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: DialTimeout}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // read only to pin it
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("the server presented no certificate")
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw})), nil
}

// TrustToken is the decoded form of an LXD/Incus trust token ("lxc config trust add").
type TrustToken struct {
	ClientName  string    `json:"client_name"`
	Fingerprint string    `json:"fingerprint"`
	Addresses   []string  `json:"addresses"`
	Secret      string    `json:"secret"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// ParseTrustToken decodes s as a trust token; ok is false for anything else (a trust password).
func ParseTrustToken(s string) (TrustToken, bool) {
	if len(s) < 40 || strings.ContainsAny(s, " \t\n") {
		return TrustToken{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return TrustToken{}, false
		}
	}
	var tok TrustToken
	if json.Unmarshal(raw, &tok) != nil || tok.Secret == "" || tok.Fingerprint == "" {
		return TrustToken{}, false
	}
	return tok, true
}

// RequestTrust asks the server to trust deskhub's client certificate (the one of the connection), with
// a trust password (LXD 5.0: a raw POST, since the typed CertificatesPost has no password member any
// more) or a trust token. name is the certificate's name in the server's trust store.
func RequestTrust(c incus.InstanceServer, name, secret string) error {
	body := map[string]any{"type": "client", "name": name}
	body["password"] = secret // a trust password, or (LXD 5.0) a whole trust token
	if _, ok := ParseTrustToken(secret); ok {
		body["trust_token"] = secret // Incus takes the token in its own member
	}
	_, _, err := c.RawQuery(http.MethodPost, "/1.0/certificates", body, "")
	return err
}

// Status is the HTTP status of an LXD error, or 0.
func Status(err error) int {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Status()
	}
	return 0
}

// IsNotFound tells whether LXD answered 404.
func IsNotFound(err error) bool {
	return api.StatusErrorCheck(err, http.StatusNotFound)
}

// IsBusy tells whether LXD refused or failed an instance operation because another one holds the
// instance (LXD's and Incus's instance operation lock: "Instance is busy running a stop operation").
// The other operation ends soon; asking again then works.
func IsBusy(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "is busy running a")
}

// IsChanged tells whether LXD answered 412: the resource changed since its ETag was read.
func IsChanged(err error) bool {
	return api.StatusErrorCheck(err, http.StatusPreconditionFailed)
}

// IsRefused tells whether LXD refused a request for what it carried or who sent it (400, 401, 403).
func IsRefused(err error) bool {
	return api.StatusErrorCheck(err, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden)
}

// clientKinds are the kinds of LXD's 4xx answers; ClientKind gives them.
var clientKinds = map[int]fault.Kind{
	http.StatusBadRequest:            fault.Invalid,
	http.StatusUnauthorized:          fault.Unauthorized,
	http.StatusForbidden:             fault.Forbidden,
	http.StatusNotFound:              fault.NotFound,
	http.StatusRequestTimeout:        fault.RequestTimeout,
	http.StatusConflict:              fault.Conflict,
	http.StatusGone:                  fault.Gone,
	http.StatusPreconditionFailed:    fault.Changed,
	http.StatusRequestEntityTooLarge: fault.TooLarge,
	http.StatusUnprocessableEntity:   fault.Unprocessable,
	http.StatusTooManyRequests:       fault.TooMany,
}

// ClientKind is the kind of error for deskhub's client when LXD answered err with a 4xx status
// (another 4xx than those above is taken as a bad request); ok is false for anything else.
func ClientKind(err error) (fault.Kind, bool) {
	st := Status(err)
	if st < 400 || st >= 500 {
		return 0, false
	}
	if k, ok := clientKinds[st]; ok {
		return k, true
	}
	return fault.Invalid, true
}
