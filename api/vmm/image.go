package vmm

import "time"

// TypeImage is the JSON:API type of image resources.
const TypeImage = "image"

// ImageAttributes describe an image on an LXD server.
type ImageAttributes struct {
	ImageFingerprint string     `json:"image_fingerprint" doc:"SHA-256 fingerprint of the image"`
	ImageAliases     []string   `json:"image_aliases" doc:"aliases of the image"`
	ImageDescription string     `json:"image_description,omitempty" doc:"description of the image"`
	ImageArch        string     `json:"image_architecture" doc:"architecture (x86_64, aarch64…)"`
	ImageOS          string     `json:"image_os,omitempty" doc:"operating system (from the image properties)"`
	ImageRelease     string     `json:"image_release,omitempty" doc:"release (from the image properties)"`
	ImageType        string     `json:"image_type" doc:"\"container\" or \"virtual-machine\""`
	ImageSize        int64      `json:"image_size" doc:"size in bytes"`
	ImagePublic      bool       `json:"image_public" doc:"whether untrusted clients may download it"`
	ImageCreatedAt   time.Time  `json:"image_created_at" doc:"when the image was built"`
	ImageUploadedAt  time.Time  `json:"image_uploaded_at" doc:"when the image reached the server"`
	ImageExpiresAt   *time.Time `json:"image_expires_at,omitempty" doc:"when a cached image expires"`
	ServerID         int64      `json:"server_id" doc:"id of the server holding the image"`
	Provider         Provider   `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// ImageDeleteRequest is the body of image.delete.
type ImageDeleteRequest struct {
	ImageFingerprint string   `json:"image_fingerprint" required:"true" doc:"fingerprint of the image to remove"`
	Provider         Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID         int64    `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ImageDeleteRequest) Validate() error { return checkProvider(r.Provider) }

// ImageListRequest is the body of image.list (the images deskhub offers for the server).
type ImageListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID int64    `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ImageListRequest) Validate() error { return checkProvider(r.Provider) }

// ImageServerListRequest is the body of image.serverList (the images stored on the LXD server itself).
type ImageServerListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID int64    `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ImageServerListRequest) Validate() error { return checkProvider(r.Provider) }
