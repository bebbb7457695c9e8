package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/vmm"
)

// TestPanelMessages: an operation's outcome with a request_id is followed by an unnamed event of the
// form ui-vmm's panel reads ({type: the call, request_id, body: JSON text}); a failure's body holds
// errors where the panel's handler reads them (body.errors.data.errors); other events get none;
// SendPanel queues one on a bound stream.
func TestPanelMessages(t *testing.T) {
	ts := newTestServer(t, Options{})
	c, id := ts.openAndBind(t, 7, false)
	data, _ := json.Marshal(map[string]any{"operation_id": "op-1", "kind": "instance.action"})
	ts.hub.Publish(vmm.Event{Type: "operation", RequestID: "r1", Status: vmm.OperationRunning, Data: data, Time: time.Now()}, Audience{Users: []int64{7}})
	ts.hub.Publish(vmm.Event{Type: "operation", RequestID: "r1", Status: vmm.OperationFailure, Error: "boom", Data: data, Time: time.Now()}, Audience{Users: []int64{7}})
	c.expect(t, "operation") // running: no panel message
	c.expect(t, "operation")
	ev := c.next(t)
	if ev.Name != "message" || ev.ID != "" {
		t.Fatalf("after the outcome: %+v", ev)
	}
	var m PanelMessage
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil || m.Type != "instance.action" || m.RequestID != "r1" {
		t.Fatalf("panel message: %s (%v)", ev.Data, err)
	}
	var body struct {
		Errors struct {
			Data struct {
				Errors []struct{ Detail string } `json:"errors"`
			} `json:"data"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(m.Body), &body); err != nil || len(body.Errors.Data.Errors) != 1 || body.Errors.Data.Errors[0].Detail != "boom" {
		t.Fatalf("failure body: %s (%v)", m.Body, err)
	}
	data2, _ := json.Marshal(map[string]any{"operation_id": "op-2", "kind": "instance.add"})
	ts.hub.Publish(vmm.Event{Type: "operation", RequestID: "r2", Status: vmm.OperationSuccess, Data: data2, Time: time.Now()}, Audience{Users: []int64{7}})
	c.expect(t, "operation")
	ev = c.next(t)
	_ = json.Unmarshal([]byte(ev.Data), &m)
	var ok struct {
		Data struct {
			Type, ID string
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(m.Body), &ok); err != nil || m.Type != "instance.add" || ok.Data.Type != "operation" || ok.Data.ID != "op-2" {
		t.Fatalf("success message: %s / %s (%v)", ev.Data, m.Body, err)
	}
	// Other events, and operations without a request_id, get no panel message.
	ts.hub.Publish(vmm.Event{Type: "instance", Status: "started", Time: time.Now()}, Audience{Users: []int64{7}})
	ts.hub.Publish(vmm.Event{Type: "operation", Status: vmm.OperationSuccess, Data: data2, Time: time.Now()}, Audience{Users: []int64{7}})
	c.expect(t, "instance")
	c.expect(t, "operation")
	if !ts.hub.SendPanel(id, PanelMessage{Type: "event.auth", RequestID: "r3", Body: `{"data":[]}`}) {
		t.Fatal("SendPanel on a bound stream failed")
	}
	if ev := c.next(t); ev.Name != "message" {
		t.Fatalf("SendPanel: %+v", ev)
	}
	if ts.hub.SendPanel("stream-unknown", PanelMessage{}) {
		t.Fatal("SendPanel on an unknown stream succeeded")
	}
}
