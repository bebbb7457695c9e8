package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
)

// TestAddInstanceSendsProfilesArray: without profiles, instance.add sends [] (the document does not
// allow null).
func TestAddInstanceSendsProfilesArray(t *testing.T) {
	var body map[string]json.RawMessage
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/vnd.api+json")
		_, _ = w.Write([]byte(`{"data":{"type":"operation","id":"1","attributes":{}}}`))
	}))
	defer ts.Close()
	c, err := client.New(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddInstance(context.Background(), vmm.InstanceAddRequest{ServerID: 1, InstanceName: "a", ImageAlias: "x", Provider: vmm.ProviderLXD}); err != nil {
		t.Fatal(err)
	}
	if string(body["instance_profiles"]) != "[]" {
		t.Fatalf("instance_profiles %s, want []", body["instance_profiles"])
	}
}
