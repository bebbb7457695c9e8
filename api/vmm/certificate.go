package vmm

import "time"

// TypeCertificate is the JSON:API type of certificate resources.
const TypeCertificate = "certificate"

// CertificateAttributes describe a client certificate an LXD server trusts.
type CertificateAttributes struct {
	CertificateName        string     `json:"certificate_name" doc:"name of the certificate"`
	CertificateFingerprint string     `json:"certificate_fingerprint" doc:"SHA-256 fingerprint of the certificate"`
	CertificateType        string     `json:"certificate_type" doc:"client or metrics"`
	CertificateRestricted  bool       `json:"certificate_restricted" doc:"whether it is limited to some projects"`
	CertificateProjects    []string   `json:"certificate_projects" doc:"projects a restricted certificate may use"`
	CertificateExpiresAt   *time.Time `json:"certificate_expires_at,omitempty" doc:"end of the certificate's validity"`
	CertificateDeskhub     bool       `json:"certificate_deskhub" doc:"whether it is deskhub's own client certificate"`
	ServerID               int64      `json:"server_id" doc:"id of the server"`
	Provider               Provider   `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// CertificateListRequest is the body of certificate.list.
type CertificateListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *CertificateListRequest) Validate() error { return checkProvider(r.Provider) }

// CertificateRevokeRequest is the body of certificate.revoke.
type CertificateRevokeRequest struct {
	CertificateFingerprint string   `json:"certificate_fingerprint" required:"true" doc:"fingerprint of the certificate to remove from the server's trust store"`
	CertificateForce       bool     `json:"certificate_force" doc:"needed to revoke deskhub's own certificate, which cuts deskhub off the server (deskhub extension)"`
	Provider               Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID               FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *CertificateRevokeRequest) Validate() error { return checkProvider(r.Provider) }
