package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
)

// infraLogin answers a client logged in with user.login.
func infraLogin(t *testing.T, login, password string) *client.Client {
	t.Helper()
	c, _ := client.New(srv.URL, nil)
	tok, err := c.UserLogin(context.Background(), login, password)
	if err != nil || c.Token() == "" || tok.Data.Attributes.TokenType != vmm.TokenTypeLogin {
		t.Fatalf("UserLogin %s: %+v, %v", login, tok, err)
	}
	return c
}

func TestHealthAndConfig(t *testing.T) {
	ctx := context.Background()
	c, _ := client.New(srv.URL+"/", nil)
	if h, err := c.Alive(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("Alive: %+v, %v", h, err)
	}
	if h, err := c.Ready(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("Ready: %+v, %v", h, err)
	}
	if cfg, err := c.InfraConfig(ctx); err != nil || cfg.Stream == "" {
		t.Fatalf("InfraConfig: %+v, %v", cfg, err)
	}
	for _, bad := range []string{"ftp://x", "localhost:8080", "http://h/?q=1"} {
		if _, err := client.New(bad, nil); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestAccountAndTokens(t *testing.T) {
	ctx := context.Background()
	c := infraLogin(t, "carol", "carol-password-1")
	me, err := c.User(ctx)
	if err != nil || me.Data.Attributes.UserLogin != "carol" || me.Data.Type != "user" {
		t.Fatalf("User: %+v, %v", me, err)
	}
	tok, err := c.CreateToken(ctx, time.Hour, false)
	if err != nil || tok.Data.Attributes.Token == "" {
		t.Fatalf("CreateToken: %+v, %v", tok, err)
	}
	list, err := c.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range list.Data {
		found = found || (r.Attributes.TokenName == tok.Data.Attributes.TokenName && r.Attributes.Token == "")
	}
	if !found {
		t.Fatalf("ListTokens lacks %s (or shows secrets): %+v", tok.Data.Attributes.TokenName, list.Data)
	}
	// The API token works on the session surface too.
	api, _ := client.New(srv.URL, &client.Options{Token: tok.Data.Attributes.Token, UserAgent: "sdk-test"})
	if p, err := api.UserProfile(ctx); err != nil || p.Login != "carol" {
		t.Fatalf("UserProfile with an API token: %+v, %v", p, err)
	}
	if err := c.RevokeToken(ctx, tok.Data.Attributes.TokenName); err != nil {
		t.Fatal(err)
	}
	_, err = api.User(ctx)
	wantStatus(t, "User with a revoked token", err, client.SurfaceInfra, 401)
	err = c.RevokeToken(ctx, "no-such-token")
	wantStatus(t, "RevokeToken of an unknown name", err, client.SurfaceInfra, 404)
	_, err = c.CreateToken(ctx, 0, false)
	if e := wantStatus(t, "CreateToken(0)", err, client.SurfaceInfra, 400); e.Pointer != "/data/attributes/token_lifetime" {
		t.Errorf("pointer %q, want /data/attributes/token_lifetime", e.Pointer)
	}

	// Passwords, locks and WebAuthn on the account.
	if _, err := c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: false}); err != nil {
		t.Fatal(err)
	}
	if creds, err := c.ListCredentials(ctx); err != nil || len(creds.Data) != 0 {
		t.Fatalf("ListCredentials: %+v, %v", creds, err)
	}
	for name, err := range map[string]error{
		"AssertionGet": func() error { _, err := c.AssertionGet(ctx, "carol"); return err }(),
		"AssertionVerify": func() error {
			_, err := c.AssertionVerify(ctx, vmm.UserAssertionVerifyRequest{UserLogin: "carol"})
			return err
		}(),
		"CredentialMake": func() error {
			_, err := c.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "carol"})
			return err
		}(),
		"DeleteCredentials": func() error { _, err := c.DeleteCredentials(ctx, "no-such-credential"); return err }(),
		"Register": func() error {
			_, err := c.Register(ctx, vmm.UserRegisterRequest{UserEmail: "d@example.org", UserLogin: "dave", UserPassword: "x", UserPasswordRepeat: "y"})
			return err
		}(),
		"Recover": func() error {
			_, err := c.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "carol@example.org", UserCode: "not-a-code"})
			return err
		}(),
		"ChangeEmail": func() error {
			_, err := c.ChangeEmail(ctx, vmm.UserEmailChangeRequest{UserEmail: "not an address"})
			return err
		}(),
	} {
		// WebAuthn is off and no mail server is configured: each call must come back as a clear 4xx.
		if e, ok := err.(*client.Error); err != nil && (!ok || e.Status/100 != 4 || e.Message == "") {
			t.Errorf("%s: %v (%T)", name, err, err)
		}
	}
	if _, err := c.ChangePassword(ctx, "carol-password-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.UserLogout(ctx); err != nil || c.Token() != "" {
		t.Fatalf("UserLogout: %v", err)
	}
}

