// Package mailtest is a mail.Sender for tests: it keeps the messages in memory and finds the one-time
// code (a UUID) of the last mail to an address.
package mailtest

import (
	"context"
	"regexp"
	"sync"
	"testing"

	"github.com/deskhub/deskhub/internal/mail"
)

// Mailer keeps every message it is given.
type Mailer struct {
	mu   sync.Mutex
	msgs []mail.Message
}

// Send implements mail.Sender.
func (m *Mailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// Messages answers a copy of the messages sent so far.
func (m *Mailer) Messages() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.msgs...)
}

// Count is how many messages went to addr.
func (m *Mailer) Count(addr string) int {
	n := 0
	for _, msg := range m.Messages() {
		if msg.To == addr {
			n++
		}
	}
	return n
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// Code returns the code of the last mail to addr that carries one, failing the test when none does.
func (m *Mailer) Code(t testing.TB, addr string) string {
	t.Helper()
	msgs := m.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == addr {
			if c := uuidRE.FindString(msgs[i].Body); c != "" {
				return c
			}
		}
	}
	t.Fatalf("no mail with a code to %s", addr)
	return ""
}
