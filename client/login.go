package client

import (
	"context"

	"github.com/deskhub/deskhub/api/fastx"
)

// Logging in on the session surface walks the stages the server asks for (FastX v3): Login starts,
// each answer names the next stage and carries a stage token, which the next step sends; the stage
// "success" carries the login token, which the client then keeps (SetToken).

// Login starts a login (/v3/api/user/login). With a password that the server accepts at once the
// answer is the "success" stage and the client keeps its token.
func (c *Client) Login(ctx context.Context, req fastx.LoginRequest) (fastx.LoginStage, error) {
	return c.loginStep(ctx, "", "/v3/api/user/login", req)
}

// LoginPassword answers the "password" stage (/v3/api/user/login/password).
func (c *Client) LoginPassword(ctx context.Context, stageToken, password string) (fastx.LoginStage, error) {
	return c.loginStep(ctx, stageToken, "/v3/api/user/login/password", fastx.PasswordRequest{Password: password})
}

// LoginKeyboardInteractive answers the prompts of the "keyboard-interactive" stage, one answer per
// prompt (/v3/api/user/login/keyboard-interactive).
func (c *Client) LoginKeyboardInteractive(ctx context.Context, stageToken string, answers ...string) (fastx.LoginStage, error) {
	return c.loginStep(ctx, stageToken, "/v3/api/user/login/keyboard-interactive",
		fastx.KeyboardInteractiveRequest{Answer: fastx.Answers(answers)})
}

// LoginPublicKey offers a public key, base64 of its SSH wire encoding, to the "public-key" stage
// (/v3/api/user/login/public-key); the answer carries the data to sign.
func (c *Client) LoginPublicKey(ctx context.Context, stageToken, publicKey string) (fastx.LoginStage, error) {
	return c.loginStep(ctx, stageToken, "/v3/api/user/login/public-key", fastx.PublicKeyRequest{PublicKey: publicKey})
}

// LoginSigned sends the base64 signature of the stage's data (/v3/api/user/login/public-key/signed).
func (c *Client) LoginSigned(ctx context.Context, stageToken, signature string) (fastx.LoginStage, error) {
	return c.loginStep(ctx, stageToken, "/v3/api/user/login/public-key/signed", fastx.SignatureRequest{Signature: signature})
}

func (c *Client) loginStep(ctx context.Context, stageToken, path string, body any) (fastx.LoginStage, error) {
	st, err := sessionCall[fastx.LoginStage](ctx, c, request{path: path, body: body, token: &stageToken})
	if err == nil && st.Stage == fastx.StageSuccess && st.Token != "" {
		c.SetToken(st.Token)
	}
	return st, err
}

// UserProfile answers the logged-in user's profile (/v3/api/user/profile).
func (c *Client) UserProfile(ctx context.Context) (fastx.Profile, error) {
	return sessionCall[fastx.Profile](ctx, c, request{path: "/v3/api/user/profile"})
}

// Logout revokes the client's token (/v3/api/user/logout) and forgets it.
func (c *Client) Logout(ctx context.Context) error {
	_, err := sessionCall[fastx.Null](ctx, c, request{path: "/v3/api/user/logout"})
	if err == nil {
		c.SetToken("")
	}
	return err
}

// IsAdmin tells whether the logged-in user is an administrator (/v3/api/user/admin answers 403 when
// not).
func (c *Client) IsAdmin(ctx context.Context) (bool, error) {
	_, err := sessionCall[fastx.Null](ctx, c, request{path: "/v3/api/user/admin"})
	if StatusCode(err) == 403 {
		return false, nil
	}
	return err == nil, err
}

// Keepalive extends a login token to a full lifetime from now (/v3/api/user/keepalive).
func (c *Client) Keepalive(ctx context.Context) error {
	_, err := sessionCall[fastx.Null](ctx, c, request{path: "/v3/api/user/keepalive"})
	return err
}
