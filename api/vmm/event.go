package vmm

import (
	"encoding/json"
	"time"
)

// EventSubscribeRequest is the body (or, for a browser EventSource, the query string) of
// event.subscribe, which opens a server-sent event stream.
type EventSubscribeRequest struct {
	Stream string `json:"stream" required:"true" doc:"id of the stream (from config.get); it delivers events once bound with event.auth"`
}

// EventAuthRequest is the body of event.auth, which binds an open stream to the calling user.
type EventAuthRequest struct {
	Stream    string `json:"stream" required:"true" doc:"id of the stream to bind to the caller, within the stream's timeout"`
	RequestID string `json:"request_id,omitempty" doc:"client's id for this request: the stream then says it is bound with a message of type event.auth and this request_id (ui-vmm's panel sends one)"`
}

// Event is one message of the event stream (the data of a server-sent event).
type Event struct {
	Type       string          `json:"type" doc:"what happened, e.g. \"operation\", \"instance\", \"server\""`
	RequestID  string          `json:"request_id,omitempty" doc:"request_id of the call that caused it"`
	Status     string          `json:"status,omitempty" doc:"for operations: \"running\", \"success\" or \"failure\""`
	Error      string          `json:"error,omitempty" doc:"why an operation failed"`
	Resource   string          `json:"resource,omitempty" doc:"JSON:API type of the resource concerned"`
	ResourceID string          `json:"resource_id,omitempty" doc:"id of the resource concerned"`
	Data       json.RawMessage `json:"data,omitempty" doc:"the resource's attributes after the change"`
	Provider   Provider        `json:"provider,omitempty" doc:"\"lxd\" or \"internal\""`
	Time       time.Time       `json:"time" doc:"when it happened"`
}
