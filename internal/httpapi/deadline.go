package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// BodyDeadline bounds how long a client may take to send a request body: a request that has one gets a
// read deadline of d from the moment its handler starts, lifted again once the body has been read to
// its end. A client trickling its body (one byte a second keeps a plain read waiting forever) meets the
// deadline: the read fails, the handler answers 408 and the connection is closed.
//
// http.Server.ReadTimeout cannot do this: it covers the whole request on every connection, so it would
// also cut websockets and long event streams. Those are left alone here: an upgrade request, or one
// without a body (event streams are GETs), gets no deadline — net/http already runs its background
// read (which notices a client going away, and cancels the request's context when it fails) for those,
// and a deadline would make it fail. After a body, the deadline must be gone before that read starts
// (net/http clears it there too). d <= 0 disables the deadline.
func BodyDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || isUpgrade(r) {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			h.ServeHTTP(w, r) // no connection under it (in-process tests)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, limit: d}
		h.ServeHTTP(w, r)
	})
}

// extendBodyDeadline gives the request's body (under BodyDeadline) the deadline d from now instead
// of the default (d < 0: none). Without BodyDeadline's wrapper there is no deadline to change.
func extendBodyDeadline(r *http.Request, d time.Duration) {
	b, ok := r.Body.(*deadlineBody)
	if !ok {
		return
	}
	at := time.Time{}
	if d > 0 {
		at = time.Now().Add(d)
	}
	if err := b.rc.SetReadDeadline(at); err == nil {
		b.limit = d
	}
}

// isUpgrade tells a protocol switch (websocket): it reads no body, and its connection outlives the
// request.
func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// deadlineBody lifts the read deadline when the body ends, and tells a missed deadline apart from
// other read errors.
type deadlineBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	limit time.Duration
	once  sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = &BodyTimeoutError{Limit: b.limit}
	}
	return n, err
}

// BodyTimeoutError is the read error of a request body that did not arrive within the limit.
type BodyTimeoutError struct{ Limit time.Duration }

func (e *BodyTimeoutError) Error() string {
	return "the request body did not arrive within " + e.Limit.String()
}

// Is lets errors.Is(err, os.ErrDeadlineExceeded) still hold.
func (e *BodyTimeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
