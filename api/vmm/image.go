package vmm

import "time"

// TypeImage is the JSON:API type of image resources.
const TypeImage = "image"

// ImageAttributes describe an image on an LXD server (or one an image server offers). Times that
// ui-vmm's panel shows are Unix seconds (0: never), as it reads them.
type ImageAttributes struct {
	ImageFingerprint  string    `json:"image_fingerprint" doc:"SHA-256 fingerprint of the image"`
	ImageAliases      []string  `json:"image_aliases" doc:"aliases of the image"`
	ImageDescription  string    `json:"image_description,omitempty" doc:"description of the image"`
	ImageArch         string    `json:"image_architecture" doc:"architecture (x86_64, aarch64…)"`
	ImageOS           string    `json:"image_os,omitempty" doc:"operating system (from the image properties)"`
	ImageRelease      string    `json:"image_release,omitempty" doc:"release (from the image properties)"`
	ImageType         string    `json:"image_type" doc:"\"container\" or \"virtual-machine\""`
	ImageInstanceType string    `json:"image_instance_type" doc:"the type again, as ui-vmm's panel reads it"`
	ImageSerial       string    `json:"image_serial" doc:"build serial of the image (from its properties; simplestreams images have one)"`
	ImageSize         int64     `json:"image_size" doc:"size in bytes"`
	ImagePublic       bool      `json:"image_public" doc:"whether untrusted clients may download it"`
	ImageCreatedAt    time.Time `json:"image_created_at" doc:"when the image was built"`
	ImageUploadedAt   time.Time `json:"image_uploaded_at" doc:"when the image reached the server"`
	ImageExpiresAt    int64     `json:"image_expires_at" doc:"when a cached image expires, in Unix seconds (0: never)"`
	ImageCached       bool      `json:"image_cached" doc:"a copy LXD keeps because an instance was created from a remote image server (it expires when unused)"`
	ImageLastUsedAt   int64     `json:"image_last_used_at" doc:"when an instance was last created from it, in Unix seconds (0: never)"`
	ServerID          int64     `json:"server_id" doc:"id of the server holding the image"`
	Provider          Provider  `json:"provider" doc:"\"lxd\" or \"internal\""`
}

// ImageDeleteRequest is the body of image.delete.
type ImageDeleteRequest struct {
	ImageFingerprint string   `json:"image_fingerprint" required:"true" doc:"fingerprint of the image to remove"`
	Provider         Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID         FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ImageDeleteRequest) Validate() error { return checkProvider(r.Provider) }

// ImageListRequest is the body of image.list: the images stored on an LXD server, or, with
// image_server_host, the images an image server offers for it (ui-vmm's panel sends the member).
type ImageListRequest struct {
	ImageServerHost string   `json:"image_server_host" doc:"empty: the images stored on the server; else the URL of an image server from image.serverList, whose images are listed"`
	Provider        Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID        FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ImageListRequest) Validate() error { return checkProvider(r.Provider) }

// ImageServerListRequest is the body of image.serverList: the image servers instances of the server can
// be created from (deskhub's own simplestreams server first, then those the operator configured).
type ImageServerListRequest struct {
	Provider Provider `json:"provider" required:"true" doc:"\"lxd\" or \"internal\""`
	ServerID FlexInt  `json:"server_id" required:"true" doc:"id of the server"`
}

// Validate checks the provider.
func (r *ImageServerListRequest) Validate() error { return checkProvider(r.Provider) }

// ImageServerAttributes describe an image server that image.serverList offers. The resources have
// type "image", as ui-vmm's panel reads them.
type ImageServerAttributes struct {
	ImageServerHost     string   `json:"image_server_host" doc:"URL of the image server (instance.add and image.list take it as image_server_host)"`
	ImageServerProtocol string   `json:"image_server_protocol" doc:"protocol LXD speaks to it: \"simplestreams\""`
	ImageServerName     string   `json:"image_server_name" doc:"short name (\"deskhub\" for deskhub's own)"`
	Provider            Provider `json:"provider" doc:"\"internal\" for deskhub's own image server, \"lxd\" for one the operator configured"`
}
