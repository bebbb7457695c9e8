package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// deskhub's simplestreams image server: products (simplestream.add, .list), their files
// (simplestream.upload, .images). LXD and Incus read the images at <server>/simplestreams (or
// <server>/api/v1/simplestream.list, the URL ui-vmm gives them).

// SimplestreamList lists the products of the image server (GET simplestream.list; no token needed).
func (c *Client) SimplestreamList(ctx context.Context) (jsonapi.Many[vmm.SimplestreamProductAttributes], error) {
	return infraGet[jsonapi.Many[vmm.SimplestreamProductAttributes]](ctx, c, "simplestream.list")
}

// SimplestreamImages lists the image files of the image server (GET simplestream.images; no token
// needed).
func (c *Client) SimplestreamImages(ctx context.Context) (jsonapi.Many[vmm.SimplestreamImageAttributes], error) {
	return infraGet[jsonapi.Many[vmm.SimplestreamImageAttributes]](ctx, c, "simplestream.images")
}

// SimplestreamAdd adds a product (simplestream.add; administrators).
func (c *Client) SimplestreamAdd(ctx context.Context, req vmm.SimplestreamAddRequest) (jsonapi.One[vmm.SimplestreamProductAttributes], error) {
	return infraCall[jsonapi.One[vmm.SimplestreamProductAttributes]](ctx, c, "simplestream.add", req)
}

// SimplestreamUpload uploads a small image file of a product version (simplestream.upload with the
// file base64 in a JSON body, held in memory; the server takes up to 64 MiB so). Images go with
// SimplestreamUploadFile.
func (c *Client) SimplestreamUpload(ctx context.Context, req vmm.SimplestreamUploadRequest) (jsonapi.One[vmm.SimplestreamImageAttributes], error) {
	return infraCall[jsonapi.One[vmm.SimplestreamImageAttributes]](ctx, c, "simplestream.upload", req)
}

// SimplestreamUploadFile uploads an image file of a product version (simplestream.upload;
// administrators) as multipart/form-data: the payload part, then the file part named fileName ("":
// the server names it after its type), streamed from r without buffering. size is r's length, sent
// as the Content-Length (-1: unknown, the body goes chunked); r must give exactly size bytes.
func (c *Client) SimplestreamUploadFile(ctx context.Context, payload vmm.SimplestreamUploadPayload, fileName string, r io.Reader, size int64) (jsonapi.One[vmm.SimplestreamImageAttributes], error) {
	var out jsonapi.One[vmm.SimplestreamImageAttributes]
	// The form's head (the payload part and the file part's header) and tail (the closing boundary)
	// are small and written first; the file streams between them.
	var head, tail bytes.Buffer
	sw := &switchWriter{w: &head}
	mw := multipart.NewWriter(sw)
	ph := textproto.MIMEHeader{}
	ph.Set("Content-Disposition", `form-data; name="payload"`)
	ph.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(ph)
	if err != nil {
		return out, err
	}
	if err := json.NewEncoder(pw).Encode(payload); err != nil {
		return out, err
	}
	if _, err := mw.CreateFormFile("file", fileName); err != nil {
		return out, err
	}
	sw.w = &tail
	if err := mw.Close(); err != nil {
		return out, err
	}
	n := int64(-1)
	if size >= 0 {
		n = int64(head.Len()) + size + int64(tail.Len())
	}
	req := request{method: http.MethodPost, path: "/api/v1/simplestream.upload", stream: io.MultiReader(&head, r, &tail),
		streamType: mw.FormDataContentType(), streamLen: n}
	err = c.call(ctx, req, func(resp *http.Response, body []byte) error {
		if resp.StatusCode/100 == 2 {
			return json.Unmarshal(body, &out)
		}
		return infraError(resp, body)
	})
	return out, err
}

// switchWriter writes to w, which may change between writes.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// infraGet is infraCall for the seed's GET actions.
func infraGet[T any](ctx context.Context, c *Client, action string) (T, error) {
	return infraDo[T](ctx, c, http.MethodGet, action, nil)
}
