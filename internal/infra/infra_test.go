package infra

import (
	"encoding/json"
	"testing"
)

func TestSourceName(t *testing.T) {
	for src, want := range map[string]string{
		"/1.0/instances/c1":                  "c1",
		"/1.0/instances/c1?project=p":        "c1",
		"/1.0/instances/dh%2Done/":           "dh-one",
		"/1.0/instances/c1/snapshots/s1":     "s1",
		"":                                   "",
		"/1.0/storage-pools/default/volumes": "volumes",
	} {
		if got := sourceName(src); got != want {
			t.Errorf("sourceName(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestParseProfileBody(t *testing.T) {
	pb, err := parseProfileBody("description: d\nconfig:\n  limits.cpu: \"2\"\ndevices:\n  root:\n    type: disk\n    path: /\n    pool: default\nname: p\nused_by: []\n")
	if err != nil || *pb.Description != "d" || pb.Config["limits.cpu"] != "2" || pb.Devices["root"]["pool"] != "default" {
		t.Fatalf("parseProfileBody = %+v, %v", pb, err)
	}
	if pb, err := parseProfileBody(`{"config": {"a": "b"}}`); err != nil || pb.Config["a"] != "b" || pb.Description != nil {
		t.Fatalf("JSON body: %+v, %v", pb, err)
	}
	laughs := "config: &a {x: y}\ndevices: &b {d: *a}\n" + "description: [*b, *b, *b, *b, *b, *b, *b, *b]\n"
	for _, bad := range []string{"", "  ", "config: [", "unknown: 1", "config: {}\n---\nconfig: {}\n", "config: 5", "devices:\n  d: 1\n", laughs} {
		if _, err := parseProfileBody(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzParseProfileBody: profile.update's body is untrusted YAML; whatever it is, parsing returns (no
// panic, no hang) and an accepted body round-trips through JSON.
func FuzzParseProfileBody(f *testing.F) {
	for _, s := range []string{"config: {}", "description: x\ndevices:\n  r:\n    type: disk\n", "a: &a [*a]", "{}", "- 1", "config: !!binary aGk="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		pb, err := parseProfileBody(body)
		if err != nil {
			return
		}
		if _, err := json.Marshal(pb); err != nil {
			t.Fatalf("accepted body does not marshal: %v", err)
		}
	})
}
