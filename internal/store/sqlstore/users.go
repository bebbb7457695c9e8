package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// ---- users ------------------------------------------------------------------

const userCols = `id, login, email, name, password_hash, provider, admin, password_locked, disabled, created_at, updated_at`

func scanUser(r scanner) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Login, strCol{&u.Email}, &u.Name, &u.PasswordHash, &u.Provider,
		&u.Admin, &u.PasswordLocked, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, err
}

func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u.Provider == "" {
		u.Provider = store.ProviderLocal
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt = norm(u.CreatedAt), norm(u.UpdatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO users (login, email, name, password_hash, provider, admin, password_locked, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		u.Login, sv(u.Email), u.Name, u.PasswordHash, u.Provider, u.Admin, u.PasswordLocked, u.Disabled,
		tv(u.CreatedAt), tv(u.UpdatedAt)).Scan(&u.ID)
	return s.fail(err, fmt.Sprintf("create user %q", u.Login), "")
}

func (s *Store) GetUser(ctx context.Context, id int64) (store.User, error) {
	return one(ctx, s, fmt.Sprintf("user %d", id), scanUser, `SELECT `+userCols+` FROM users WHERE id = $1`, id)
}

func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	return one(ctx, s, fmt.Sprintf("user %q", login), scanUser, `SELECT `+userCols+` FROM users WHERE login = $1`, login)
}

func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	return one(ctx, s, fmt.Sprintf("user with email %q", email), scanUser, `SELECT `+userCols+` FROM users WHERE email = $1`, email)
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	return list(ctx, s, "list users", scanUser, `SELECT `+userCols+` FROM users ORDER BY id`)
}

func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, s.fail(err, "count users", "")
}

func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	u.UpdatedAt = now()
	return s.execOne(ctx, fmt.Sprintf("update user %d (%q)", u.ID, u.Login), "",
		`UPDATE users SET login = $2, email = $3, name = $4, password_hash = $5, provider = $6, admin = $7,
			password_locked = $8, disabled = $9, updated_at = $10 WHERE id = $1`,
		u.ID, u.Login, sv(u.Email), u.Name, u.PasswordHash, u.Provider, u.Admin, u.PasswordLocked, u.Disabled, tv(u.UpdatedAt))
}

func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("user %d", id), "", `DELETE FROM users WHERE id = $1`, id)
}

// ---- tokens -----------------------------------------------------------------

const tokenCols = `id, user_id, name, type, hash, created_at, expires_at, revoked_at, last_used_at`

func scanToken(r scanner) (store.Token, error) {
	var t store.Token
	err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Type, &t.Hash, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt},
		timeCol{&t.RevokedAt}, timeCol{&t.LastUsedAt})
	return t, err
}

func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = norm(t.CreatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO tokens (user_id, name, type, hash, created_at, expires_at, revoked_at, last_used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		t.UserID, t.Name, t.Type, t.Hash, tv(t.CreatedAt), tv(t.ExpiresAt), tv(t.RevokedAt), tv(t.LastUsedAt)).Scan(&t.ID)
	return s.fail(err, fmt.Sprintf("create token %q", t.Name), fmt.Sprintf("user %d", t.UserID))
}

func (s *Store) GetToken(ctx context.Context, id int64) (store.Token, error) {
	return one(ctx, s, fmt.Sprintf("token %d", id), scanToken, `SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id)
}

func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	return one(ctx, s, "token", scanToken, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash)
}

// tokenUserQuery reads a token and its account in one statement (the columns of tokenCols, then
// those of userCols).
var tokenUserQuery = `SELECT t.` + strings.ReplaceAll(tokenCols, ", ", ", t.") + `, u.` + strings.ReplaceAll(userCols, ", ", ", u.") +
	` FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1`

func (s *Store) GetTokenUser(ctx context.Context, hash []byte) (store.Token, store.User, error) {
	var t store.Token
	var u store.User
	err := s.queryRow(ctx, tokenUserQuery, hash).Scan(&t.ID, &t.UserID, &t.Name, &t.Type, &t.Hash, timeCol{&t.CreatedAt},
		timeCol{&t.ExpiresAt}, timeCol{&t.RevokedAt}, timeCol{&t.LastUsedAt},
		&u.ID, &u.Login, strCol{&u.Email}, &u.Name, &u.PasswordHash, &u.Provider,
		&u.Admin, &u.PasswordLocked, &u.Disabled, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return store.Token{}, store.User{}, s.fail(err, "token and its account", "")
	}
	return t, u, nil
}

func (s *Store) GetTokenByName(ctx context.Context, userID int64, name string) (store.Token, error) {
	return one(ctx, s, fmt.Sprintf("token %q of user %d", name, userID), scanToken,
		`SELECT `+tokenCols+` FROM tokens WHERE user_id = $1 AND name = $2`, userID, name)
}

func (s *Store) ListTokens(ctx context.Context, userID int64) ([]store.Token, error) {
	return list(ctx, s, fmt.Sprintf("list tokens of user %d", userID), scanToken,
		`SELECT `+tokenCols+` FROM tokens WHERE user_id = $1 ORDER BY id`, userID)
}

func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	return s.execOne(ctx, fmt.Sprintf("token %d", id), "",
		`UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, tv(at))
}

