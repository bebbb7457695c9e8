package display

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSecretsSingleUse(t *testing.T) {
	s := NewSecrets(0, nil)
	g := Grant{SessionID: "s1", ViewOnly: true, UserID: 7, Label: "share:abc"}
	sec := s.Issue(g)
	if raw, err := base64.RawURLEncoding.DecodeString(sec); err != nil || len(raw) < 16 {
		t.Fatalf("secret %q: %d bytes, %v", sec, len(raw), err)
	}
	got, err := s.Redeem(sec)
	if err != nil || got != g {
		t.Fatalf("Redeem = %+v, %v", got, err)
	}
	if _, err := s.Redeem(sec); !errors.Is(err, ErrSecret) {
		t.Fatalf("second Redeem: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d after use", s.Len())
	}
}

func TestSecretsWrong(t *testing.T) {
	s := NewSecrets(time.Minute, nil)
	sec := s.Issue(Grant{SessionID: "s1"})
	last := sec[len(sec)-1]
	near := sec[:len(sec)-1] + string(map[bool]byte{true: 'A', false: 'B'}[last != 'A'])
	for _, bad := range []string{"", "x", near, sec + "A", sec[1:]} {
		if _, err := s.Redeem(bad); !errors.Is(err, ErrSecret) {
			t.Errorf("Redeem(%q) = %v", bad, err)
		}
	}
	if _, err := s.Redeem(sec); err != nil { // wrong guesses do not burn the real one
		t.Fatal(err)
	}
	// Only the hash is stored.
	s.Issue(Grant{SessionID: "s2"})
	for k, e := range s.m {
		if k != e.hash || len(k) != sha256.Size {
			t.Fatal("entry not keyed by its hash")
		}
	}
}

func TestSecretsExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s := NewSecrets(30*time.Second, clk.now)
	a, b := s.Issue(Grant{SessionID: "a"}), s.Issue(Grant{SessionID: "b"})
	clk.add(29 * time.Second)
	if g, err := s.Redeem(a); err != nil || g.SessionID != "a" {
		t.Fatalf("before expiry: %v", err)
	}
	clk.add(time.Second)
	if _, err := s.Redeem(b); !errors.Is(err, ErrSecret) {
		t.Fatalf("at expiry: %v", err)
	}
	s.Issue(Grant{})
	clk.add(time.Minute)
	s.Sweep()
	if s.Len() != 0 {
		t.Fatalf("Sweep left %d", s.Len())
	}
}

func TestSecretsConcurrentRedeemOneWinner(t *testing.T) {
	s := NewSecrets(0, nil)
	for range 50 {
		sec := s.Issue(Grant{SessionID: "s"})
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 20 {
			wg.Go(func() {
				<-start
				if _, err := s.Redeem(sec); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, ErrSecret) {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners", wins.Load())
		}
	}
}

func TestSecretsUnique(t *testing.T) {
	s := NewSecrets(0, nil)
	seen := map[string]bool{}
	for range 1000 {
		sec := s.Issue(Grant{})
		if seen[sec] {
			t.Fatal("duplicate secret")
		}
		seen[sec] = true
	}
}
