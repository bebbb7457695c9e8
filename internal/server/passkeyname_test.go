package server

import (
	"context"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/vmm"
)

// TestPasskeyName: a passkey gets its name with the credential (credential_name), user.credentialGet
// lists it, user.credentialRename changes it; bad names and other users' passkeys are refused.
func TestPasskeyName(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tok := h.user("alice", false)
	c := h.client(tok)
	a := newSoftAuthenticator(t, h.s.cfg.BaseURL())

	// A bad name is refused before the credential is looked at, and the ceremony stays usable.
	o := makeOptions(t, c, "alice")
	cred := a.create(o)
	for _, bad := range []string{strings.Repeat("x", 65), " padded", "tab\there"} {
		_, err := c.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "alice", Credential: cred, CredentialName: bad})
		wantErr(t, err, 400, "credential_name")
	}
	doc, err := c.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "alice", Credential: cred, CredentialName: "Laptop · Touch ID"})
	must(t, err)
	id := doc.Data.ID

	list, err := c.ListCredentials(ctx)
	must(t, err)
	if len(list.Data) != 1 || list.Data[0].Attributes.CredentialName != "Laptop · Touch ID" || list.Data[0].Attributes.KeyName != "Laptop · Touch ID" {
		t.Fatalf("credentialGet: %+v", list.Data)
	}

	renamed, err := c.RenameCredential(ctx, id, "Work key")
	must(t, err)
	if renamed.Data.Attributes.CredentialName != "Work key" || renamed.Data.ID != id {
		t.Fatalf("rename answer: %+v", renamed.Data)
	}
	list, err = c.ListCredentials(ctx)
	must(t, err)
	if list.Data[0].Attributes.CredentialName != "Work key" {
		t.Fatalf("after rename: %+v", list.Data[0].Attributes)
	}
	_, err = c.RenameCredential(ctx, id, "bad\x00name")
	wantErr(t, err, 400, "credential_name")
	_, err = c.RenameCredential(ctx, "AAAA", "x")
	wantErr(t, err, 404, "no credential")
	h.call("POST", "/api/v1/user.credentialRename", tok, `{"credential_id":"","credential_name":"x"}`).wantErr(t, 400, "credential_id")
	h.call("POST", "/api/v1/user.credentialRename", tok, `{"credential_id":"`+id+`"}`).wantErr(t, 400, "credential_name")

	// Bob cannot rename alice's passkey; anonymous callers are told to log in.
	bob := h.user("bob", false)
	_, err = h.client(bob).RenameCredential(ctx, id, "mine")
	wantErr(t, err, 404, "no credential")
	_, err = h.client("").RenameCredential(ctx, id, "mine")
	wantErr(t, err, 401, "")

	// "" removes the name; the passkey still logs in.
	_, err = c.RenameCredential(ctx, id, "")
	must(t, err)
	list, err = c.ListCredentials(ctx)
	must(t, err)
	if list.Data[0].Attributes.CredentialName != "" {
		t.Fatalf("after removing the name: %+v", list.Data[0].Attributes)
	}
	if _, err := h.passkeyLogin(a, "alice", false); err != nil {
		t.Fatalf("login with the renamed passkey: %v", err)
	}

	// Both changes are in the audit log.
	root := h.user("root", true)
	got := auditActions(t, h.client(root), vmm.AdminAuditListRequest{UserLogin: "alice"})
	n := 0
	for _, e := range got {
		if strings.HasPrefix(e, "user.credentialRename ") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("credentialRename entries %d, want 2: %q", n, got)
	}
}
