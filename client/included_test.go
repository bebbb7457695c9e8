package client_test

import (
	"context"
	"testing"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
)

func TestIncluded(t *testing.T) {
	c, _ := client.New(srv.URL, nil)
	doc, err := c.UserLogin(context.Background(), "bob", bobPW)
	if err != nil {
		t.Fatal(err)
	}
	users, err := client.Included[vmm.UserAttributes](doc.Included, vmm.TypeUser)
	if err != nil || len(users) != 1 || users[0].Attributes.UserLogin != "bob" || users[0].Attributes.UserAdmin || users[0].ID == "" {
		t.Fatalf("Included: %+v, %v", users, err)
	}
	if others, err := client.Included[vmm.UserAttributes](doc.Included, "token"); err != nil || len(others) != 0 {
		t.Fatalf("Included of another type: %+v, %v", others, err)
	}
	bad := []jsonapi.Resource[any]{{Type: vmm.TypeUser, ID: "1", Attributes: "not an object"}}
	if _, err := client.Included[vmm.UserAttributes](bad, vmm.TypeUser); err == nil {
		t.Fatal("Included decoded a string as attributes")
	}
}