func (s *Store) RevokeUserTokens(ctx context.Context, userID int64, typ string, exceptID int64, at time.Time) (int, error) {
	if at.IsZero() {
		at = now()
	}
	q := `UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3`
	args := []any{tv(at), userID, exceptID}
	if typ != "" {
		q += ` AND type = $4`
		args = append(args, typ)
	}
	return s.execN(ctx, fmt.Sprintf("revoke tokens of user %d", userID), q, args...)
}

func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	return s.execOne(ctx, fmt.Sprintf("token %d", id), "", `UPDATE tokens SET last_used_at = $2 WHERE id = $1`, id, tv(at))
}

func (s *Store) ExtendToken(ctx context.Context, id int64, expires time.Time) error {
	return s.execOne(ctx, fmt.Sprintf("token %d", id), "", `UPDATE tokens SET expires_at = $2 WHERE id = $1`, id, tv(expires))
}

// ---- one-time codes -----------------------------------------------------------

const codeCols = `id, user_id, purpose, hash, email, data, created_at, expires_at, used_at`

func scanCode(r scanner) (store.Code, error) {
	var c store.Code
	err := r.Scan(&c.ID, intCol{&c.UserID}, &c.Purpose, &c.Hash, &c.Email, &c.Data, timeCol{&c.CreatedAt},
		timeCol{&c.ExpiresAt}, timeCol{&c.UsedAt})
	return c, err
}

func (s *Store) CreateCode(ctx context.Context, c *store.Code) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	c.CreatedAt = norm(c.CreatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO codes (user_id, purpose, hash, email, data, created_at, expires_at, used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		iv(c.UserID), c.Purpose, c.Hash, c.Email, c.Data, tv(c.CreatedAt), tv(c.ExpiresAt), tv(c.UsedAt)).Scan(&c.ID)
	return s.fail(err, fmt.Sprintf("create %s code", c.Purpose), fmt.Sprintf("user %d", c.UserID))
}

// ConsumeCode marks the code used in a single UPDATE ... WHERE used_at IS
// NULL, so of concurrent consumers exactly one gets the row.
func (s *Store) ConsumeCode(ctx context.Context, purpose string, hash []byte, at time.Time) (store.Code, error) {
	if at.IsZero() {
		at = now()
	}
	return one(ctx, s, fmt.Sprintf("%s code", purpose), scanCode,
		`UPDATE codes SET used_at = $1
		 WHERE purpose = $2 AND hash = $3 AND used_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
		 RETURNING `+codeCols, tv(at), purpose, hash)
}

// FindCode returns the unused, unexpired code of purpose with hash without
// using it (lasting codes: desktop-scoped tokens).
func (s *Store) FindCode(ctx context.Context, purpose string, hash []byte, at time.Time) (store.Code, error) {
	if at.IsZero() {
		at = now()
	}
	return one(ctx, s, fmt.Sprintf("%s code", purpose), scanCode,
		`SELECT `+codeCols+` FROM codes
		 WHERE purpose = $2 AND hash = $3 AND used_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`, tv(at), purpose, hash)
}

// GetCode returns a code by id, used or not.
func (s *Store) GetCode(ctx context.Context, id int64) (store.Code, error) {
	return one(ctx, s, fmt.Sprintf("code %d", id), scanCode, `SELECT `+codeCols+` FROM codes WHERE id = $1`, id)
}

