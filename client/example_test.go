package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
)

// Log in on the session surface: with a password the server accepts at once, the first stage is
// "success" and the client keeps the token.
func ExampleClient_Login() {
	ctx := context.Background()
	c, err := client.New(srv.URL, nil) // e.g. "https://desk.example.org"
	if err != nil {
		panic(err)
	}
	st, err := c.Login(ctx, fastx.LoginRequest{Username: "bob", Password: "bob-password-12"})
	if err != nil {
		panic(err)
	}
	p, err := c.UserProfile(ctx)
	if err != nil {
		panic(err)
	}
	admin, _ := c.IsAdmin(ctx)
	fmt.Println(st.Stage, p.Login, p.Authenticated, admin)
	// Output: success bob true false
}

// Failures are *client.Error, whatever the surface: the status, the session surface's error name,
// and the server's message.
func ExampleError() {
	ctx := context.Background()
	c, _ := client.New(srv.URL, nil)
	_, err := c.Login(ctx, fastx.LoginRequest{Username: "bob", Password: "wrong"})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Surface, e.Status, e.Name)
	}
	_, err = c.ListTokens(ctx)
	if errors.As(err, &e) {
		fmt.Println(e.Surface, e.Status, e.Message)
	}
	// Output:
	// session 401 Unauthorized
	// infra 401 this call needs a token (Authorization: Bearer …)
}

// API tokens for scripts: create one, list, revoke.
func ExampleClient_CreateToken() {
	ctx := context.Background()
	c, _ := client.New(srv.URL, nil)
	if _, err := c.UserLogin(ctx, "carol", "carol-password-1"); err != nil { // infrastructure login
		panic(err)
	}
	tok, err := c.CreateToken(ctx, time.Hour, false)
	if err != nil {
		panic(err)
	}
	api, _ := client.New(srv.URL, &client.Options{Token: tok.Data.Attributes.Token})
	me, err := api.User(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(me.Data.Attributes.UserLogin, tok.Data.Attributes.TokenType)
	if err := c.RevokeToken(ctx, tok.Data.Attributes.TokenName); err != nil {
		panic(err)
	}
	_, err = api.User(ctx)
	fmt.Println(client.StatusCode(err))
	// Output:
	// carol system.api
	// 401
}

// Start a desktop and read the RFB greeting from its screen through the display websocket.
func ExampleClient_DialDisplay() {
	ctx := context.Background()
	c, _ := client.New(srv.URL, nil)
	if _, err := c.Login(ctx, fastx.LoginRequest{Username: "bob", Password: "bob-password-12"}); err != nil {
		panic(err)
	}
	conn, err := c.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: "800x600"})
	if err != nil {
		panic(err)
	}
	defer c.TerminateSession(ctx, conn.ID)
	rfb, err := c.DialDisplay(ctx, conn)
	if err != nil {
		panic(err)
	}
	defer rfb.Close()
	greeting := make([]byte, 12)
	if _, err := io.ReadFull(rfb, greeting); err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", greeting[:8])
	// Output: "RFB 003."
}

// Watch the infrastructure surface's events: Subscribe opens a stream and binds it to the account.
func ExampleClient_Subscribe() {
	ctx := context.Background()
	c, _ := client.New(srv.URL, nil)
	if _, err := c.UserLogin(ctx, "carol", "carol-password-1"); err != nil {
		panic(err)
	}
	s, err := c.Subscribe(ctx)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	// Instance operations report here (NextEvent answers a vmm.Event); revoking the token that bound the stream ends it.
	_ = c.UserLogout(ctx)
	_, err = s.NextEvent(ctx)
	var closed *client.StreamClosedError
	if errors.As(err, &closed) {
		fmt.Println("closed:", closed.Reason)
	}
	// Output: closed: credentials revoked
}
