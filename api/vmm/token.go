package vmm

import (
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// TypeToken is the JSON:API type of token resources.
const TypeToken = "token"

// Token types.
const (
	TokenTypeLogin = "user.login"
	TokenTypeAPI   = "system.api"
)

// Token states.
const (
	TokenStateActive  = "active"
	TokenStateRevoked = "revoked"
	TokenStateExpired = "expired"
)

// TokenAttributes describe an access token (token.get, token.create, user.login,
// user.assertionVerify). The secret itself is only in the answers that create the token.
type TokenAttributes struct {
	TokenName    string     `json:"token_name" doc:"public name of the token, used to revoke it"`
	TokenType    string     `json:"token_type" doc:"\"user.login\" (a login session) or \"system.api\" (from token.create)"`
	TokenState   string     `json:"token_state" doc:"\"active\", \"revoked\" or \"expired\""`
	TokenStart   time.Time  `json:"token_start" doc:"when the token was issued"`
	TokenExpire  time.Time  `json:"token_expire" doc:"when the token expires"`
	TokenRevoked *time.Time `json:"token_revoked" doc:"when the token was revoked; null while it is not"`
	Token        string     `json:"token,omitempty" doc:"the bearer secret; only in the answer that creates the token"`
}

// TokenCreateRequest is the body of token.create.
type TokenCreateRequest struct {
	TokenLifetime  int64 `json:"token_lifetime" required:"true" doc:"lifetime of the new token in seconds"`
	TokenRevokeAll bool  `json:"token_revoke_all" doc:"true revokes every other system.api token of the user"`
}

// Validate checks the lifetime.
func (r *TokenCreateRequest) Validate() error {
	if r.TokenLifetime <= 0 {
		return field.Errorf("token_lifetime", "must be a positive number of seconds, not %d", r.TokenLifetime)
	}
	return nil
}

// TokenRevokeRequest is the body of token.revoke.
type TokenRevokeRequest struct {
	TokenName string `json:"token_name" required:"true" doc:"name of the token to revoke"`
}
