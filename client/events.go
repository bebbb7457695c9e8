package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// The infrastructure surface reports asynchronous outcomes (instance.add, instance.action, server
// state) on an event stream: server-sent events at event.subscribe?stream=<id>, which the stream's
// owner binds to their account with event.auth. The stream first says "open", then "bound" once
// bound, then one message per vmm.Event named after its type, and "close" with a reason when the
// server ends it (token revoked, shutdown).

// StreamMessage is one server-sent event.
type StreamMessage struct {
	Name string          // "open", "bound", "close", or the type of a vmm.Event
	ID   string          // sequence number of vmm.Event messages, "" for the others
	Data json.RawMessage // the message's JSON data
}

// EventStream is an open event stream. Close it when done.
type EventStream struct {
	c      *Client
	id     string
	body   io.ReadCloser
	rd     *bufio.Reader
	closed string // the reason of a "close" message, once read
}

// StreamClosedError is what NextEvent answers after the server ended the stream.
type StreamClosedError struct{ Reason string }

func (e *StreamClosedError) Error() string {
	return "client: event stream closed by the server: " + e.Reason
}

// Subscribe opens a fresh event stream (its id from config.get) and binds it to the client's account.
func (c *Client) Subscribe(ctx context.Context) (*EventStream, error) {
	cfg, err := c.InfraConfig(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.OpenEventStream(ctx, cfg.Stream)
	if err != nil {
		return nil, err
	}
	if err := c.AuthEventStream(ctx, s.id); err != nil {
		s.Close()
		return nil, err
	}
	for {
		m, err := s.Next(ctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		if m.Name == "bound" {
			return s, nil
		}
	}
}

// OpenEventStream opens the stream with the given id (event.subscribe, GET) and reads its "open"
// message; bind it with AuthEventStream within the server's bind timeout.
func (c *Client) OpenEventStream(ctx context.Context, stream string) (*EventStream, error) {
	// The stream outlives ctx (which bounds only this call): Next's context and Close end it.
	resp, err := c.send(context.WithoutCancel(ctx), request{method: http.MethodGet, path: "/api/v1/event.subscribe",
		query: url.Values{"stream": {stream}}, header: http.Header{"Accept": {"text/event-stream"}}})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, infraError(resp, body)
	}
	s := &EventStream{c: c, id: stream, body: resp.Body, rd: bufio.NewReader(resp.Body)}
	m, err := s.Next(ctx)
	if err == nil && m.Name != "open" {
		err = fmt.Errorf("client: event stream began with %q, not \"open\"", m.Name)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// AuthEventStream binds an open stream to the client's account (event.auth); the server then replays
// the outcomes the account missed.
func (c *Client) AuthEventStream(ctx context.Context, stream string) error {
	_, err := infraCall[jsonapi.Meta](ctx, c, "event.auth", vmm.EventAuthRequest{Stream: stream})
	return err
}

// ID is the stream's id.
func (s *EventStream) ID() string { return s.id }

// Next reads the next message, skipping heartbeats. Ending ctx while it waits closes the stream.
func (s *EventStream) Next(ctx context.Context) (StreamMessage, error) {
	stop := context.AfterFunc(ctx, func() { s.body.Close() })
	defer stop()
	var m StreamMessage
	var data []string
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return m, ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return m, io.EOF
			}
			return m, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if m.Name == "" && data == nil {
				continue // a heartbeat comment's blank line
			}
			if m.Name == "" {
				m.Name = "message"
			}
			m.Data = json.RawMessage(strings.Join(data, "\n"))
			if m.Name == "close" {
				var r struct {
					Reason string `json:"reason"`
				}
				_ = json.Unmarshal(m.Data, &r)
				s.closed = r.Reason
			}
			return m, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "event":
			m.Name = v
		case "id":
			m.ID = v
		case "data":
			data = append(data, v)
		}
	}
}

// NextEvent reads messages until the next vmm.Event. After a "close" message it answers
// *StreamClosedError.
func (s *EventStream) NextEvent(ctx context.Context) (vmm.Event, error) {
	for {
		if s.closed != "" {
			return vmm.Event{}, &StreamClosedError{Reason: s.closed}
		}
		m, err := s.Next(ctx)
		if err != nil {
			return vmm.Event{}, err
		}
		if m.ID == "" {
			continue
		}
		var ev vmm.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return ev, fmt.Errorf("client: decode event %s: %w", m.ID, err)
		}
		return ev, nil
	}
}

// Closed is the reason the server gave when it ended the stream, "" while it has not.
func (s *EventStream) Closed() string { return s.closed }

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
