package server

import (
	"testing"

	"github.com/deskhub/deskhub/api/vmm"
)

// Fuzz targets for the decoders of the admin.* and user.credentialRename bodies: an accepted body
// holds what the handlers rely on (Validate ran).

func FuzzDecodeAdminAuditList(f *testing.F) {
	fuzzDecode(f, true, []string{`{}`, `{"user_login":"alice","audit_limit":10,"audit_before":5}`,
		`{"audit_since":"2026-12-02T07:30:00Z","audit_until":"2026-12-02T08:00:00.5+01:00"}`, `{"audit_since":"now"}`,
		`{"audit_limit":1e3}`, `{"audit_before":-1}`, `{"data":{"attributes":{"audit_limit":2}}}`},
		func(t *testing.T, r *vmm.AdminAuditListRequest) {
			since, err1 := r.Since()
			until, err2 := r.Until()
			if err1 != nil || err2 != nil {
				t.Fatalf("accepted unreadable times: %+v", r)
			}
			if !since.IsZero() && !until.IsZero() && !until.After(since) {
				t.Fatalf("accepted an empty window: %+v", r)
			}
			if r.Limit() < 1 || r.Limit() > vmm.MaxAuditLimit || r.AuditBefore < 0 {
				t.Fatalf("accepted limit %d, before %d", r.Limit(), r.AuditBefore)
			}
		})
}

func FuzzDecodeAdminUserCreate(f *testing.F) {
	fuzzDecode(f, true, []string{`{"user_login":"a","user_email":"a@b.c","user_password":"long enough"}`,
		`{"user_login":"a","user_email":"a@b.c","user_password":"x","user_admin":true}`, `{"user_login":""}`, `{"user_admin":"yes"}`},
		func(t *testing.T, r *vmm.AdminUserCreateRequest) {
			if r.UserLogin == "" || r.UserEmail == "" || r.UserPassword == "" {
				t.Fatalf("accepted an empty member: %+v", r)
			}
		})
}

func FuzzDecodeCredentialRename(f *testing.F) {
	fuzzDecode(f, true, []string{`{"credential_id":"AAAA","credential_name":"Laptop"}`, `{"credential_id":"AAAA","credential_name":""}`,
		`{"credential_id":"","credential_name":"x"}`, `{"credential_id":"AAAA","credential_name":"\u0000"}`},
		func(t *testing.T, r *vmm.UserCredentialRenameRequest) {
			if r.CredentialID == "" {
				t.Fatalf("accepted an empty credential_id: %+v", r)
			}
		})
}

func FuzzDecodeAdminUserLock(f *testing.F) {
	fuzzDecode(f, true, []string{`{"user_login":"a","user_locked":true}`, `{"user_login":"a"}`, `{"user_login":"","user_locked":false}`, `{"user_locked":1}`},
		func(t *testing.T, r *vmm.AdminUserLockRequest) {
			if r.UserLogin == "" {
				t.Fatalf("accepted an empty login: %+v", r)
			}
		})
}

func FuzzDecodeAdminUserDelete(f *testing.F) {
	fuzzDecode(f, true, []string{`{"user_login":"a","user_confirm":true}`, `{"user_login":"a","user_confirm":false}`, `{"user_login":"a"}`, `{"user_confirm":"yes"}`},
		func(t *testing.T, r *vmm.AdminUserDeleteRequest) {
			if r.UserLogin == "" {
				t.Fatalf("accepted an empty login: %+v", r)
			}
		})
}

func FuzzDecodeAdminUserPasswordReset(f *testing.F) {
	fuzzDecode(f, true, []string{`{"user_login":"a","user_password":"long enough"}`, `{"user_login":"a","user_password":""}`, `{"user_password":"x"}`},
		func(t *testing.T, r *vmm.AdminUserPasswordResetRequest) {
			if r.UserLogin == "" || r.UserPassword == "" {
				t.Fatalf("accepted an empty member: %+v", r)
			}
		})
}
