package security

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSlowBodiesAreCut: the probe that found no time limit on request bodies. Twenty connections send
// their headers and then trickle the body at one byte a second (before the fix, fifty such stayed open
// as long as the client liked). With --body-timeout 2s the server must answer and close each within
// the deadline (plus slack for this shared machine), whatever the path — a login that reads the body,
// a call that takes no parameters, an unknown path whose body nobody reads — while a normal request
// still answers at once.
func TestSlowBodiesAreCut(t *testing.T) {
	const deadline = 2 * time.Second
	s := startServer(t, newDataDir(t), "--body-timeout", deadline.String())
	paths := []string{"/v3/api/user/login", "/api/v1/user.login", "/api/v1/config.get", "/v3/api/no-such-call"}
	const conns = 20
	type outcome struct {
		path   string
		status string
		closed time.Duration
		err    error
	}
	results := make(chan outcome, conns)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer close(stop)
	for i := range conns {
		wg.Add(1)
		go func(path string) {
			defer wg.Done()
			status, closed, err := trickle(s.addr, path, stop)
			results <- outcome{path, status, closed, err}
		}(paths[i%len(paths)])
	}
	// While they trickle, a normal request answers promptly.
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	if status, m := s.call("/api/v1/config.get", "", map[string]any{}); status != 200 {
		t.Fatalf("config.get during the slow bodies: %d %v", status, m)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("config.get took %s during the slow bodies", took)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Errorf("%s: %v", r.path, r.err)
			continue
		}
		if r.closed > deadline+3*time.Second {
			t.Errorf("%s: connection closed after %s, want within %s (+3s slack)", r.path, r.closed, deadline)
		}
		if r.status != "" && !strings.Contains(r.status, " 408 ") && !strings.Contains(r.status, " 401 ") &&
			!strings.Contains(r.status, " 404 ") {
			t.Errorf("%s: answered %q", r.path, r.status)
		}
	}
}

// trickle sends a request's headers with a 64-byte body announced, then the body one byte a second,
// and answers the status line the server sent (if any) and when it closed the connection after the
// headers. It gives up after 15 s.
func trickle(addr, path string, stop <-chan struct{}) (string, time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	body := `{"username":"` + strings.Repeat("a", 64-len(`{"username":""}`)) + `"}`
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, addr, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		return "", 0, err
	}
	start := time.Now()
	go func() {
		for i := range len(body) {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(start.Add(15 * time.Second))
	rd := bufio.NewReader(conn)
	status, _ := rd.ReadString('\n')
	// The server closing shows as EOF, or as a reset when the trickled bytes were still unread there.
	if _, err := io.Copy(io.Discard, rd); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return "", 0, fmt.Errorf("connection still open after %s (status %q): %v", time.Since(start).Round(time.Millisecond), strings.TrimSpace(status), err)
	}
	return strings.TrimSpace(status), time.Since(start), nil
}
