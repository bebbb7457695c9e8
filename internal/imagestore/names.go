package imagestore

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lxc/incus/v6/shared/osarch"

	"github.com/deskhub/deskhub/internal/fault"
)

// Every name that becomes part of a path on disk or in the simplestreams tree (os, release, arch,
// variant, serial, file name) is checked here; nothing else reaches the file system.

// DefaultVariant is the variant of a product added without one.
const DefaultVariant = "default"

const (
	maxPart  = 64  // os, release, arch, variant, serial
	maxName  = 128 // file names, aliases
	safeText = "letters, digits and . _ + ~ - (starting with a letter or digit)"
)

var (
	safePart  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`) })
	serialRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{8}([._+~:-][A-Za-z0-9._+~:-]*)?$`) })
	aliasPart = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`) })
)

// unsafe reports what makes v unusable as one path element, or "".
func unsafe(v string, max int) string {
	switch {
	case v == "":
		return "must not be empty"
	case strings.ContainsRune(v, 0):
		return "must not contain a NUL byte"
	case strings.Contains(v, "/"):
		return `must not contain "/"`
	case strings.Contains(v, ".."):
		return `must not contain ".."`
	case v[0] == '.':
		return "must not start with a dot"
	case len(v) > max:
		return fmt.Sprintf("is longer than %d characters", max)
	case !safePart().MatchString(v):
		return "may contain only " + safeText
	}
	return ""
}

// checkPart checks one part of a product id (os, release, arch, variant) named by member.
func checkPart(member, v string) error {
	if why := unsafe(v, maxPart); why != "" {
		return fault.Memberf(member, "%s", why)
	}
	return nil
}

// checkArch checks a product's architecture: a path part LXD and Incus know (amd64, x86_64, arm64,
// aarch64, …); LXD skips products whose architecture it cannot name.
func checkArch(member, v string) error {
	if err := checkPart(member, v); err != nil {
		return err
	}
	if _, err := osarch.ArchitectureID(v); err != nil {
		return fault.Memberf(member, "%q is not an architecture LXD knows (e.g. amd64, arm64, x86_64, aarch64, riscv64)", v)
	}
	return nil
}

// sameArch tells whether two architecture names (Debian's or the kernel's) are one architecture.
func sameArch(a, b string) bool {
	ia, err := osarch.ArchitectureID(a)
	if err != nil {
		return false
	}
	ib, err := osarch.ArchitectureID(b)
	return err == nil && ia == ib
}

// CheckSerial checks a version serial: a safe path element whose first 8 characters are the date as
// YYYYMMDD, optionally followed by a separator and more (20261201, 20261201_1200, 20261201_12:00).
// LXD and Incus read the version's date from those 8 characters and skip a version without them.
func CheckSerial(member, v string) error {
	const rule = "must start with the date as YYYYMMDD, optionally followed by _ and a time " +
		"(e.g. 20261201 or 20261201_1200): LXD and Incus skip versions whose serial does not"
	switch {
	case v == "" || strings.ContainsRune(v, 0) || strings.Contains(v, "/") || strings.Contains(v, ".."):
		if why := unsafe(v, maxPart); why != "" {
			return fault.Memberf(member, "%s", why)
		}
	case len(v) > maxPart:
		return fault.Memberf(member, "is longer than %d characters", maxPart)
	}
	if !serialRE().MatchString(v) {
		return fault.Memberf(member, "%s", rule)
	}
	if _, err := time.Parse("20060102", v[:8]); err != nil {
		return fault.Memberf(member, "%s (%q is not a date)", rule, v[:8])
	}
	return nil
}

// checkFileName checks the name an uploaded file is stored under.
func checkFileName(member, v string) error {
	if why := unsafe(v, maxName); why != "" {
		return fault.Memberf(member, "file name %q %s", v, why)
	}
	return nil
}

// ParseAliases splits and checks a comma-separated alias list: each alias is one or more safe
// elements separated by "/" (debian/12/desktop), none listed twice. Spaces around entries are
// dropped.
func ParseAliases(member, list string) ([]string, error) {
	out := []string{}
	if strings.TrimSpace(list) == "" {
		return out, nil
	}
	seen := map[string]bool{}
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if err := checkAlias(member, a); err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, fault.Memberf(member, "lists alias %q twice", a)
		}
		seen[a] = true
		out = append(out, a)
	}
	return out, nil
}

func checkAlias(member, a string) error {
	switch {
	case a == "":
		return fault.Memberf(member, "has an empty alias (a stray comma?)")
	case len(a) > maxName:
		return fault.Memberf(member, "has an alias longer than %d characters", maxName)
	case strings.ContainsRune(a, 0):
		return fault.Memberf(member, "has an alias with a NUL byte")
	}
	for _, p := range strings.Split(a, "/") {
		if p == "" || strings.Contains(p, "..") || !aliasPart().MatchString(p) {
			return fault.Memberf(member, "alias %q: want elements of %s separated by single slashes, no \"..\"", a, safeText)
		}
	}
	return nil
}

// ProductID is the id of a product: os:release:arch:variant.
func ProductID(os, release, arch, variant string) string {
	return os + ":" + release + ":" + arch + ":" + variant
}

// splitProductID checks a product id given by a client and answers its parts.
func splitProductID(member, id string) ([4]string, error) {
	var parts [4]string
	fields := strings.Split(id, ":")
	if len(fields) != 4 {
		return parts, fault.Memberf(member, "%q is not a product id (os:release:arch:variant)", id)
	}
	for i, f := range fields {
		if why := unsafe(f, maxPart); why != "" {
			return parts, fault.Memberf(member, "%q is not a product id: %s %s", id, []string{"os", "release", "arch", "variant"}[i], why)
		}
		parts[i] = f
	}
	return parts, nil
}
