package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// AddSSHKey stores an authorized_keys line under name; new instances get it (ssh-key.add).
func (c *Client) AddSSHKey(ctx context.Context, name, publicKey string) (jsonapi.One[vmm.SSHKeyAttributes], error) {
	return infraCall[jsonapi.One[vmm.SSHKeyAttributes]](ctx, c, "ssh-key.add", vmm.SSHKeyAddRequest{KeyName: name, KeyPublic: publicKey})
}

// ListSSHKeys lists the account's SSH keys (ssh-key.get).
func (c *Client) ListSSHKeys(ctx context.Context) (jsonapi.Many[vmm.SSHKeyAttributes], error) {
	return infraCall[jsonapi.Many[vmm.SSHKeyAttributes]](ctx, c, "ssh-key.get", nil)
}

// DeleteSSHKey removes an SSH key (ssh-key.delete).
func (c *Client) DeleteSSHKey(ctx context.Context, id int64) error {
	_, err := infraCall[jsonapi.Meta](ctx, c, "ssh-key.delete", vmm.SSHKeyDeleteRequest{KeyID: vmm.FlexInt(id)})
	return err
}
