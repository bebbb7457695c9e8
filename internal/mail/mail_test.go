package mail

import (
	"bufio"
	"context"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOutboxWritesEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o := &Outbox{Dir: dir, From: "deskhub@example.org"}
	if err := o.Send(context.Background(), Message{To: "ann@example.org", Subject: "Your code", Body: "line one\nline two"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	b, _ := os.ReadFile(files[0])
	msg, err := textproto.NewReader(bufio.NewReader(strings.NewReader(string(b)))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Get("To") != "ann@example.org" || msg.Get("Subject") != "Your code" || msg.Get("Message-Id") == "" {
		t.Fatalf("headers %v", msg)
	}
	if !strings.Contains(string(b), "\r\n\r\nline one\r\nline two\r\n") {
		t.Fatalf("body: %q", b)
	}
	if err := o.Send(context.Background(), Message{To: "not an address", Subject: "x"}); err == nil {
		t.Fatal("bad address accepted")
	}
	if err := o.Send(context.Background(), Message{To: "ann@example.org", Subject: "a\r\nBcc: evil@example.org"}); err == nil {
		t.Fatal("header injection through the subject accepted")
	}
}

// fakeSMTP is a minimal SMTP peer on loopback for one message (a unit-test stand-in; production mail
// goes to a real server).
func fakeSMTP(t *testing.T, starttls bool) (string, chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tp := textproto.NewConn(c)
		_ = tp.PrintfLine("220 fake ESMTP")
		var data strings.Builder
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
			case "EHLO", "HELO":
				if starttls {
					_ = tp.PrintfLine("250-fake\r\n250 STARTTLS")
				} else {
					_ = tp.PrintfLine("250 fake")
				}
			case "MAIL", "RCPT":
				data.WriteString(line + "\n")
				_ = tp.PrintfLine("250 ok")
			case "DATA":
				_ = tp.PrintfLine("354 go on")
				body, _ := tp.ReadDotLines()
				data.WriteString(strings.Join(body, "\n"))
				_ = tp.PrintfLine("250 queued")
			case "QUIT":
				_ = tp.PrintfLine("221 bye")
				got <- data.String()
				return
			default:
				_ = tp.PrintfLine("502 no")
			}
		}
	}()
	return ln.Addr().String(), got
}

func TestSMTPSends(t *testing.T) {
	addr, got := fakeSMTP(t, false)
	s := &SMTP{Addr: addr, From: "deskhub@example.org", AllowPlain: true}
	if err := s.Send(context.Background(), Message{To: "bo@example.org", Subject: "Hi", Body: "code"}); err != nil {
		t.Fatal(err)
	}
	out := <-got
	for _, want := range []string{"MAIL FROM:<deskhub@example.org>", "RCPT TO:<bo@example.org>", "Subject: Hi", "code"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
}

func TestSMTPRefusesPlainUnlessAllowed(t *testing.T) {
	addr, _ := fakeSMTP(t, false)
	s := &SMTP{Addr: addr, From: "deskhub@example.org"}
	err := s.Send(context.Background(), Message{To: "bo@example.org", Subject: "Hi", Body: "code"})
	if err == nil || !strings.Contains(err.Error(), "no STARTTLS") {
		t.Fatalf("got %v", err)
	}
}
