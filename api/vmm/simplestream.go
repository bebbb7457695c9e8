package vmm

import (
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// Types of the simplestreams image server's resources.
const (
	TypeSimplestreamProduct = "simplestream-product"
	TypeSimplestreamImage   = "simplestream-image"
)

// SimplestreamProductAttributes describe a product of deskhub's simplestreams image server (an image
// line such as "debian:bookworm:amd64:desktop").
type SimplestreamProductAttributes struct {
	ProductID           string    `json:"product_id" doc:"product id (os:release:arch:variant)"`
	ProductAliases      string    `json:"product_aliases" doc:"comma-separated aliases LXD clients can launch it by"`
	ProductArch         string    `json:"product_arch" doc:"architecture (amd64, arm64…)"`
	ProductOS           string    `json:"product_os" doc:"operating system"`
	ProductRelease      string    `json:"product_release" doc:"release"`
	ProductReleaseTitle string    `json:"product_release_title" doc:"human title of the release"`
	ProductVariant      string    `json:"product_variant" doc:"variant (e.g. desktop)"`
	ProductVersions     []string  `json:"product_versions" doc:"version serials uploaded so far"`
	ProductCreatedAt    time.Time `json:"product_created_at" doc:"when the product was added"`
	Provider            Provider  `json:"provider" doc:"always \"internal\""`
}

// SimplestreamImageAttributes describe one uploaded file of a product version.
type SimplestreamImageAttributes struct {
	ProductID            string    `json:"product_id" doc:"product the file belongs to"`
	ProductVersionSerial string    `json:"product_version_serial" doc:"version serial (e.g. 20250101_0000)"`
	FileName             string    `json:"file_name" doc:"file name"`
	FileType             string    `json:"file_type" doc:"simplestreams ftype: lxd.tar.xz, squashfs, disk-kvm.img…"`
	FileSize             int64     `json:"file_size" doc:"size in bytes"`
	FileSHA256           string    `json:"file_sha256" doc:"SHA-256 of the file"`
	FilePath             string    `json:"file_path" doc:"path of the file under the image server"`
	FileUploadedAt       time.Time `json:"file_uploaded_at" doc:"when the file was uploaded"`
	FileFingerprints     []string  `json:"file_fingerprints" doc:"LXD fingerprints of the images the file makes (deskhub extension): a unified tarball's sha256; for a split image's metadata, the combined hash with each root file uploaded so far; none for root files"`
	Provider             Provider  `json:"provider" doc:"always \"internal\""`
}

// SimplestreamAddRequest is the body of simplestream.add.
type SimplestreamAddRequest struct {
	ProductAliases      string `json:"product_aliases" doc:"comma-separated aliases LXD clients can launch it by"`
	ProductArch         string `json:"product_arch" required:"true" doc:"architecture (amd64, arm64…)"`
	ProductOS           string `json:"product_os" required:"true" doc:"operating system"`
	ProductRelease      string `json:"product_release" required:"true" doc:"release"`
	ProductReleaseTitle string `json:"product_release_title" doc:"human title of the release"`
	ProductVariant      string `json:"product_variant" doc:"variant (default: \"default\")"`
}

// Validate checks that the product id parts are not empty.
func (r *SimplestreamAddRequest) Validate() error {
	switch {
	case r.ProductArch == "":
		return field.Errorf("product_arch", "must not be empty")
	case r.ProductOS == "":
		return field.Errorf("product_os", "must not be empty")
	case r.ProductRelease == "":
		return field.Errorf("product_release", "must not be empty")
	}
	return nil
}

// SimplestreamUploadRequest is the body of simplestream.upload as JSON, for small files: file is
// base64. Large files go as multipart/form-data (SimplestreamUploadForm), streamed.
type SimplestreamUploadRequest struct {
	File    []byte                    `json:"file" required:"true" doc:"the image file, base64 (at most 64 MiB of JSON; larger files go as multipart/form-data)"`
	Payload SimplestreamUploadPayload `json:"payload" required:"true" doc:"which product version the file belongs to"`
}

// SimplestreamUploadForm is simplestream.upload as multipart/form-data: the part "payload" (JSON, and
// first), then the part "file" with the file, whose name (the part's filename) it is stored under.
type SimplestreamUploadForm struct {
	Payload SimplestreamUploadPayload `json:"payload" required:"true" doc:"which product version the file belongs to (a JSON part, before the file)"`
	File    []byte                    `json:"file" required:"true" format:"binary" doc:"the image file (its part's filename names it; default: after its type)"`
}

// SimplestreamUploadPayload names the product version an uploaded file belongs to.
type SimplestreamUploadPayload struct {
	ProductID            string `json:"product_id" required:"true" doc:"product id (from simplestream.add)"`
	ProductVersionSerial string `json:"product_version_serial" required:"true" doc:"version serial: the date as YYYYMMDD first, e.g. 20261201 or 20261201_1200 (LXD skips other versions)"`
	FileSHA256           string `json:"file_sha256,omitempty" doc:"SHA-256 of the file, hex (deskhub extension): if given and the file's differs, nothing is stored (400)"`
}
