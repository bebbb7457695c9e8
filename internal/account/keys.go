package account

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// CreateToken is token.create: an API token of the caller for lifetime seconds; revokeAll revokes the
// caller's other API tokens in the same transaction.
func (s *Service) CreateToken(ctx context.Context, c Caller, lifetime int64, revokeAll bool) (Issued, error) {
	maxLife := s.auth.Options().MaxTokenLifetime
	if time.Duration(lifetime)*time.Second > maxLife || lifetime > int64(maxLife/time.Second) {
		return Issued{}, fault.Memberf("token_lifetime", "must be at most %d seconds (%s)", int64(maxLife/time.Second), maxLife)
	}
	var out Issued
	err := s.st.InTx(ctx, func(tx store.Store) error {
		var err error
		if out.Secret, out.Token, err = s.auth.IssueToken(ctx, tx, c.UserID, store.TokenSystemAPI, time.Duration(lifetime)*time.Second); err != nil {
			return err
		}
		if revokeAll {
			_, err = tx.RevokeUserTokens(ctx, c.UserID, store.TokenSystemAPI, out.Token.ID, time.Now())
		}
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	s.kick()
	s.Audit(ctx, c, "token.create", out.Token.Name, map[string]any{"revoke_all": revokeAll})
	return out, nil
}

// Tokens lists the caller's tokens.
func (s *Service) Tokens(ctx context.Context, c Caller) ([]store.Token, error) {
	return s.st.ListTokens(ctx, c.UserID)
}

// RevokeToken revokes the caller's token of that name.
func (s *Service) RevokeToken(ctx context.Context, c Caller, name string) error {
	tok, err := s.st.GetTokenByName(ctx, c.UserID, name)
	if errors.Is(err, store.ErrNotFound) {
		return fault.NotFoundf("no token named %q", name)
	} else if err != nil {
		return err
	}
	if err := s.st.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		return err
	}
	s.kick()
	s.Audit(ctx, c, "token.revoke", tok.Name, nil)
	return nil
}

// Bounds of SSH keys.
const (
	maxKeyName   = 128
	maxKeyPublic = 16 << 10
)

// ParseAuthorizedKey checks one authorized_keys line and returns it normalised with its SHA256
// fingerprint.
func ParseAuthorizedKey(line string) (normalised, fingerprint string, err error) {
	line = strings.TrimSpace(line)
	if len(line) > maxKeyPublic {
		return "", "", fault.Memberf("key_public", "is longer than %d bytes", maxKeyPublic)
	}
	if strings.ContainsAny(line, "\r\n") {
		return "", "", fault.Memberf("key_public", "must be one authorized_keys line")
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", "", fault.Memberf("key_public", "is not an SSH public key in authorized_keys format: %v", err)
	}
	if len(options) > 0 || len(rest) > 0 {
		return "", "", fault.Memberf("key_public", "must be a bare key (type, base64, comment) without options")
	}
	normalised = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		normalised += " " + comment
	}
	return normalised, ssh.FingerprintSHA256(pub), nil
}

// AddSSHKey is ssh-key.add: one authorized_keys line for the caller.
func (s *Service) AddSSHKey(ctx context.Context, c Caller, name, public string) (store.SSHKey, error) {
	if s.o.Features.DisableSSHKeyAdd {
		return store.SSHKey{}, errFeatureOff("adding SSH keys")
	}
	if len(name) > maxKeyName {
		return store.SSHKey{}, fault.Memberf("key_name", "is longer than %d bytes", maxKeyName)
	}
	line, fp, err := ParseAuthorizedKey(public)
	if err != nil {
		return store.SSHKey{}, err
	}
	k := store.SSHKey{UserID: c.UserID, Name: strings.TrimSpace(name), PublicKey: line, Fingerprint: fp}
	if err := s.st.CreateSSHKey(ctx, &k); errors.Is(err, store.ErrConflict) {
		return store.SSHKey{}, fault.Conflictf("this key is added already (fingerprint %s)", fp)
	} else if err != nil {
		return store.SSHKey{}, err
	}
	s.Audit(ctx, c, "ssh-key.add", fp, nil)
	return k, nil
}

// SSHKeys lists the caller's SSH keys.
func (s *Service) SSHKeys(ctx context.Context, c Caller) ([]store.SSHKey, error) {
	return s.st.ListSSHKeys(ctx, c.UserID)
}

// DeleteSSHKey deletes the caller's SSH key id.
func (s *Service) DeleteSSHKey(ctx context.Context, c Caller, id int64) error {
	if err := s.st.DeleteSSHKey(ctx, c.UserID, id); errors.Is(err, store.ErrNotFound) {
		return fault.NotFoundf("no SSH key with id %d", id)
	} else if err != nil {
		return err
	}
	s.Audit(ctx, c, "ssh-key.delete", strconv.FormatInt(id, 10), nil)
	return nil
}
