// Package mail sends deskhub's messages (one-time codes for registration, recovery, e-mail and
// password-lock changes): over SMTP when configured, otherwise into an outbox directory as .eml files.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one plain-text mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Render writes m as an RFC 5322 message from from.
func Render(from string, m Message, now time.Time) ([]byte, error) {
	for _, addr := range []string{from, m.To} {
		if _, err := mail.ParseAddress(addr); err != nil {
			return nil, fmt.Errorf("mail: bad address %q: %w", addr, err)
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("mail: subject contains a line break")
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := from[strings.LastIndex(from, "@")+1:]
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n",
		from, m.To, mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z), hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	if !strings.HasSuffix(m.Body, "\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// Outbox writes each message as a .eml file in Dir (the embedded default: no mail server needed; an
// operator or a test reads the files).
type Outbox struct {
	Dir  string
	From string
	Log  *slog.Logger
}

// Send writes the message to a new file <time>-<random>.eml, atomically (temp file + rename).
func (o *Outbox) Send(_ context.Context, m Message) error {
	raw, err := Render(o.From, m, time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := fmt.Sprintf("%s-%s.eml", time.Now().UTC().Format("20060102T150405.000000000Z"), hex.EncodeToString(r[:]))
	tmp, err := os.CreateTemp(o.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("mail outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	path := filepath.Join(o.Dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	if o.Log != nil {
		o.Log.Info("mail written to the outbox", "to", m.To, "subject", m.Subject, "file", path)
	}
	return nil
}

// SMTP sends through a mail server with STARTTLS when the server offers it (required unless
// AllowPlain), and PLAIN authentication when Username is set.
type SMTP struct {
	Addr       string // host:port
	From       string
	Username   string
	Password   string
	AllowPlain bool // permit sending without TLS (a local relay)
	Timeout    time.Duration
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	raw, err := Render(s.From, m, time.Now())
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp %s: starttls: %w", s.Addr, err)
		}
	} else if !s.AllowPlain {
		return fmt.Errorf("smtp %s: server offers no STARTTLS (set the plain-SMTP option for a trusted local relay)", s.Addr)
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("smtp %s: auth: %w", s.Addr, err)
		}
	}
	to, _ := mail.ParseAddress(m.To)
	from, _ := mail.ParseAddress(s.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", s.Addr, err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("smtp %s: RCPT TO: %w", s.Addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", s.Addr, err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	return c.Quit()
}
