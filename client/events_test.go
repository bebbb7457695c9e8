package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deskhub/deskhub/client"
)

func TestEventStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := infraLogin(t, "bob", bobPW)
	cfg, err := c.InfraConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: open, then bind.
	s, err := c.OpenEventStream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ID() != cfg.Stream {
		t.Fatalf("ID %q, want %q", s.ID(), cfg.Stream)
	}
	// The same stream cannot be opened twice.
	_, err = c.OpenEventStream(ctx, cfg.Stream)
	wantStatus(t, "OpenEventStream twice", err, client.SurfaceInfra, 409)
	if err := c.AuthEventStream(ctx, cfg.Stream); err != nil {
		t.Fatal(err)
	}
	m, err := s.Next(ctx)
	if err != nil || m.Name != "bound" {
		t.Fatalf("after AuthEventStream: %+v, %v", m, err)
	}
	err = c.AuthEventStream(ctx, "no-such-stream-123")
	wantStatus(t, "AuthEventStream of an unknown stream", err, client.SurfaceInfra, 404)

	// Another account may not take the stream over.
	other := infraLogin(t, "carol", "carol-password-1")
	err = other.AuthEventStream(ctx, cfg.Stream)
	wantStatus(t, "AuthEventStream of bob's stream by carol", err, client.SurfaceInfra, 409)

	// Ending Next's context ends the wait.
	short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	if _, err := s.NextEvent(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NextEvent past its deadline: %v", err)
	}
	if _, err := s.Next(ctx); err == nil {
		t.Fatal("Next after a cancelled wait: the stream should be closed")
	}
}