// UseCode marks an unused code used (a lasting code revoked).
func (s *Store) UseCode(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	return s.execOne(ctx, fmt.Sprintf("code %d", id), "", `UPDATE codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, id, tv(at))
}

// ListCodes lists the unused, unexpired codes of purpose, oldest first.
func (s *Store) ListCodes(ctx context.Context, purpose string, at time.Time) ([]store.Code, error) {
	if at.IsZero() {
		at = now()
	}
	return list(ctx, s, fmt.Sprintf("%s codes", purpose), scanCode,
		`SELECT `+codeCols+` FROM codes WHERE purpose = $2 AND used_at IS NULL AND (expires_at IS NULL OR expires_at > $1) ORDER BY id`,
		tv(at), purpose)
}

// DeleteExpiredCodes deletes codes that expired at or before now and codes
// that have been used.
func (s *Store) DeleteExpiredCodes(ctx context.Context, at time.Time) (int, error) {
	return s.execN(ctx, "delete expired codes",
		`DELETE FROM codes WHERE used_at IS NOT NULL OR expires_at <= $1`, tv(at))
}

// ---- SSH keys -----------------------------------------------------------------

const sshKeyCols = `id, user_id, name, public_key, fingerprint, created_at`

func scanSSHKey(r scanner) (store.SSHKey, error) {
	var k store.SSHKey
	err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.PublicKey, &k.Fingerprint, timeCol{&k.CreatedAt})
	return k, err
}

func (s *Store) CreateSSHKey(ctx context.Context, k *store.SSHKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	k.CreatedAt = norm(k.CreatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO ssh_keys (user_id, name, public_key, fingerprint, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		k.UserID, k.Name, k.PublicKey, k.Fingerprint, tv(k.CreatedAt)).Scan(&k.ID)
	return s.fail(err, fmt.Sprintf("create ssh key %s", k.Fingerprint), fmt.Sprintf("user %d", k.UserID))
}

func (s *Store) ListSSHKeys(ctx context.Context, userID int64) ([]store.SSHKey, error) {
	return list(ctx, s, fmt.Sprintf("list ssh keys of user %d", userID), scanSSHKey,
		`SELECT `+sshKeyCols+` FROM ssh_keys WHERE user_id = $1 ORDER BY id`, userID)
}

func (s *Store) GetSSHKey(ctx context.Context, userID, id int64) (store.SSHKey, error) {
	return one(ctx, s, fmt.Sprintf("ssh key %d of user %d", id, userID), scanSSHKey,
		`SELECT `+sshKeyCols+` FROM ssh_keys WHERE id = $1 AND user_id = $2`, id, userID)
}

func (s *Store) DeleteSSHKey(ctx context.Context, userID, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("ssh key %d of user %d", id, userID), "",
		`DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2`, id, userID)
}

// ---- WebAuthn credentials -------------------------------------------------------

const credCols = `id, user_id, credential_id, public_key, attestation_type, aaguid, sign_count, transports, name, data, created_at, last_used_at`

func scanCred(r scanner) (store.WebAuthnCredential, error) {
	var c store.WebAuthnCredential
	err := r.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.PublicKey, &c.AttestationType, &c.AAGUID, &c.SignCount,
		&c.Transports, &c.Name, &c.Data, timeCol{&c.CreatedAt}, timeCol{&c.LastUsedAt})
	return c, err
}

func (s *Store) CreateCredential(ctx context.Context, c *store.WebAuthnCredential) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	c.CreatedAt = norm(c.CreatedAt)
	err := s.q.QueryRowContext(ctx, `INSERT INTO webauthn_credentials
		(user_id, credential_id, public_key, attestation_type, aaguid, sign_count, transports, name, data, created_at, last_used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		c.UserID, c.CredentialID, c.PublicKey, c.AttestationType, c.AAGUID, int64(c.SignCount), c.Transports, c.Name, c.Data,
		tv(c.CreatedAt), tv(c.LastUsedAt)).Scan(&c.ID)
	return s.fail(err, fmt.Sprintf("create webauthn credential %q", c.Name), fmt.Sprintf("user %d", c.UserID))
}

func (s *Store) ListCredentials(ctx context.Context, userID int64) ([]store.WebAuthnCredential, error) {
	return list(ctx, s, fmt.Sprintf("list webauthn credentials of user %d", userID), scanCred,
		`SELECT `+credCols+` FROM webauthn_credentials WHERE user_id = $1 ORDER BY id`, userID)
}

func (s *Store) GetCredentialByCredentialID(ctx context.Context, credentialID []byte) (store.WebAuthnCredential, error) {
	return one(ctx, s, "webauthn credential", scanCred,
		`SELECT `+credCols+` FROM webauthn_credentials WHERE credential_id = $1`, credentialID)
}

func (s *Store) UpdateCredential(ctx context.Context, c *store.WebAuthnCredential) error {
	return s.execOne(ctx, fmt.Sprintf("webauthn credential %d", c.ID), "",
		`UPDATE webauthn_credentials SET public_key = $2, attestation_type = $3, aaguid = $4, sign_count = $5,
			transports = $6, name = $7, data = $8, last_used_at = $9 WHERE id = $1`,
		c.ID, c.PublicKey, c.AttestationType, c.AAGUID, int64(c.SignCount), c.Transports, c.Name, c.Data, tv(c.LastUsedAt))
}

func (s *Store) DeleteCredential(ctx context.Context, userID, id int64) error {
	return s.execOne(ctx, fmt.Sprintf("webauthn credential %d of user %d", id, userID), "",
		`DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, id, userID)
}
