package browser

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/sshlogin/sshdtest"
)

type sshLoginRun struct {
	Logins map[string]struct {
		Who     string     `json:"who"`
		Calls   []string   `json:"calls"`
		Prompts [][]string `json:"prompts"`
	} `json:"logins"`
	WrongPassword struct {
		Error string `json:"error"`
		State string `json:"state"`
	} `json:"wrongPassword"`
	WrongPassphrase struct {
		Error string   `json:"error"`
		Calls []string `json:"calls"`
	} `json:"wrongPassphrase"`
	PKInfo     string   `json:"pkInfo"`
	MultiInfo  string   `json:"multiInfo"`
	Bodies     []string `json:"bodies"`
	Signatures []struct {
		Name      string `json:"name"`
		Type      string `json:"type"`
		Encrypted bool   `json:"encrypted"`
		PublicKey string `json:"publicKey"`
		Signature string `json:"signature"`
		Error     string `json:"error"`
	} `json:"signatures"`
}

// keygen writes a key made by ssh-keygen (OpenSSH's own writer) and answers its text and public key.
func keygen(t *testing.T, dir, name string, args ...string) (string, ssh.PublicKey) {
	t.Helper()
	path := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", append([]string{"-q", "-C", name, "-f", path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %v: %v: %s", args, err, out)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pubText, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	return string(text), pub
}

