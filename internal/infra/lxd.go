package infra

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
	"strconv"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/fault"
)

// target is how deskhub reaches one LXD/Incus server.
type target struct {
	Host       string // host name or address (HTTPS), or "" for a unix socket
	Port       int
	Path       string // unix socket path
	Project    string
	ServerCert string // pinned PEM certificate of the server (HTTPS)
}

func (t target) String() string {
	if t.Path != "" {
		return "unix:" + t.Path
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// lxdInfo is what deskhub reads of GET /1.0. It is decoded leniently: LXD 5.0 reports
// core.trust_password as a boolean, which the incus client's typed GetServer cannot decode.
type lxdInfo struct {
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
		Server                 string   `json:"server"`
		ServerName             string   `json:"server_name"`
		ServerVersion          string   `json:"server_version"`
		Storage                string   `json:"storage"`
		InstanceTypes          []string `json:"instance_types"`
	} `json:"environment"`
}

// trusted tells whether the server trusts the connection's client certificate.
func (i lxdInfo) trusted() bool { return i.Auth == "trusted" }

// instanceTypes are the instance types the server can run: the environment's list where the server
// gives one, else read from its drivers ("lxc" → container, "qemu" → virtual-machine).
func (i lxdInfo) instanceTypes() []string {
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

// dialTimeout bounds reaching a server (TCP + TLS, and the first answer).
const dialTimeout = 10 * time.Second

// connect opens a client for t with deskhub's identity. No request is made. API clients never open
// LXD's event websocket (operations are followed by polling, which survives LXD going away, and the
// client's lazy event listener races with concurrent calls); the watcher opens an events client of its
// own with events set.
func (s *Service) connect(ctx context.Context, t target, events bool) (incus.InstanceServer, error) {
	args := &incus.ConnectionArgs{
		SkipGetEvents: !events,
		UserAgent:     "deskhub",
		TLSClientCert: s.id.CertPEM,
		TLSClientKey:  s.id.KeyPEM,
		TLSServerCert: t.ServerCert,
		SkipGetServer: true,
		// A server that stops answering must not hold deskhub's calls for an hour (the client's
		// default); long waits on operations are done in short polls instead.
		TransportWrapper: func(tr *http.Transport) incus.HTTPTransporter {
			tr.ResponseHeaderTimeout = s.opts.CallTimeout
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

// getInfo reads GET /1.0 leniently.
func getInfo(c incus.InstanceServer) (lxdInfo, error) {
	resp, _, err := c.RawQuery(http.MethodGet, "/1.0", nil, "")
	if err != nil {
		return lxdInfo{}, err
	}
	var info lxdInfo
	if err := json.Unmarshal(resp.Metadata, &info); err != nil {
		return lxdInfo{}, fmt.Errorf("reading the server's GET /1.0: %w", err)
	}
	return info, nil
}

// fetchServerCert reads the TLS certificate a server presents, without trusting it yet (the caller pins
// it, trust on first use, and shows its fingerprint).
func fetchServerCert(ctx context.Context, host string, port int) (string, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // read only to pin it
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
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

// trustToken is the decoded form of an LXD/Incus trust token ("lxc config trust add").
type trustToken struct {
	ClientName  string    `json:"client_name"`
	Fingerprint string    `json:"fingerprint"`
	Addresses   []string  `json:"addresses"`
	Secret      string    `json:"secret"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// parseTrustToken decodes s as a trust token; ok is false for anything else (a trust password).
func parseTrustToken(s string) (trustToken, bool) {
	if len(s) < 40 || strings.ContainsAny(s, " \t\n") {
		return trustToken{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return trustToken{}, false
		}
	}
	var tok trustToken
	if json.Unmarshal(raw, &tok) != nil || tok.Secret == "" || tok.Fingerprint == "" {
		return trustToken{}, false
	}
	return tok, true
}

// requestTrust asks the server to trust deskhub's client certificate (the one of the connection), with
// a trust password (LXD 5.0: a raw POST, since the typed CertificatesPost has no password member any
// more) or a trust token. name is the certificate's name in the server's trust store.
func requestTrust(c incus.InstanceServer, name, secret string) error {
	body := map[string]any{"type": "client", "name": name}
	body["password"] = secret // a trust password, or (LXD 5.0) a whole trust token
	if _, ok := parseTrustToken(secret); ok {
		body["trust_token"] = secret // Incus takes the token in its own member
	}
	_, _, err := c.RawQuery(http.MethodPost, "/1.0/certificates", body, "")
	return err
}

// lxdStatus is the HTTP status of an LXD error, or 0.
func lxdStatus(err error) int {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Status()
	}
	return 0
}

// isNotFound tells whether LXD answered 404.
func isNotFound(err error) bool {
	return api.StatusErrorCheck(err, http.StatusNotFound)
}

// isChanged tells whether LXD answered 412: the resource changed since its ETag was read.
func isChanged(err error) bool {
	return api.StatusErrorCheck(err, http.StatusPreconditionFailed)
}

// isRefused tells whether LXD refused a request for what it carried or who sent it (400, 401, 403).
func isRefused(err error) bool {
	return api.StatusErrorCheck(err, http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden)
}

// lxdClientKinds are the kinds of LXD's 4xx answers; lxdClientKind gives them.
var lxdClientKinds = map[int]fault.Kind{
	http.StatusBadRequest:            fault.Invalid,
	http.StatusUnauthorized:          fault.Unauthorized,
	http.StatusForbidden:             fault.Forbidden,
	http.StatusNotFound:              fault.NotFound,
	http.StatusRequestTimeout:        fault.RequestTimeout,
	http.StatusConflict:              fault.Conflict,
	http.StatusGone:                  fault.Gone,
	http.StatusPreconditionFailed:    fault.Conflict, // changed meanwhile (fault has no 412 kind)
	http.StatusRequestEntityTooLarge: fault.TooLarge,
	http.StatusUnprocessableEntity:   fault.Unprocessable,
	http.StatusTooManyRequests:       fault.TooMany,
}

// lxdClientKind is the kind of error for deskhub's client when LXD answered err with a 4xx status
// (another 4xx than those above is taken as a bad request); ok is false for anything else.
func lxdClientKind(err error) (fault.Kind, bool) {
	st := lxdStatus(err)
	if st < 400 || st >= 500 {
		return 0, false
	}
	if k, ok := lxdClientKinds[st]; ok {
		return k, true
	}
	return fault.Invalid, true
}
