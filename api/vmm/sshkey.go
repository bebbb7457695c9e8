package vmm

import (
	"strings"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// TypeSSHKey is the JSON:API type of SSH key resources.
const TypeSSHKey = "ssh-key"

// SSHKeyAttributes describe one of the user's SSH public keys (ssh-key.get, ssh-key.add).
type SSHKeyAttributes struct {
	KeyID          int64     `json:"key_id,omitempty" doc:"id of the key, for ssh-key.delete"`
	KeyName        string    `json:"key_name" doc:"name the user gave the key"`
	KeyPublic      string    `json:"key_public" doc:"the public key as an authorized_keys line"`
	KeyFingerprint string    `json:"key_fingerprint" doc:"SHA256 fingerprint of the key"`
	KeyCreatedAt   time.Time `json:"key_created_at" doc:"when the key was added"`
	KeyTimeAdd     int64     `json:"key_timeadd" doc:"when the key was added, in Unix seconds (as ui-vmm's panel reads it)"`
	KeyType        string    `json:"key_type" doc:"\"ssh\""`
}

// SSHKeyAddRequest is the body of ssh-key.add. The key must parse as an authorized_keys line; it is
// added to instances created afterwards.
type SSHKeyAddRequest struct {
	KeyName   string `json:"key_name" required:"true" doc:"name for the key"`
	KeyPublic string `json:"key_public" required:"true" doc:"the public key as an authorized_keys line"`
}

// Validate checks that name and key are not blank (the key's syntax is checked by the service).
func (r *SSHKeyAddRequest) Validate() error {
	if strings.TrimSpace(r.KeyName) == "" {
		return field.Errorf("key_name", "must not be empty")
	}
	if strings.TrimSpace(r.KeyPublic) == "" {
		return field.Errorf("key_public", "must not be empty")
	}
	return nil
}

// SSHKeyDeleteRequest is the body of ssh-key.delete.
type SSHKeyDeleteRequest struct {
	KeyID FlexInt `json:"key_id" required:"true" doc:"id of the key to remove"`
}
