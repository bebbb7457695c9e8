package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListCertificates lists the trusted certificates of a server (certificate.list).
func (c *Client) ListCertificates(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.CertificateAttributes], error) {
	return infraCall[jsonapi.Many[vmm.CertificateAttributes]](ctx, c, "certificate.list", vmm.CertificateListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}

// RevokeCertificate removes a certificate from a server's trust store (certificate.revoke).
func (c *Client) RevokeCertificate(ctx context.Context, req vmm.CertificateRevokeRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "certificate.revoke", req)
}
