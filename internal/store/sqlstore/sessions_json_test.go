package sqlstore

import (
	"encoding/json"
	"maps"
	"testing"
)

// FuzzFlatStringMap checks flatStringMap against encoding/json: whatever it accepts, json.Unmarshal
// reads to the same map, and the texts deskhub writes (json.Marshal of a string map) are accepted
// when they need no escapes.
func FuzzFlatStringMap(f *testing.F) {
	for _, s := range []string{`{}`, `{"project":"p1","team":"t2"}`, `{"a":""}`, `{"":"x"}`, `{"a":"b",}`,
		`{"a":"b"}x`, `{"a":1}`, `{"a":"\u00e9"}`, `{"a":"é"}`, "{\"a\":\"\xff\"}", `{ "a":"b"}`, `{"a":"b","a":"c"}`,
		`{"a"}`, `{"a":"b"`, `{"a":"<&>"}`, "{\"a\":\"\t\"}", `{"a":"b""c":"d"}`, `null`, `{"a":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := flatStringMap(s)
		var want map[string]string
		err := json.Unmarshal([]byte(s), &want)
		if ok {
			if err != nil {
				t.Fatalf("flatStringMap accepted %q, json.Unmarshal refuses it: %v", s, err)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("flatStringMap(%q) = %v, json.Unmarshal reads %v", s, got, want)
			}
		}
		// Round trip: the text of the map json.Unmarshal read is accepted when it has no escapes.
		if err == nil && want != nil {
			b, _ := json.Marshal(want)
			m2, ok2 := flatStringMap(string(b))
			if ok2 && !maps.Equal(m2, want) {
				t.Fatalf("flatStringMap(%s) = %v, want %v", b, m2, want)
			}
		}
	})
}

func TestFlatStringMapTakesDeskhubText(t *testing.T) {
	in := map[string]string{"project": "p1", "team": "t2", "empty": "", "utf8": "zürich ✓"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := flatStringMap(string(b))
	if !ok || !maps.Equal(got, in) {
		t.Fatalf("flatStringMap(%s) = %v, %v", b, got, ok)
	}
	for _, s := range []string{`{"a":"\"q\""}`, `{"a":1}`, `{ "a":"b"}`, "{\"a\":\"\xff\"}"} {
		if _, ok := flatStringMap(s); ok {
			t.Errorf("flatStringMap(%q) accepted: it is for encoding/json", s)
		}
	}
}