// TestSSHLoginInChromium: the web app logs in through deskhub's ssh provider and a real sshd (sshdtest)
// with every stage: password, keyboard-interactive (a wrong password is refused), a public key whose
// private key file is picked in the page (ed25519), a public key then a password, and an encrypted RSA
// key pasted with its passphrase followed by keyboard-interactive rounds of a forced password change
// (a wrong passphrase is refused in the page, before any call). The private key never leaves the
// browser: no request body carries it. The page's signer (/app/sshkey.js) also signs with ECDSA P-256,
// P-384 and P-521 keys, RSA with SHA-256 and SHA-1, and keys encrypted with aes256-gcm@openssh.com and
// aes128-cbc (ssh-keygen's files); each signature verifies with its public key.
func TestSSHLoginInChromium(t *testing.T) {
	browserDeps(t)
	srv := sshdtest.Start(t)
	base, _, _ := startDeskhubWith(t, nil, func(c *config.Config) {
		c.Auth.Provider = "ssh"
		c.Auth.SSHAddr = srv.Addr
	})
	dir := t.TempDir()

	pkBlock, err := ssh.MarshalPrivateKey(srv.PKKey, "dhtest-pk key")
	if err != nil {
		t.Fatal(err)
	}
	pkText := string(pem.EncodeToMemory(pkBlock))
	multiPass := "a passphrase for the RSA key"
	multiBlock, err := ssh.MarshalPrivateKeyWithPassphrase(srv.MultiKey, "dhtest-multi key", []byte(multiPass))
	if err != nil {
		t.Fatal(err)
	}
	multiText := string(pem.EncodeToMemory(multiBlock))

	type signKey struct {
		Name      string `json:"name"`
		Text      string `json:"text"`
		Pass      string `json:"pass,omitempty"`
		Algorithm string `json:"algorithm,omitempty"`
	}
	pubs := map[string]ssh.PublicKey{}
	var signKeys []signKey
	for _, k := range []struct {
		name, pass, alg string
		args            []string
	}{
		{"ecdsa-256", "", "", []string{"-t", "ecdsa", "-b", "256", "-N", ""}},
		{"ecdsa-384", "", "", []string{"-t", "ecdsa", "-b", "384", "-N", ""}},
		{"ecdsa-521", "", "", []string{"-t", "ecdsa", "-b", "521", "-N", ""}},
		{"rsa-sha256", "", ssh.KeyAlgoRSASHA256, []string{"-t", "rsa", "-b", "2048", "-N", ""}},
		{"rsa-sha1", "", ssh.KeyAlgoRSA, []string{"-t", "rsa", "-b", "2048", "-N", ""}},
		{"ed25519-gcm", "pass gcm", "", []string{"-t", "ed25519", "-N", "pass gcm", "-Z", "aes256-gcm@openssh.com"}},
		{"ecdsa-cbc", "pass cbc", "", []string{"-t", "ecdsa", "-b", "256", "-N", "pass cbc", "-Z", "aes128-cbc"}},
		{"rsa-ctr", "pass ctr", ssh.KeyAlgoRSASHA512, []string{"-t", "rsa", "-b", "3072", "-N", "pass ctr"}},
	} {
		text, pub := keygen(t, dir, k.name, k.args...)
		pubs[k.name] = pub
		signKeys = append(signKeys, signKey{k.name, text, k.pass, k.alg})
	}
	data := make([]byte, 120)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	fresh := "Fresh-" + sshdtest.RandomPassword()
	cfg := map[string]any{
		"base": base, "shots": screenshotDir(t), "fresh": fresh,
		"users": map[string]string{"pw": sshdtest.UserPassword, "kbd": sshdtest.UserKbd, "pk": sshdtest.UserPK,
			"pkpw": sshdtest.UserPKPassword, "multi": sshdtest.UserMulti},
		"passwords": srv.Passwords, "pkKeyFile": pkText, "multiKey": multiText, "multiPass": multiPass,
		"signKeys": signKeys, "data": base64.StdEncoding.EncodeToString(data),
	}
	cfgPath := filepath.Join(dir, "config.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}

	var run sshLoginRun
	runScript(t, 3*time.Minute, nil, func() string { return "--- sshd log ---\n" + srv.Log() }, &run, "sshlogin.mjs", cfgPath)

	// Each account logged in, through the stages its sshd configuration asks for.
	want := map[string]struct {
		user  string
		calls []string // login calls the page made, in order (repeats collapsed)
	}{
		"pw":    {sshdtest.UserPassword, []string{"login"}},
		"kbd":   {sshdtest.UserKbd, []string{"login", "login/keyboard-interactive"}},
		"pk":    {sshdtest.UserPK, []string{"login", "login/public-key", "login/public-key/signed"}},
		"pkpw":  {sshdtest.UserPKPassword, []string{"login", "login/public-key", "login/public-key/signed", "login/password"}},
		"multi": {sshdtest.UserMulti, []string{"login", "login/public-key", "login/public-key/signed", "login/keyboard-interactive"}},
	}
	for k, w := range want {
		got := run.Logins[k]
		if got.Who != w.user || !slices.Equal(slices.Compact(got.Calls), w.calls) {
			t.Errorf("%s: signed in as %q after calls %v; want %q after %v", k, got.Who, got.Calls, w.user, w.calls)
		}
	}
	multi := run.Logins["multi"]
	if len(multi.Prompts) < 3 || !strings.Contains(strings.ToLower(strings.Join(slices.Concat(multi.Prompts...), " ")), "new") {
		t.Errorf("dhtest-multi: keyboard-interactive prompts shown %v, want the password and the forced change's (new password)", multi.Prompts)
	}
	if !strings.Contains(run.PKInfo, "ssh-ed25519") || !strings.Contains(run.MultiInfo, "ssh-rsa") || !strings.Contains(run.MultiInfo, "passphrase") {
		t.Errorf("key descriptions: %q, %q", run.PKInfo, run.MultiInfo)
	}
	if !strings.Contains(run.WrongPassword.Error, "wrong user name or credentials") || run.WrongPassword.State != "signed-out" {
		t.Errorf("wrong keyboard-interactive password: %+v", run.WrongPassword)
	}
	if !strings.Contains(run.WrongPassphrase.Error, "passphrase") || len(run.WrongPassphrase.Calls) != 0 {
		t.Errorf("wrong passphrase: %+v (no login call may be made)", run.WrongPassphrase)
	}

	// The private keys never left the page: no request body holds a key file, nor the private numbers
	// (ed25519 seed, RSA d, p, q) raw or base64-encoded at any alignment.
	if len(run.Bodies) == 0 {
		t.Fatal("no request body recorded")
	}
	secrets := []string{"PRIVATE KEY"}
	for _, secret := range [][]byte{srv.PKKey.Seed(), srv.MultiKey.D.Bytes(), srv.MultiKey.Primes[0].Bytes(), srv.MultiKey.Primes[1].Bytes()} {
		secrets = append(secrets, string(secret))
		for shift := 0; shift < 3; shift++ { // a base64 text holding secret holds one of these
			enc := base64.StdEncoding.EncodeToString(secret[shift:])
			secrets = append(secrets, enc[:len(enc)-4])
		}
	}
	for _, body := range run.Bodies {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Fatalf("a request body carries private key material (%.20q…): %.200s", s, body)
			}
		}
	}

	// Every signature the page made verifies with its key's public key, and the public key it
	// derived is the key's.
	if len(run.Signatures) != len(signKeys) {
		t.Fatalf("%d signatures for %d keys", len(run.Signatures), len(signKeys))
	}
	for i, s := range run.Signatures {
		pub := pubs[s.Name]
		if s.Error != "" {
			t.Errorf("%s: %s", s.Name, s.Error)
			continue
		}
		if s.PublicKey != base64.StdEncoding.EncodeToString(pub.Marshal()) {
			t.Errorf("%s: the page's public key differs from ssh-keygen's", s.Name)
		}
		raw, _ := base64.StdEncoding.DecodeString(s.Signature)
		sig := new(ssh.Signature)
		if err := ssh.Unmarshal(raw, sig); err != nil {
			t.Errorf("%s: signature wire form: %v", s.Name, err)
			continue
		}
		if alg := signKeys[i].Algorithm; alg != "" && sig.Format != alg {
			t.Errorf("%s: signature format %q, want %q", s.Name, sig.Format, alg)
		}
		if err := pub.Verify(data, sig); err != nil {
			t.Errorf("%s (%s, encrypted %v): signature does not verify: %v", s.Name, s.Type, s.Encrypted, err)
		}
	}
}
