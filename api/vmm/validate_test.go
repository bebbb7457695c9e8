package vmm

import (
	"errors"
	"testing"

	"github.com/deskhub/deskhub/api/field"
)

func TestValidateFieldErrors(t *testing.T) {
	for _, tc := range []struct {
		v     interface{ Validate() error }
		field string
		text  string
	}{
		{&PoolListRequest{Provider: "aws"}, "provider", `member "provider" must be "lxd" or "internal", not "aws"`},
		{&InstanceAddRequest{Provider: ProviderLXD, InstanceName: "9x", ImageAlias: "a"}, "instance_name",
			`member "instance_name" must be 1-63 letters, digits and dashes, starting with a letter and not ending with a dash, not "9x"`},
		{&InstanceActionRequest{Provider: ProviderLXD, InstanceID: 3, InstanceStatus: "explode"}, "instance_status", ""},
		{&InstanceActionRequest{Provider: ProviderLXD, InstanceName: "web1", InstanceStatus: "explode"}, "instance_status", ""},
		{&InstanceAddRequest{Provider: ProviderLXD, InstanceName: "web1", InstanceImage: "debian/12", InstanceMemory: -1}, "instance_memory", ""},
		{&SimplestreamAddRequest{ProductArch: "amd64"}, "product_os", `member "product_os" must not be empty`},
		{&UserRegisterRequest{UserLogin: ""}, "user_login", `member "user_login" must not be empty`},
	} {
		err := tc.v.Validate()
		var fe *field.Error
		if !errors.As(err, &fe) || fe.Field != tc.field || (tc.text != "" && err.Error() != tc.text) {
			t.Errorf("%T: err = %v, want a *field.Error about %q reading %q", tc.v, err, tc.field, tc.text)
		}
	}
	// Not about a single member: stays a plain error.
	err := (&InstanceAddRequest{Provider: ProviderLXD, InstanceName: "web1"}).Validate()
	var fe *field.Error
	if err == nil || errors.As(err, &fe) {
		t.Errorf("image choice: err = %v", err)
	}
}
