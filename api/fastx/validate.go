package fastx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/deskhub/deskhub/api/field"
)

// Rootless is the geometry of sessions without a desktop: each window is its own browser window.
const Rootless = "rootless"

// Bounds of a session's geometry in pixels.
const (
	MinGeometry = 64
	MaxGeometry = 16384
)

// ParseGeometry parses "WIDTHxHEIGHT" (decimal, no sign, no leading zeros, each within
// [MinGeometry, MaxGeometry]) or "rootless" (rootless true, width and height 0).
func ParseGeometry(s string) (width, height int, rootless bool, err error) {
	if s == Rootless {
		return 0, 0, true, nil
	}
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, false, fmt.Errorf("must be WIDTHxHEIGHT (e.g. 1280x800) or %q, not %q", Rootless, s)
	}
	if width, err = geometryPart(ws, "width"); err != nil {
		return 0, 0, false, err
	}
	if height, err = geometryPart(hs, "height"); err != nil {
		return 0, 0, false, err
	}
	return width, height, false, nil
}

func geometryPart(s, what string) (int, error) {
	if s == "" || len(s) > 5 || (s[0] == '0') {
		return 0, fmt.Errorf("has a malformed %s %q: want a whole number from %d to %d", what, s, MinGeometry, MaxGeometry)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("has a malformed %s %q: want a whole number from %d to %d", what, s, MinGeometry, MaxGeometry)
		}
	}
	n, _ := strconv.Atoi(s)
	if n < MinGeometry || n > MaxGeometry {
		return 0, fmt.Errorf("has %s %d out of range: want %d to %d", what, n, MinGeometry, MaxGeometry)
	}
	return n, nil
}

// checkGeometry validates an optional geometry member ("" means the default).
func checkGeometry(member, s string) error {
	if s == "" {
		return nil
	}
	if _, _, _, err := ParseGeometry(s); err != nil {
		return field.Wrap(member, err)
	}
	return nil
}

// checkParams rejects parameter keys that are empty or absurdly long.
func checkParams(member string, p Params) error {
	for k, v := range p {
		if k == "" {
			return field.Errorf(member, "has an empty key")
		}
		if len(k) > 256 || len(v) > 4096 {
			return field.Errorf(member, "key %.40q is too long (keys ≤ 256 bytes, values ≤ 4096)", k)
		}
	}
	return nil
}

// ParseFilter splits a session/list filter "name==value1,value2" into the member name and its values
// (values OR, filters AND).
func ParseFilter(f string) (name string, values []string, err error) {
	name, list, ok := strings.Cut(f, "==")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("filter %q must look like name==value1,value2", f)
	}
	return name, strings.Split(list, ","), nil
}