func TestSSHKeys(t *testing.T) {
	ctx := context.Background()
	c := infraLogin(t, "bob", bobPW)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
	k, err := c.AddSSHKey(ctx, "laptop", line)
	if err != nil || k.Data.Attributes.KeyFingerprint != ssh.FingerprintSHA256(sp) {
		t.Fatalf("AddSSHKey: %+v, %v", k, err)
	}
	keys, err := c.ListSSHKeys(ctx)
	if err != nil || len(keys.Data) != 1 || keys.Data[0].Attributes.KeyName != "laptop" {
		t.Fatalf("ListSSHKeys: %+v, %v", keys, err)
	}
	_, err = c.AddSSHKey(ctx, "junk", "not a key")
	wantStatus(t, "AddSSHKey of junk", err, client.SurfaceInfra, 400)
	if err := c.DeleteSSHKey(ctx, keys.Data[0].Attributes.KeyID); err != nil {
		t.Fatal(err)
	}
	if keys, err = c.ListSSHKeys(ctx); err != nil || len(keys.Data) != 0 {
		t.Fatalf("ListSSHKeys after delete: %+v, %v", keys, err)
	}
}

// TestInfrastructureWithoutLXD calls every server-side resource family. No LXD server is added here:
// the internal provider lists nothing, and calls naming an LXD server that is not there fail with
// a 4xx *Error.
func TestInfrastructureWithoutLXD(t *testing.T) {
	ctx := context.Background()
	c := infraLogin(t, "alice", alicePW)
	const in = vmm.ProviderInternal
	lists := map[string]func() (int, error){
		"servers": func() (int, error) { d, err := c.ListServers(ctx, in, 0); return len(d.Data), err },
		"instances": func() (int, error) {
			d, err := c.ListInstances(ctx, vmm.InstanceListRequest{Provider: in})
			return len(d.Data), err
		},
		"images":       func() (int, error) { d, err := c.ListImages(ctx, in, 0); return len(d.Data), err },
		"imageServers": func() (int, error) { d, err := c.ListImageServers(ctx, in, 0); return len(d.Data) - 1, err },
		"profiles":     func() (int, error) { d, err := c.ListProfiles(ctx, in, 0); return len(d.Data), err },
		"networks":     func() (int, error) { d, err := c.ListNetworks(ctx, in, 0); return len(d.Data), err },
		"pools":        func() (int, error) { d, err := c.ListPools(ctx, in, 0); return len(d.Data), err },
		"volumes":      func() (int, error) { d, err := c.ListVolumes(ctx, in, 0); return len(d.Data), err },
		"certificates": func() (int, error) { d, err := c.ListCertificates(ctx, in, 0); return len(d.Data), err },
		"lxd servers":  func() (int, error) { d, err := c.ListServers(ctx, vmm.ProviderLXD, 0); return len(d.Data), err },
	}
	for name, list := range lists {
		if n, err := list(); err != nil || n != 0 {
			t.Errorf("%s: %d, %v", name, n, err)
		}
	}
	const lxd, missing = vmm.ProviderLXD, int64(999)
	for name, err := range map[string]error{
		"GetServer": func() error { _, err := c.GetServer(ctx, lxd, missing); return err }(),
		"DeleteServer": func() error {
			_, err := c.DeleteServer(ctx, vmm.ServerDeleteRequest{Provider: lxd, ServerID: vmm.FlexInt(missing)})
			return err
		}(),
		"GetInstance": func() error {
			_, err := c.GetInstance(ctx, vmm.InstanceGetRequest{Provider: lxd, ServerID: vmm.FlexInt(missing), InstanceName: "x"})
			return err
		}(),
		"AddInstance": func() error {
			_, err := c.AddInstance(ctx, vmm.InstanceAddRequest{Provider: lxd, ServerID: vmm.FlexInt(missing), InstanceName: "x", ImageAlias: "debian"})
			return err
		}(),
		"InstanceAction": func() error {
			_, err := c.InstanceAction(ctx, vmm.InstanceActionRequest{Provider: lxd, InstanceID: vmm.FlexInt(missing), InstanceStatus: "start"})
			return err
		}(),
		"ListImages": func() error { _, err := c.ListImages(ctx, lxd, missing); return err }(),
		"DeleteImage": func() error {
			_, err := c.DeleteImage(ctx, vmm.ImageDeleteRequest{Provider: lxd, ServerID: vmm.FlexInt(missing), ImageFingerprint: "ab"})
			return err
		}(),
		"UpdateProfile": func() error {
			_, err := c.UpdateProfile(ctx, vmm.ProfileUpdateRequest{Provider: lxd, ServerID: vmm.FlexInt(missing), ProfileName: "p", ProfileBody: "{}"})
			return err
		}(),
		"DeleteProfile": func() error {
			_, err := c.DeleteProfile(ctx, vmm.ProfileDeleteRequest{Provider: lxd, ServerID: vmm.FlexInt(missing), ProfileName: "p"})
			return err
		}(),
		"RevokeCertificate": func() error {
			_, err := c.RevokeCertificate(ctx, vmm.CertificateRevokeRequest{Provider: lxd, ServerID: vmm.FlexInt(missing), CertificateFingerprint: "ab"})
			return err
		}(),
		"ListNetworks":     func() error { _, err := c.ListNetworks(ctx, lxd, missing); return err }(),
		"ListPools":        func() error { _, err := c.ListPools(ctx, lxd, missing); return err }(),
		"ListVolumes":      func() error { _, err := c.ListVolumes(ctx, lxd, missing); return err }(),
		"ListProfiles":     func() error { _, err := c.ListProfiles(ctx, lxd, missing); return err }(),
		"ListImageServers": func() error { _, err := c.ListImageServers(ctx, lxd, missing); return err }(),
		"ListCertificates": func() error { _, err := c.ListCertificates(ctx, lxd, missing); return err }(),
		// Nothing listens on port 1: the server cannot be reached.
		"AddServer": func() error {
			_, err := c.AddServer(ctx, vmm.ServerAddRequest{ServerHost: "127.0.0.1", ServerPort: 1, ServerProtocol: "lxd", ServerPassword: "x"})
			return err
		}(),
		"VerifyServer": func() error {
			_, err := c.VerifyServer(ctx, vmm.ServerVerifyRequest{ServerHost: "127.0.0.1", ServerPort: 1, ServerProtocol: "lxd", ServerPassword: "x"})
			return err
		}(),
	} {
		e, ok := err.(*client.Error)
		if !ok || e.Surface != client.SurfaceInfra || e.Status/100 != 4 && e.Status != 502 || e.Message == "" {
			t.Errorf("%s: %v (%T), want a 4xx (or 502) infra *client.Error", name, err, err)
		}
	}
}
