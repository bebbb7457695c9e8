package spawner

import (
	"encoding/base64"
	"path"
	"strings"

	"github.com/deskhub/deskhub/api/field"
)

// FilesPath is deskhub's addition to the surface: a file of the desktop user's home, read (GET
// ?path=…) or written (PUT, FilePut), for the web app's upload and download. The content travels as
// base64 inside the agent's JSON envelope.
const FilesPath = "/files"

// MaxFileSize bounds a file read or written through FilesPath, in bytes.
const MaxFileSize = 32 << 20

// FilesMaxBody is the body limit of PUT /files: MaxFileSize in base64, and the JSON around it.
const FilesMaxBody = MaxFileSize/3*4 + 1<<20

// FileGet is the query of GET /files.
type FileGet struct {
	Path string `json:"path" required:"true" doc:"the file, relative to the desktop user's home (e.g. Documents/report.pdf)"`
}

// Validate checks the path.
func (r *FileGet) Validate() error { return checkHomePath("path", r.Path) }

// FilePut is the body of PUT /files.
type FilePut struct {
	Path      string `json:"path" required:"true" doc:"the file to write, relative to the desktop user's home; its directory must exist"`
	Content   string `json:"content" required:"true" doc:"the file's bytes, base64 (standard alphabet, padded)"`
	Overwrite bool   `json:"overwrite,omitempty" doc:"replace an existing file (otherwise an existing file is a 409)"`
}

// Validate checks the path and the content.
func (r *FilePut) Validate() error {
	if err := checkHomePath("path", r.Path); err != nil {
		return err
	}
	if base64.StdEncoding.DecodedLen(len(r.Content)) > MaxFileSize+3 {
		return field.Errorf("content", "is larger than %d MiB", MaxFileSize>>20)
	}
	if _, err := base64.StdEncoding.DecodeString(r.Content); err != nil {
		return field.Errorf("content", "is not base64: %v", err)
	}
	return nil
}

// FileContent is the answer of GET /files.
type FileContent struct {
	Path    string `json:"path" doc:"the file, relative to the home"`
	Size    int64  `json:"size" doc:"size in bytes"`
	Mime    string `json:"mime" doc:"MIME type, from the file's name and first bytes"`
	Content string `json:"content" doc:"the file's bytes, base64"`
}

// FileWritten is the answer of PUT /files.
type FileWritten struct {
	Path string `json:"path" doc:"the file written, relative to the home"`
	Size int64  `json:"size" doc:"bytes written"`
}

// checkHomePath accepts a clean relative path inside the home: no leading slash, no "..", no empty or
// "." element. (The agent opens it through os.Root as well, which also refuses symlinks out of the home.)
func checkHomePath(member, p string) error {
	switch {
	case p == "" || len(p) > 4096:
		return field.Errorf(member, "must be a path of 1 to 4096 bytes")
	case strings.HasPrefix(p, "/"):
		return field.Errorf(member, "must be relative to the home, not %q", p)
	case path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." || strings.ContainsRune(p, 0):
		return field.Errorf(member, "must be a clean path inside the home, not %q", p)
	}
	return nil
}
