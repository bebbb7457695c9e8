package agent

import (
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// fileRoutes are deskhub's additions for the web app's upload and download (spawner.FilesPath): a
// file of the home read or written, opened through os.Root so that neither ".." nor a symlink leads
// out of the home (and as the desktop's user, whose permissions apply).
func (a *Agent) fileRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Surface: httpapi.Agent, Methods: []string{http.MethodGet}, Path: spawner.FilesPath, Access: httpapi.Public, Tag: "files",
			Summary: "Read a file of the home (deskhub extension; base64 in the envelope)", Op: httpapi.Op(a.fileGet)},
		{Surface: httpapi.Agent, Methods: []string{http.MethodPut}, Path: spawner.FilesPath, Access: httpapi.Public, Tag: "files",
			Summary: "Write a file into the home (deskhub extension; base64 in the body)", Op: httpapi.Op(a.filePut), MaxBody: spawner.FilesMaxBody},
	}
}

func homeFileErr(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fault.NotFoundf("%s: no such file in the home (or its directory is missing)", p)
	case errors.Is(err, fs.ErrExist):
		return fault.Conflictf("%s exists already (set overwrite to replace it)", p)
	case errors.Is(err, fs.ErrPermission):
		return fault.New(fault.Forbidden, "%s: permission denied", p)
	}
	return fault.Memberf("path", "%s: %v", p, err)
}

func (a *Agent) fileGet(_ *httpapi.Call, r *spawner.FileGet) (spawner.FileContent, error) {
	root, err := os.OpenRoot(a.o.Home)
	if err != nil {
		return spawner.FileContent{}, err
	}
	defer root.Close()
	f, err := root.Open(r.Path)
	if err != nil {
		return spawner.FileContent{}, homeFileErr(r.Path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return spawner.FileContent{}, homeFileErr(r.Path, err)
	}
	if !st.Mode().IsRegular() {
		return spawner.FileContent{}, fault.Memberf("path", "%s is not a regular file", r.Path)
	}
	if st.Size() > spawner.MaxFileSize {
		return spawner.FileContent{}, fault.New(fault.TooLarge, "%s is larger than %d MiB", r.Path, spawner.MaxFileSize>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, spawner.MaxFileSize+1))
	if err != nil {
		return spawner.FileContent{}, homeFileErr(r.Path, err)
	}
	mime := "application/octet-stream"
	if m, err := a.mime(); err == nil {
		if t, err := m.TypeOf(filepath.Join(a.o.Home, r.Path)); err == nil && t != "" {
			mime = t
		}
	}
	return spawner.FileContent{Path: r.Path, Size: int64(len(b)), Mime: mime, Content: base64.StdEncoding.EncodeToString(b)}, nil
}

func (a *Agent) filePut(_ *httpapi.Call, r *spawner.FilePut) (spawner.FileWritten, error) {
	data, err := base64.StdEncoding.DecodeString(r.Content)
	if err != nil {
		return spawner.FileWritten{}, fault.Memberf("content", "is not base64: %v", err)
	}
	if len(data) > spawner.MaxFileSize {
		return spawner.FileWritten{}, fault.New(fault.TooLarge, "the file is larger than %d MiB", spawner.MaxFileSize>>20)
	}
	root, err := os.OpenRoot(a.o.Home)
	if err != nil {
		return spawner.FileWritten{}, err
	}
	defer root.Close()
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !r.Overwrite {
		flags |= os.O_EXCL
	}
	f, err := root.OpenFile(r.Path, flags, 0o644)
	if err != nil {
		return spawner.FileWritten{}, homeFileErr(r.Path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return spawner.FileWritten{}, homeFileErr(r.Path, err)
	}
	if err := f.Close(); err != nil {
		return spawner.FileWritten{}, homeFileErr(r.Path, err)
	}
	return spawner.FileWritten{Path: r.Path, Size: int64(len(data))}, nil
}
