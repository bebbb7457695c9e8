package fastx

import (
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/deskhub/deskhub/api/field"
)

// Authentication stages of LoginStage.Stage.
const (
	StagePublicKey           = "public-key"
	StageKeyboardInteractive = "keyboard-interactive"
	StagePassword            = "password"
	StageSuccess             = "success"
)

// LoginRequest is the body of /v3/api/user/login.
type LoginRequest struct {
	Username string `json:"username" required:"true" doc:"SSH username"`
	Password string `json:"password,omitempty" doc:"SSH password"`
	ServerID string `json:"serverId,omitempty" doc:"serverId of the host you want to log in to (see /v3/api servers)"`
	UsePK    bool   `json:"usePK,omitempty" doc:"enable public-key authentication"`
	Basic    bool   `json:"basic,omitempty" doc:"use basic authentication"`
}

// LoginStage is the answer of every login step: the stage the SSH server asks for next, until "success".
type LoginStage struct {
	Stage       string   `json:"stage" doc:"authentication stage: public-key, keyboard-interactive, password or success"`
	Token       string   `json:"token" doc:"connection token, required during authentication and after success"`
	Prompt      string   `json:"prompt,omitempty" doc:"(keyboard-interactive) text of the first prompt"`
	Prompts     []string `json:"prompts,omitempty" doc:"(keyboard-interactive) every prompt to answer, in order"`
	Host        string   `json:"host" doc:"hostname of the server the user is authenticating on"`
	Echo        []bool   `json:"echo,omitempty" doc:"(keyboard-interactive) per prompt: whether the answer may be shown as typed"`
	Data        string   `json:"data,omitempty" doc:"(public-key, after the key was accepted) base64 of the exact bytes to sign with the private key and send to login/public-key/signed"`
	Instruction string   `json:"instruction,omitempty" doc:"(keyboard-interactive) instruction text the server sent with the prompts"`
	Algorithm   string   `json:"algorithm,omitempty" doc:"(public-key, with data) the signature algorithm to sign with, e.g. ssh-ed25519 or rsa-sha2-512"`
}

// PublicKeyRequest is the body of /v3/api/user/login/public-key.
type PublicKeyRequest struct {
	PublicKey string `json:"publicKey" doc:"base64 SSH wire encoding of the public key"`
}

// Validate checks that the key is base64.
func (r *PublicKeyRequest) Validate() error {
	if err := checkBase64(r.PublicKey); err != nil {
		return field.Wrap("publicKey", err)
	}
	return nil
}

// KeyboardInteractiveRequest is the body of /v3/api/user/login/keyboard-interactive.
type KeyboardInteractiveRequest struct {
	Answer Answers `json:"answer" doc:"answer to the prompt, or an array of answers, one per prompt"`
}

// Answers are keyboard-interactive answers; in JSON one string or an array of strings.
type Answers []string

// UnmarshalJSON accepts a string or an array of strings.
// JSONSchemaTypes tells the OpenAPI generator that an answer is a string or an array of strings.
func (Answers) JSONSchemaTypes() []string { return []string{"string", "array"} }

func (a *Answers) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Answers{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("answer must be a string or an array of strings")
	}
	*a = many
	return nil
}

// PasswordRequest is the body of /v3/api/user/login/password.
type PasswordRequest struct {
	Password string `json:"password" doc:"SSH password"`
}

// SignatureRequest is the body of /v3/api/user/login/public-key/signed.
type SignatureRequest struct {
	Signature string `json:"signature" doc:"base64 signature of the session data by the user's private key"`
}

// Validate checks that the signature is base64.
func (r *SignatureRequest) Validate() error {
	if err := checkBase64(r.Signature); err != nil {
		return field.Wrap("signature", err)
	}
	return nil
}

// Profile is the answer of /v3/api/user/profile.
type Profile struct {
	Token         string   `json:"token" doc:"the user's authentication token"`
	Login         string   `json:"login" doc:"the user's username"`
	Hostname      string   `json:"hostname" doc:"hostname where the user is logged in"`
	Provider      string   `json:"provider" doc:"authentication method used to log in: ssh, okta or link"`
	Authenticated bool     `json:"authenticated" doc:"the user has authenticated and can send calls"`
	LoggedIn      bool     `json:"loggedIn" doc:"the server completed the authentication process"`
	Groups        []string `json:"groups" doc:"Linux groups of the user"`
	Email         string   `json:"email,omitempty" doc:"email address, when known"`
	FirstName     string   `json:"firstName,omitempty" doc:"first name, when known"`
	LastName      string   `json:"lastName,omitempty" doc:"last name, when known"`
}

func checkBase64(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		if _, err2 := base64.RawStdEncoding.DecodeString(s); err2 != nil {
			return errors.New("must be base64")
		}
	}
	return nil
}
