package client_test

import (
	"context"
	"testing"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
)

func TestShares(t *testing.T) {
	ctx := context.Background()
	c := login(t, "bob", bobPW)
	conn := startDesktop(t, c)

	key, err := c.CreateShare(ctx, conn.ID, fastx.PermViewer)
	if err != nil || key.Key == "" || key.Key == key.KeyID {
		t.Fatalf("CreateShare: %+v, %v", key, err)
	}
	keys, err := c.ListShares(ctx, conn.ID)
	if err != nil || len(keys) != 1 || keys[0].Key != key.KeyID {
		t.Fatalf("ListShares: %+v, %v (the key shows by its id)", keys, err)
	}
	// A guest without an account opens the screen with the key.
	guest, _ := client.New(srv.URL, nil)
	gc, err := guest.ConnectShare(ctx, conn.ID, key.Key)
	if err != nil {
		t.Fatal(err)
	}
	greeting(t, guest, gc)
	if _, err := guest.ConnectShare(ctx, conn.ID, "not-the-key"); client.StatusCode(err)/100 != 4 {
		t.Fatalf("ConnectShare with a wrong key: %v", err)
	}

	if keys, err = c.EditShare(ctx, fastx.ShareEditRequest{ID: conn.ID, Key: key.KeyID, Perms: []string{fastx.PermGranter}}); err != nil ||
		len(keys) != 1 || keys[0].Perms[0] != fastx.PermGranter {
		t.Fatalf("EditShare: %+v, %v", keys, err)
	}
	if keys, err = c.DeleteShare(ctx, conn.ID, key.Key); err != nil || len(keys) != 0 {
		t.Fatalf("DeleteShare: %+v, %v", keys, err)
	}
	if _, err := guest.ConnectShare(ctx, conn.ID, key.Key); err == nil {
		t.Fatal("ConnectShare with a deleted key succeeded")
	}
	for range 2 {
		if _, err := c.CreateShare(ctx, conn.ID); err != nil {
			t.Fatal(err)
		}
	}
	if keys, err = c.ResetShares(ctx, conn.ID); err != nil || len(keys) != 0 {
		t.Fatalf("ResetShares: %+v, %v", keys, err)
	}
	// share/email mails a link: without a mail server configured it is refused, as an *Error.
	_, err = c.EmailShare(ctx, fastx.ShareEmailRequest{ID: conn.ID, Email: "guest@example.org"})
	if err != nil {
		if _, ok := err.(*client.Error); !ok {
			t.Fatalf("EmailShare: %v (%T)", err, err)
		}
	}
}

// TestGranterKey: the holder of a granter key makes viewer keys of the session, and only those.
func TestGranterKey(t *testing.T) {
	ctx := context.Background()
	c := login(t, "bob", bobPW)
	conn := startDesktop(t, c)
	grant, err := c.CreateShare(ctx, conn.ID, fastx.PermGranter)
	if err != nil {
		t.Fatal(err)
	}
	carol := login(t, "carol", "carol-password-1")
	if _, err := carol.CreateShare(ctx, conn.ID, fastx.PermViewer); !client.IsNotFound(err) {
		t.Fatalf("CreateShare without the key: %v", err)
	}
	granter := carol.WithShareKey(grant.Key)
	if k, err := granter.CreateShare(ctx, conn.ID, fastx.PermViewer); err != nil || k.Perms[0] != fastx.PermViewer {
		t.Fatalf("CreateShare with a granter key: %+v, %v", k, err)
	}
	if _, err := granter.CreateShare(ctx, conn.ID, fastx.PermGranter); client.StatusCode(err) != 403 {
		t.Fatalf("a granter key made a granter key: %v", err)
	}
}
