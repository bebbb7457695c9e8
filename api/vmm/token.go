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
// user.assertionVerify). The secret itself is only in the answers that create the token. The members
// ui-vmm's panel reads are there under its names and in its units: token_id, user_id, token_state as
// 1 (usable) or 0 (revoked or expired), token_time_start, token_time_expire and revoke_time in Unix
// seconds; deskhub's own members beside them.
type TokenAttributes struct {
	TokenID         int64      `json:"token_id" doc:"deskhub's id of the token"`
	UserID          int64      `json:"user_id" doc:"id of the user the token belongs to"`
	TokenName       string     `json:"token_name" doc:"public name of the token, used to revoke it"`
	TokenType       string     `json:"token_type" doc:"\"user.login\" (a login session) or \"system.api\" (from token.create)"`
	TokenState      int        `json:"token_state" doc:"1: the token works; 0: revoked or expired (token_status says which)"`
	TokenStatus     string     `json:"token_status" doc:"\"active\", \"revoked\" or \"expired\""`
	TokenStart      time.Time  `json:"token_start" doc:"when the token was issued"`
	TokenExpire     time.Time  `json:"token_expire" doc:"when the token expires"`
	TokenRevoked    *time.Time `json:"token_revoked" doc:"when the token was revoked; null while it is not"`
	TokenTimeStart  int64      `json:"token_time_start" doc:"when the token was issued, in Unix seconds"`
	TokenTimeExpire int64      `json:"token_time_expire" doc:"when the token expires, in Unix seconds"`
	RevokeTime      int64      `json:"revoke_time" doc:"when the token was revoked, in Unix seconds (0: it was not)"`
	Token           string     `json:"token,omitempty" doc:"the bearer secret; only in the answer that creates the token"`
}

// TypeLogin is the JSON:API type of the answer of user.login and user.assertionVerify: a login of
// the user (its id is the user's, as ui-vmm's panel looks the user up by it in included), whose
// attributes are the new token's.
const TypeLogin = "login"

// TokenCreateRequest is the body of token.create.
type TokenCreateRequest struct {
	TokenLifetime  FlexInt `json:"token_lifetime" required:"true" doc:"lifetime of the new token in seconds"`
	TokenRevokeAll bool    `json:"token_revoke_all" doc:"true revokes every other system.api token of the user"`
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
