package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// simplestream.upload's multipart/form-data body: the part "payload" (JSON) comes first, then the part
// "file", which is streamed, never held in memory. Reading the file to its end also reads the end of
// the form, so that a body cut short anywhere fails the upload.

// maxPayloadPart bounds the payload part.
const maxPayloadPart = 64 << 10

// uploadForm is a multipart upload read up to its file.
type uploadForm struct {
	Payload  vmm.SimplestreamUploadPayload
	FileName string    // the file part's filename ("": none given)
	File     io.Reader // the file; io.EOF only once the form has ended properly
}

// readUploadForm reads the form up to the start of the file part. Its errors are 400s naming the
// member (the part) at fault.
func readUploadForm(body io.Reader, boundary string) (*uploadForm, error) {
	if boundary == "" {
		return nil, httpapi.BadRequest("", "a multipart/form-data body needs a boundary parameter in its Content-Type")
	}
	mr := multipart.NewReader(body, boundary)
	form := &uploadForm{}
	havePayload := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if !havePayload {
				return nil, httpapi.BadRequest("payload", `member "payload" is required (a form part before the file)`)
			}
			return nil, httpapi.BadRequest("file", `member "file" is required (a form part after the payload)`)
		}
		if err != nil {
			return nil, httpapi.BadRequest("", "malformed or incomplete multipart body: %v", err)
		}
		switch name := part.FormName(); name {
		case "payload":
			if havePayload {
				return nil, httpapi.BadRequest("payload", "the form has two payload parts")
			}
			b, err := io.ReadAll(io.LimitReader(part, maxPayloadPart+1))
			if err != nil {
				return nil, httpapi.BadRequest("payload", "cannot read the payload part: %v", err)
			}
			if len(b) > maxPayloadPart {
				return nil, httpapi.BadRequest("payload", "the payload part is larger than %d bytes", maxPayloadPart)
			}
			if err := decodePayload(b, &form.Payload); err != nil {
				return nil, err
			}
			havePayload = true
		case "file":
			if !havePayload {
				return nil, httpapi.BadRequest("payload", `member "payload" is required before the file: send the payload part first`)
			}
			form.FileName = part.FileName()
			form.File = &formFile{part: part, mr: mr}
			return form, nil
		default:
			return nil, httpapi.BadRequest(name, "unknown form part %q; this call takes payload and file", name)
		}
	}
}

// decodePayload decodes the payload part with the checks of a JSON body, naming members as
// "payload.<member>".
func decodePayload(b []byte, dst *vmm.SimplestreamUploadPayload) error {
	if !json.Valid(bytes.TrimSpace(b)) {
		return httpapi.BadRequest("payload", "the payload part is not JSON")
	}
	var wrapped struct {
		Payload *vmm.SimplestreamUploadPayload `json:"payload" required:"true"`
	}
	doc := append(append([]byte(`{"payload":`), bytes.TrimSpace(b)...), '}')
	if err := httpapi.DecodeJSON(doc, &wrapped, false); err != nil {
		return err
	}
	*dst = *wrapped.Payload
	return nil
}

// formFile is the file part; at its end it reads the end of the form.
type formFile struct {
	part *multipart.Part
	mr   *multipart.Reader
	done bool
}

func (f *formFile) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	n, err := f.part.Read(p)
	if !errors.Is(err, io.EOF) {
		return n, err
	}
	next, nerr := f.mr.NextPart()
	switch {
	case errors.Is(nerr, io.EOF):
		f.done = true
		return n, io.EOF
	case nerr != nil:
		return n, fmt.Errorf("the form does not end after the file: %w", nerr)
	default:
		return n, fmt.Errorf("the form has a part %q after the file; the file must be last", next.FormName())
	}
}
