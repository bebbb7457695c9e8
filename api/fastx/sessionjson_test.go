package fastx

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// checkSessionsJSON compares AppendSessionsJSON with json.Marshal.
func checkSessionsJSON(t *testing.T, ss []Session) {
	t.Helper()
	want, err := json.Marshal(ss)
	got, ok := AppendSessionsJSON([]byte("prefix"), ss)
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("AppendSessionsJSON lost what dst held: %q", got)
	}
	got = got[len("prefix"):]
	if err != nil {
		if ok {
			t.Fatalf("json.Marshal refuses %+v (%v), AppendSessionsJSON wrote %s", ss, err, got)
		}
		return
	}
	if ok && !bytes.Equal(got, want) {
		t.Fatalf("AppendSessionsJSON:\n%s\njson.Marshal:\n%s", got, want)
	}
	if !ok && len(got) != 0 {
		t.Fatalf("AppendSessionsJSON gave up but wrote %q", got)
	}
}

func TestAppendSessionsJSON(t *testing.T) {
	checkSessionsJSON(t, nil)
	checkSessionsJSON(t, []Session{})
	at := time.Date(2026, 12, 2, 5, 6, 7, 123456000, time.UTC)
	zone := time.FixedZone("x", 5*3600+30*60)
	odd := time.FixedZone("odd", 3600+7)
	strs := []string{"", "plain", "<b>&amp;</b>", "quote\" back\\slash", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"zürich ✓ 日本", "bad \xff\xfe utf8", "line\u2028para\u2029", "\xe2\x80", "emoji 😀"}
	times := []time.Time{{}, at, at.In(zone), time.Unix(0, 1).UTC(), at.In(odd), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return strs[rnd.IntN(len(strs))] }
	for range 2000 {
		var ss []Session
		for range rnd.IntN(4) {
			s := Session{AppPid: rnd.IntN(1 << 30), Clients: rnd.IntN(5) - 1, Command: pick(), CPUPercentage: rnd.IntN(100),
				DisconnectTimeout: -rnd.IntN(3), Display: pick(), Geometry: pick(), Hostname: pick(), ID: pick(), Login: pick(),
				ServerID: pick(), ServerPid: rnd.IntN(1 << 20), Sharing: rnd.IntN(2) == 0, Started: times[rnd.IntN(len(times))],
				VideoRAM: rnd.IntN(1 << 16), WindowMode: pick(), Name: pick(), State: pick(), Frozen: rnd.IntN(2) == 0}
			if rnd.IntN(2) == 0 {
				tm := times[rnd.IntN(len(times))]
				s.LastConnect = &tm
			}
			if rnd.IntN(2) == 0 {
				tm := times[rnd.IntN(len(times))]
				s.LastDisconnect = &tm
			}
			switch rnd.IntN(3) {
			case 0: // nil params
			case 1:
				s.Params = Params{}
			default:
				s.Params = Params{}
				for range rnd.IntN(20) {
					s.Params[pick()] = pick()
				}
			}
			ss = append(ss, s)
		}
		checkSessionsJSON(t, ss)
	}
	if _, ok := AppendSessionsJSON(nil, []Session{{Started: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}); ok {
		t.Error("a year past 9999 must be left to encoding/json (which refuses it)")
	}
}

// FuzzAppendSessionsJSON compares AppendSessionsJSON with json.Marshal on arbitrary text and times.
func FuzzAppendSessionsJSON(f *testing.F) {
	f.Add("id", "<cmd> & \"x\"", "k", "v\u2028", int64(1764651967123456789), 3600, 42)
	f.Add("\xff", "\x00", "", "", int64(0), 0, -1)
	f.Add("a", "b", "\xe2\x80\xa8", "\t", int64(-62135596800000000), 19800, 0)
	f.Fuzz(func(t *testing.T, id, command, key, value string, nanos int64, offset, pid int) {
		at := time.Unix(0, nanos).In(time.FixedZone("z", offset%(30*3600)))
		s := Session{ID: id, Command: command, Name: value, Login: key, AppPid: pid, Started: at, LastConnect: &at,
			Params: Params{key: value, value: id}}
		checkSessionsJSON(t, []Session{s, {}})
	})
}
