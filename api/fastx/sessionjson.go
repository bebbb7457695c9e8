package fastx

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendSessionsJSON appends ss as JSON, byte for byte what encoding/json writes for it
// (json.Marshal(ss)), without reflection: session lists are the broker's largest and most frequent
// answers. ok is false when a member is one this encoder leaves to encoding/json (a time outside
// RFC 3339's years 0–9999 or with an offset that is not whole minutes, which json.Marshal refuses);
// dst is then returned as it came. FuzzAppendSessionsJSON compares it with json.Marshal.
func AppendSessionsJSON(dst []byte, ss []Session) ([]byte, bool) {
	if ss == nil {
		return append(dst, "null"...), true
	}
	n := len(dst)
	dst = append(dst, '[')
	for i := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendSession(dst, &ss[i]); !ok {
			return dst[:n], false
		}
	}
	return append(dst, ']'), true
}

func appendSession(b []byte, s *Session) ([]byte, bool) {
	var ok bool
	b = append(b, `{"appPid":`...)
	b = strconv.AppendInt(b, int64(s.AppPid), 10)
	b = append(b, `,"clients":`...)
	b = strconv.AppendInt(b, int64(s.Clients), 10)
	b = append(b, `,"command":`...)
	b = appendJSONString(b, s.Command)
	b = append(b, `,"cpuPercentage":`...)
	b = strconv.AppendInt(b, int64(s.CPUPercentage), 10)
	b = append(b, `,"disconnectTimeout":`...)
	b = strconv.AppendInt(b, int64(s.DisconnectTimeout), 10)
	b = append(b, `,"display":`...)
	b = appendJSONString(b, s.Display)
	b = append(b, `,"geometry":`...)
	b = appendJSONString(b, s.Geometry)
	b = append(b, `,"hostname":`...)
	b = appendJSONString(b, s.Hostname)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, s.ID)
	b = append(b, `,"lastConnect":`...)
	if b, ok = appendJSONTimePtr(b, s.LastConnect); !ok {
		return b, false
	}
	b = append(b, `,"lastDisconnect":`...)
	if b, ok = appendJSONTimePtr(b, s.LastDisconnect); !ok {
		return b, false
	}
	b = append(b, `,"login":`...)
	b = appendJSONString(b, s.Login)
	b = append(b, `,"params":`...)
	b = appendJSONStringMap(b, s.Params)
	b = append(b, `,"serverId":`...)
	b = appendJSONString(b, s.ServerID)
	b = append(b, `,"serverPid":`...)
	b = strconv.AppendInt(b, int64(s.ServerPid), 10)
	b = append(b, `,"sharing":`...)
	b = strconv.AppendBool(b, s.Sharing)
	b = append(b, `,"started":`...)
	if b, ok = appendJSONTime(b, s.Started); !ok {
		return b, false
	}
	b = append(b, `,"videoRam":`...)
	b = strconv.AppendInt(b, int64(s.VideoRAM), 10)
	b = append(b, `,"windowMode":`...)
	b = appendJSONString(b, s.WindowMode)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, s.Name)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, s.State)
	b = append(b, `,"frozen":`...)
	b = strconv.AppendBool(b, s.Frozen)
	return append(b, '}'), true
}

func appendJSONTimePtr(b []byte, t *time.Time) ([]byte, bool) {
	if t == nil {
		return append(b, "null"...), true
	}
	return appendJSONTime(b, *t)
}

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds, quoted) for the times it
// accepts.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// appendJSONStringMap is encoding/json's map[string]string: keys sorted, null for a nil map.
func appendJSONStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping (its default): '<', '>' and
// '&' as \u003c…, control characters escaped, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
