package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawRequest opens a connection to srv, sends head, then the body one byte every pause (pause 0: all
// at once), and answers the status line the server sent and how long after the head it came (or the
// connection closed).
func rawRequest(t *testing.T, addr, head, body string, pause time.Duration) (string, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	go func() {
		for i := range len(body) {
			if pause > 0 {
				time.Sleep(pause)
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), time.Since(start)
}

func TestBodyDeadline(t *testing.T) {
	var calls atomic.Int64
	m, _ := testMux(t, &calls)
	var ctxErr atomic.Value
	m.HandleFunc("POST /slow-after-body", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		time.Sleep(600 * time.Millisecond) // longer than the deadline: it must have been lifted
		ctxErr.Store(fmt.Sprint(r.Context().Err()))
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(600 * time.Millisecond) // a bodiless request (event stream) has no deadline at all
		ctxErr.Store(fmt.Sprint(r.Context().Err()))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(BodyDeadline(m, 300*time.Millisecond))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	post := func(path string, n int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, n)
	}
	body := `{"name":"trickle"}`
	for _, tc := range []struct {
		name, head, body string
		pause            time.Duration
		status           string
		within           time.Duration
		ctx              string
	}{
		{"trickled body is cut at the deadline", post("/api/v1/echo.do", len(body)), body, 100 * time.Millisecond, "408", 2 * time.Second, ""},
		{"prompt body answers", post("/api/v1/echo.do", len(body)), body, 0, "200", time.Second, ""},
		{"deadline lifted once the body is read", post("/slow-after-body", 2), "{}", 0, "204", 2 * time.Second, "<nil>"},
		{"bodiless request has no deadline", "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", "", 0, "204", 2 * time.Second, "<nil>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctxErr.Store("")
			line, took := rawRequest(t, addr, tc.head, tc.body, tc.pause)
			if !strings.Contains(line, " "+tc.status+" ") {
				t.Fatalf("status line %q, want %s", line, tc.status)
			}
			if took > tc.within {
				t.Fatalf("answered after %s, want within %s", took, tc.within)
			}
			if got := ctxErr.Load(); tc.ctx != "" && got != tc.ctx {
				t.Fatalf("request context after the body: %v, want %s", got, tc.ctx)
			}
		})
	}
}

func TestBodyDeadlineSkipsUpgrades(t *testing.T) {
	r := httptest.NewRequest("GET", "/ws", strings.NewReader("x"))
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Upgrade", "websocket")
	if !isUpgrade(r) {
		t.Fatal("a websocket upgrade is not recognised")
	}
	r.Header.Del("Upgrade")
	if isUpgrade(r) {
		t.Fatal("a plain request is taken for an upgrade")
	}
}

// TestBufferBody: a raw route (a proxy) that buffers its body first refuses an oversized one with a 413
// before doing anything, and otherwise finds the whole body again, with its length.
func TestBufferBody(t *testing.T) {
	var ran atomic.Int64
	m := NewMux(Options{MaxBody: 1024}, []Route{{Surface: Agent, Methods: []string{"POST"}, Path: "/spawner/{id}/launch",
		Op: RawAs(nil, nil, func(c *Call) error {
			if err := BufferBody(c); err != nil {
				return err
			}
			ran.Add(1)
			b, _ := io.ReadAll(c.R.Body)
			if int64(len(b)) != c.R.ContentLength {
				return fmt.Errorf("read %d bytes, Content-Length %d", len(b), c.R.ContentLength)
			}
			WriteResult(c.W, Agent, http.StatusOK, len(b))
			return nil
		})}})
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		status  int
	}{
		{"small", `{"x":1}`, false, 200},
		{"empty", "", false, 200},
		{"at the limit", strings.Repeat("x", 1024), false, 200},
		{"over the limit", strings.Repeat("x", 2<<20), false, 413},
		{"over the limit, chunked", strings.Repeat("x", 2<<20), true, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ran.Load()
			r := httptest.NewRequest("POST", "/spawner/s1/launch", strings.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
				r.TransferEncoding = []string{"chunked"}
			}
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 200 && ran.Load() != before {
				t.Fatal("the handler went on after a refused body")
			}
		})
	}
}

// TestRouteBodyLimits: a route with its own body limit and deadline (an upload) takes a body larger
// than the mux's limit and slower than the default deadline, once its caller is authenticated; other
// routes keep the defaults; HandleRaw answers errors in the surface's envelope.
func TestRouteBodyLimits(t *testing.T) {
	upload := FormOp[Empty, Empty, int](func(c *Call) (int, error) {
		b, err := io.ReadAll(c.R.Body)
		if err != nil {
			return 0, err
		}
		return len(b), nil
	})
	m := NewMux(Options{MaxBody: 16, Auth: fakeAuth{}}, []Route{
		{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/up.load", Access: User, Op: upload, MaxBody: 64, BodyTimeout: 2 * time.Second},
		{Surface: Infra, Methods: []string{"POST"}, Path: "/api/v1/small.load", Access: User, Op: upload},
	})
	m.HandleRaw("GET /raw/", Infra, "raw", func(w http.ResponseWriter, r *http.Request) error {
		return NotFound("nothing at %s", r.URL.Path)
	})
	srv := httptest.NewServer(BodyDeadline(m, 300*time.Millisecond))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	post := func(path string, n int, token string) string {
		auth := ""
		if token != "" {
			auth = "Authorization: Bearer " + token + "\r\n"
		}
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", path, auth, n)
	}
	body40 := strings.Repeat("x", 40)
	for _, tc := range []struct {
		name, head, body string
		pause            time.Duration
		status           string
	}{
		{"larger than the mux's limit, within the route's", post("/api/v1/up.load", 40, "user"), body40, 0, "200"},
		{"over the route's limit", post("/api/v1/up.load", 80, "user"), strings.Repeat("x", 80), 0, "413"},
		{"the mux's limit elsewhere", post("/api/v1/small.load", 40, "user"), body40, 0, "413"},
		{"slower than the default deadline, within the route's", post("/api/v1/up.load", 8, "user"), "12345678", 100 * time.Millisecond, "200"},
		{"the default deadline elsewhere", post("/api/v1/small.load", 8, "user"), "12345678", 100 * time.Millisecond, "408"},
		{"no longer deadline before authentication", post("/api/v1/up.load", 8, ""), "12345678", 100 * time.Millisecond, "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, _ := rawRequest(t, addr, tc.head, tc.body, tc.pause)
			if !strings.Contains(line, " "+tc.status+" ") {
				t.Fatalf("status line %q, want %s", line, tc.status)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/raw/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"errors"`) || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("HandleRaw: %d %s", resp.StatusCode, b)
	}
}
