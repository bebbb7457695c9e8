package imagebuild

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// lxdArch maps Debian architecture names to the kernel's (LXD's) names.
var lxdArch = map[string]string{
	"amd64":   "x86_64",
	"arm64":   "aarch64",
	"armhf":   "armv7l",
	"armel":   "armv6l",
	"i386":    "i686",
	"ppc64el": "ppc64le",
	"s390x":   "s390x",
	"riscv64": "riscv64",
}

// DebianArch maps the kernel's machine name (uname -m, runtime's GOARCH is the Go name) to Debian's.
func DebianArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	}
	return goarch // amd64, arm64, s390x, riscv64 are the same
}

// Metadata is what metadata.yaml says about an image.
type Metadata struct {
	Arch         string // Debian name
	CreationDate int64  // unix seconds
	Suite        string
	Serial       string
	Version      string // of the deskhub binary
}

// Description is the image's description property.
func (m Metadata) Description() string {
	return fmt.Sprintf("Debian %s %s deskhub desktop (%s)", m.Suite, m.Arch, m.Serial)
}

// templates are LXD's templates/ of the image: file → template name and content. LXD renders them
// (pongo2) into the instance when it is created or copied.
var templates = []struct{ path, name, content string }{
	{"/etc/hostname", "hostname.tpl", "{{ instance.name }}\n"},
	{"/etc/hosts", "hosts.tpl", renderHosts("{{ instance.name }}")},
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's string syntax is a subset of it).
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// YAML renders metadata.yaml.
func (m Metadata) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "architecture: %s\n", yamlString(lxdArch[m.Arch]))
	fmt.Fprintf(&b, "creation_date: %d\n", m.CreationDate)
	props := map[string]string{
		"os":              "debian",
		"release":         m.Suite,
		"architecture":    m.Arch,
		"variant":         "desktop",
		"serial":          m.Serial,
		"description":     m.Description(),
		"deskhub.version": m.Version,
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("properties:\n")
	for _, k := range keys {
		if props[k] != "" { // deskhub.version when the binary does not say
			fmt.Fprintf(&b, "  %s: %s\n", yamlString(k), yamlString(props[k]))
		}
	}
	b.WriteString("templates:\n")
	for _, t := range templates {
		fmt.Fprintf(&b, "  %s:\n    when:\n      - create\n      - copy\n    template: %s\n", yamlString(t.path), yamlString(t.name))
	}
	return b.String()
}

// writeMetadata writes metadata.yaml and templates/ into dir (beside rootfs/).
func writeMetadata(dir string, m Metadata) error {
	if err := os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte(m.YAML()), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		return err
	}
	for _, t := range templates {
		if err := os.WriteFile(filepath.Join(dir, "templates", t.name), []byte(t.content), 0o644); err != nil {
			return err
		}
	}
	return nil
}
