package vmm

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestCommaList: lists come as an array or as ui-vmm's panel's comma-separated string, and go out as
// the string.
func TestCommaList(t *testing.T) {
	for _, in := range []string{`"default, net,,"`, `["default","net"]`} {
		var l CommaList
		if err := json.Unmarshal([]byte(in), &l); err != nil || !slices.Equal(l, CommaList{"default", "net"}) {
			t.Errorf("%s: %v, %v", in, l, err)
		}
	}
	var l CommaList
	if err := json.Unmarshal([]byte(`7`), &l); err == nil {
		t.Error("a number was taken as a list")
	}
	if b, _ := json.Marshal(CommaList{"a", "b"}); string(b) != `"a,b"` {
		t.Errorf("marshal: %s", b)
	}
	if b, _ := json.Marshal(CommaList{}); string(b) != `""` {
		t.Errorf("marshal empty: %s", b)
	}
}

// TestPanelRequests: the bodies ui-vmm's panel sends decode and validate.
func TestPanelRequests(t *testing.T) {
	var add InstanceAddRequest
	body := `{"instance_name":"web1","instance_type":"container","image_server_host":"","instance_image":"0123456789abcdef0123",
		"instance_command":"","instance_memory":"64","instance_cpu":"1","instance_profiles":"default,net","instance_interface":"eth0",
		"instance_network":"","instance_nameserver":"8.8.8.8","instance_dhcp":true,"provider":"lxd","server_id":2,"request_id":"r1"}`
	if err := json.Unmarshal([]byte(body), &add); err != nil {
		t.Fatal(err)
	}
	if err := add.Validate(); err != nil {
		t.Fatal(err)
	}
	if add.ImageFingerprint != "0123456789abcdef0123" || add.ImageAlias != "" || add.InstanceMemory != 64 || add.InstanceCPU != 1 ||
		!slices.Equal(add.Profiles, StringList{"default", "net"}) {
		t.Fatalf("instance.add: %+v", add)
	}
	add = InstanceAddRequest{Provider: ProviderLXD, InstanceName: "web1", InstanceImage: "debian/12"}
	if err := add.Validate(); err != nil || add.ImageAlias != "debian/12" {
		t.Fatalf("an alias as instance_image: %+v %v", add, err)
	}
	act := InstanceActionRequest{Provider: ProviderLXD, InstanceName: "web1", ServerID: 2, InstanceStatus: "stop"}
	if err := act.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (&InstanceActionRequest{Provider: ProviderLXD, InstanceStatus: "stop"}).Validate(); err == nil {
		t.Fatal("an action naming no instance was taken")
	}
	if err := (&ServerListRequest{}).Validate(); err != nil {
		t.Fatalf("server.list {}: %v", err)
	}
	if err := (&UserRegisterRequest{UserCode: "c0de"}).Validate(); err != nil {
		t.Fatalf("user.register {user_code}: %v", err)
	}
	if err := (&UserRecoveryRequest{UserCode: "c0de"}).Validate(); err != nil {
		t.Fatalf("user.recovery {user_code}: %v", err)
	}
	if err := (&UserRecoveryRequest{UserCode: "c0de", UserPassword: "a", UserPasswordRepeat: "b"}).Validate(); err == nil {
		t.Fatal("user.recovery: different passwords taken")
	}
	del := UserCredentialDeleteRequest{KeyID: "abc"}
	if err := del.Validate(); err != nil || del.CredentialID != "abc" {
		t.Fatalf("user.credentialDelete {key_id}: %+v %v", del, err)
	}
	var v UserAssertionVerifyRequest
	if err := json.Unmarshal([]byte(`{"user_login":"ann","id":"AAE","rawId":"AAE","type":"public-key","response":{"clientDataJSON":"e30"}}`), &v); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	var cred map[string]any
	if err := json.Unmarshal(v.Credential, &cred); err != nil || cred["id"] != "AAE" || cred["type"] != "public-key" {
		t.Fatalf("assembled credential: %s (%v)", v.Credential, err)
	}
	if err := (&UserCredentialMakeRequest{UserLogin: "ann", AttestationType: "weird"}).Validate(); err == nil {
		t.Fatal("an unknown attestation_type was taken")
	}
}
