package imagestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/imagestore"
	"github.com/deskhub/deskhub/internal/imagestore/imagetest"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

type env struct {
	t   *testing.T
	s   *imagestore.Service
	st  store.Store
	dir string
	now time.Time
}

func newEnv(t *testing.T, mod ...func(*imagestore.Options)) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, dir: filepath.Join(t.TempDir(), "images"), now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	opts := imagestore.Options{Store: st, Dir: e.dir, Now: func() time.Time { return e.now }}
	for _, f := range mod {
		f(&opts)
	}
	if e.s, err = imagestore.New(opts); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) product(os, release, arch, variant, aliases string) imagestore.Product {
	e.t.Helper()
	p, err := e.s.AddProduct(e.t.Context(), imagestore.ProductSpec{OS: os, Release: release, Arch: arch, Variant: variant,
		ReleaseTitle: release, Aliases: aliases})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) upload(productID, serial, name string, b []byte) (store.ImageFile, error) {
	return e.s.Upload(e.t.Context(), imagestore.Upload{ProductID: productID, Serial: serial, FileName: name,
		Body: bytes.NewReader(b), Size: int64(len(b))})
}

func (e *env) mustUpload(productID, serial, name string, b []byte) store.ImageFile {
	e.t.Helper()
	f, err := e.upload(productID, serial, name, b)
	if err != nil {
		e.t.Fatalf("upload %s %s %s: %v", productID, serial, name, err)
	}
	return f
}

// snapshot is the image directory's tree (paths and sizes) and the store's index.
type snapshot struct {
	Tree  map[string]int64
	Files []store.ImageFile
	Vers  []store.ImageVersion
}

func (e *env) snapshot() snapshot {
	e.t.Helper()
	s := snapshot{Tree: map[string]int64{}}
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(e.dir, p)
		if d.IsDir() {
			s.Tree[rel+"/"] = 0
		} else {
			s.Tree[rel] = fi.Size()
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if s.Files, err = e.st.ListImageFiles(e.t.Context(), ""); err != nil {
		e.t.Fatal(err)
	}
	if s.Vers, err = e.st.ListImageVersions(e.t.Context(), ""); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func wantFault(t *testing.T, err error, kind fault.Kind, member, text string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("got %v (%T), want a fault of kind %d", err, err, kind)
	}
	if f.Kind != kind || f.Field != member || !strings.Contains(f.Msg, text) {
		t.Fatalf("got kind %d member %q %q, want kind %d member %q with %q", f.Kind, f.Field, f.Msg, kind, member, text)
	}
}

func sum(b ...[]byte) string {
	h := sha256.New()
	for _, x := range b {
		h.Write(x)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestAddProduct(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	p := e.product("debian", "bookworm", "amd64", "", " debian/12 ,bookworm")
	if p.ID != "debian:bookworm:amd64:default" || p.Variant != "default" || !slices.Equal(p.Aliases, []string{"debian/12", "bookworm"}) {
		t.Fatalf("product %+v", p)
	}
	for _, tc := range []struct {
		spec         imagestore.ProductSpec
		member, text string
	}{
		{imagestore.ProductSpec{OS: "debian", Release: "a/b", Arch: "amd64"}, "product_release", `must not contain "/"`},
		{imagestore.ProductSpec{OS: "debian", Release: "..", Arch: "amd64"}, "product_release", `must not contain ".."`},
		{imagestore.ProductSpec{OS: "debian", Release: "x\x00", Arch: "amd64"}, "product_release", "NUL"},
		{imagestore.ProductSpec{OS: ".hidden", Release: "12", Arch: "amd64"}, "product_os", "must not start with a dot"},
		{imagestore.ProductSpec{OS: "debian", Release: "12", Arch: "amd64", Variant: "a b"}, "product_variant", "may contain only"},
		{imagestore.ProductSpec{OS: "deb:ian", Release: "12", Arch: "amd64"}, "product_os", "may contain only"},
		{imagestore.ProductSpec{OS: "debian", Release: "12", Arch: "z80"}, "product_arch", "not an architecture"},
		{imagestore.ProductSpec{OS: "debian", Release: "12", Arch: "../amd64"}, "product_arch", "must not"},
		{imagestore.ProductSpec{OS: "debian", Release: "12", Arch: "amd64", Aliases: "a,,b"}, "product_aliases", "empty alias"},
		{imagestore.ProductSpec{OS: "debian", Release: "12", Arch: "amd64", Aliases: "a/../b"}, "product_aliases", "alias"},
		{imagestore.ProductSpec{OS: "debian", Release: "12", Arch: "amd64", Aliases: "x,x"}, "product_aliases", "twice"},
	} {
		_, err := e.s.AddProduct(c, tc.spec)
		wantFault(t, err, fault.Invalid, tc.member, tc.text)
	}
	_, err := e.s.AddProduct(c, imagestore.ProductSpec{OS: "debian", Release: "bookworm", Arch: "amd64"})
	wantFault(t, err, fault.Conflict, "", "exists already")
	_, err = e.s.AddProduct(c, imagestore.ProductSpec{OS: "debian", Release: "bookworm", Arch: "arm64", Aliases: "other,debian/12"})
	wantFault(t, err, fault.Conflict, "", `alias "debian/12" belongs to product debian:bookworm:amd64:default`)

	list, err := e.s.Products(c)
	if err != nil || len(list) != 1 || list[0].ID != p.ID || len(list[0].Versions) != 0 {
		t.Fatalf("Products: %+v, %v", list, err)
	}
}

func TestCheckSerial(t *testing.T) {
	for _, ok := range []string{"20261201", "20261201_1200", "20261201_12:00", "20261201.1", "20240229"} {
		if err := imagestore.CheckSerial("s", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, text := range map[string]string{"": "empty", "2026120": "YYYYMMDD", "20261301": "not a date", "v1": "YYYYMMDD",
		"20261201/x": `"/"`, "20261201_..": `".."`, "20261201\x00": "NUL", "20261201_a b": "YYYYMMDD",
		"20261201" + strings.Repeat("1", 60): "longer"} {
		wantFault(t, imagestore.CheckSerial("s", bad), fault.Invalid, "s", text)
	}
}

// TestUploadUnified: a unified tarball is stored under its version's directory, recorded, listed in
// the tree for LXD and Incus, and served.
func TestUploadUnified(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	p := e.product("debian", "bookworm", "amd64", "desktop", "deb-desk")
	img := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("x86_64"), Rootfs: true, Compression: "gzip"})
	f, err := e.s.Upload(c, imagestore.Upload{ProductID: p.ID, Serial: "20261201_1200", Body: bytes.NewReader(img), Size: -1,
		SHA256: strings.ToUpper(sum(img)), By: 0})
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != store.ImageUnified || f.Name != "lxd_combined.tar.gz" || f.Size != int64(len(img)) || f.SHA256 != sum(img) ||
		f.Path != "images/debian/bookworm/amd64/desktop/20261201_1200/lxd_combined.tar.gz" {
		t.Fatalf("file %+v", f)
	}
	onDisk, err := os.ReadFile(filepath.Join(e.dir, "debian/bookworm/amd64/desktop/20261201_1200/lxd_combined.tar.gz"))
	if err != nil || !bytes.Equal(onDisk, img) {
		t.Fatalf("on disk: %v", err)
	}
	snap := e.snapshot()
	for name := range snap.Tree {
		if strings.Contains(name, ".upload-") {
			t.Errorf("temporary file left: %s", name)
		}
	}

	tree, err := e.s.Tree(c)
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Format string `json:"format"`
		Index  map[string]struct {
			DataType string   `json:"datatype"`
			Path     string   `json:"path"`
			Format   string   `json:"format"`
			Products []string `json:"products"`
		} `json:"index"`
		Updated string `json:"updated"`
	}
	if err := json.Unmarshal(tree.Index, &index); err != nil {
		t.Fatal(err)
	}
	ix := index.Index["images"]
	if index.Format != "index:1.0" || ix.DataType != "image-downloads" || ix.Path != "streams/v1/images.json" ||
		ix.Format != "products:1.0" || !slices.Equal(ix.Products, []string{p.ID}) || index.Updated == "" {
		t.Fatalf("index.json: %s", tree.Index)
	}
	var images struct {
		ContentID string `json:"content_id"`
		DataType  string `json:"datatype"`
		Format    string `json:"format"`
		Products  map[string]struct {
			Aliases, Arch, OS, Release, Variant string
			ReleaseTitle                        string `json:"release_title"`
			Versions                            map[string]struct {
				Items map[string]struct {
					FType  string `json:"ftype"`
					Path   string `json:"path"`
					SHA256 string `json:"sha256"`
					Size   int64  `json:"size"`
				} `json:"items"`
			} `json:"versions"`
		} `json:"products"`
	}
	if err := json.Unmarshal(tree.Images, &images); err != nil {
		t.Fatal(err)
	}
	pr := images.Products[p.ID]
	if images.ContentID != "images" || images.DataType != "image-downloads" || images.Format != "products:1.0" ||
		pr.Aliases != "deb-desk" || pr.Arch != "amd64" || pr.OS != "debian" || pr.Release != "bookworm" || pr.Variant != "desktop" ||
		pr.ReleaseTitle != "bookworm" {
		t.Fatalf("images.json: %s", tree.Images)
	}
	items := pr.Versions["20261201_1200"].Items
	if len(items) != 2 || items["lxd_combined.tar.gz"].FType != "lxd_combined.tar.gz" || items["incus_combined.tar.gz"].FType != "incus_combined.tar.gz" {
		t.Fatalf("items: %+v", items)
	}
	for _, it := range items {
		if it.Path != f.Path || it.SHA256 != f.SHA256 || it.Size != f.Size {
			t.Fatalf("item %+v", it)
		}
	}

	rf, rec, err := e.s.Open(c, f.Path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rf)
	rf.Close()
	if !bytes.Equal(b, img) || rec.SHA256 != f.SHA256 {
		t.Fatal("Open read another file")
	}
	for _, bad := range []string{"images/debian/bookworm/amd64/desktop/20261201_1200/../../../../../../etc/passwd",
		"images/debian/bookworm/amd64/desktop/20261201_1200/nope", "streams/v1/index.json", "images/"} {
		if _, _, err := e.s.Open(c, bad); err == nil {
			t.Errorf("Open(%q) worked", bad)
		}
	}
}

// TestUploadSplit: a split image's metadata gets the combined hashes of its root files, whichever
// comes first.
func TestUploadSplit(t *testing.T) {
	e := newEnv(t)
	p := e.product("debian", "bookworm", "arm64", "", "")
	meta := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("aarch64"), Files: map[string]string{"templates/hosts.tpl": "x"}, Compression: "xz"})
	sq := imagetest.SquashFS(3000, 1)
	disk := imagetest.Qcow2(5000, 2)

	m := e.mustUpload(p.ID, "20261201", "", meta)
	if m.Type != store.ImageMetadata || m.Name != "lxd.tar.xz" {
		t.Fatalf("metadata %+v", m)
	}
	s := e.mustUpload(p.ID, "20261201", "", sq)
	if s.Type != store.ImageSquashFS || s.Name != "root.squashfs" {
		t.Fatalf("squashfs %+v", s)
	}
	// The other order: the root file first.
	d := e.mustUpload(p.ID, "20261202", "vm.qcow2", disk)
	m2 := e.mustUpload(p.ID, "20261202", "meta.tar.xz", meta)
	if d.Type != store.ImageDiskKVM || m2.Type != store.ImageMetadata {
		t.Fatalf("%+v %+v", d, m2)
	}
	files, err := e.s.Files(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.ImageFile{}
	for _, f := range files {
		byName[f.Serial+"/"+f.Name] = f
	}
	if got := byName["20261201/lxd.tar.xz"]; got.CombinedSquashFS != sum(meta, sq) || got.CombinedDiskKVM != "" {
		t.Errorf("combined hashes after meta then squashfs: %+v", got)
	}
	if got := byName["20261202/meta.tar.xz"]; got.CombinedDiskKVM != sum(meta, disk) || got.CombinedSquashFS != "" {
		t.Errorf("combined hashes after disk then meta: %+v", got)
	}
	tree, err := e.s.Tree(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"combined_squashfs_sha256":"` + sum(meta, sq) + `"`, `"combined_disk-kvm-img_sha256":"` + sum(meta, disk) + `"`,
		`"ftype":"incus.tar.xz"`, `"ftype":"lxd.tar.xz"`, `"ftype":"squashfs"`, `"ftype":"disk-kvm.img"`} {
		if !bytes.Contains(tree.Images, []byte(want)) {
			t.Errorf("images.json lacks %s: %s", want, tree.Images)
		}
	}
}

// TestUploadRefusals: every refused upload leaves the directory tree and the index as they were.
func TestUploadRefusals(t *testing.T) {
	e := newEnv(t, func(o *imagestore.Options) { o.MaxSize = 64 << 10 })
	p := e.product("debian", "bookworm", "amd64", "", "")
	e.mustUpload(p.ID, "20261130", "", imagetest.SquashFS(100, 0))
	good := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true})
	cases := []struct {
		name string
		up   imagestore.Upload
		kind fault.Kind
		mem  string
		text string
	}{
		{"wrong sha256", imagestore.Upload{ProductID: p.ID, Serial: "20261201", SHA256: strings.Repeat("0", 64)}, fault.Invalid, "payload.file_sha256", "does not match"},
		{"malformed sha256", imagestore.Upload{ProductID: p.ID, Serial: "20261201", SHA256: "xyz"}, fault.Invalid, "payload.file_sha256", "64 hexadecimal"},
		{"unknown product", imagestore.Upload{ProductID: "debian:trixie:amd64:default", Serial: "20261201"}, fault.NotFound, "", "no product"},
		{"bad product id", imagestore.Upload{ProductID: "debian/../x:a:b:c", Serial: "20261201"}, fault.Invalid, "payload.product_id", "not a product id"},
		{"serial with ..", imagestore.Upload{ProductID: p.ID, Serial: "20261201_.."}, fault.Invalid, "payload.product_version_serial", `".."`},
		{"serial not a date", imagestore.Upload{ProductID: p.ID, Serial: "latest"}, fault.Invalid, "payload.product_version_serial", "YYYYMMDD"},
		{"file name with /", imagestore.Upload{ProductID: p.ID, Serial: "20261201", FileName: "../x"}, fault.Invalid, "file", `"/"`},
		{"announced too large", imagestore.Upload{ProductID: p.ID, Serial: "20261201", Size: 1 << 20}, fault.TooLarge, "", "limit of 65536"},
		{"too large", imagestore.Upload{ProductID: p.ID, Serial: "20261201", Size: -1, Body: bytes.NewReader(make([]byte, 65537))}, fault.TooLarge, "", "limit"},
		{"no metadata.yaml", imagestore.Upload{ProductID: p.ID, Serial: "20261201",
			Body: bytes.NewReader(imagetest.Tarball(t, imagetest.Tar{Rootfs: true, Compression: "gzip"}))}, fault.Invalid, "file", "not an image: no metadata.yaml"},
		{"not a tarball", imagestore.Upload{ProductID: p.ID, Serial: "20261201", Body: strings.NewReader("hello world")}, fault.Invalid, "file", "not an image"},
		{"empty", imagestore.Upload{ProductID: p.ID, Serial: "20261201", Body: strings.NewReader("")}, fault.Invalid, "file", "empty"},
		{"other architecture", imagestore.Upload{ProductID: p.ID, Serial: "20261201",
			Body: bytes.NewReader(imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("aarch64"), Rootfs: true}))}, fault.Invalid, "file", `architecture "aarch64"`},
		{"no creation date", imagestore.Upload{ProductID: p.ID, Serial: "20261201",
			Body: bytes.NewReader(imagetest.Tarball(t, imagetest.Tar{Metadata: "architecture: x86_64\n", Rootfs: true}))}, fault.Invalid, "file", "creation_date"},
		{"same name again", imagestore.Upload{ProductID: p.ID, Serial: "20261130", FileName: "root.squashfs"}, fault.Conflict, "", "immutable"},
		{"same type again", imagestore.Upload{ProductID: p.ID, Serial: "20261130", Body: bytes.NewReader(imagetest.SquashFS(10, 9))}, fault.Conflict, "", "immutable"},
		{"unified into split", imagestore.Upload{ProductID: p.ID, Serial: "20261130", Body: bytes.NewReader(good)}, fault.Conflict, "", "mix"},
	}
	before := e.snapshot()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := tc.up
			if up.Body == nil {
				up.Body = bytes.NewReader(good)
			}
			if up.Size == 0 {
				up.Size = -1
			}
			_, err := e.s.Upload(t.Context(), up)
			wantFault(t, err, tc.kind, tc.mem, tc.text)
			if after := e.snapshot(); !reflect.DeepEqual(after, before) {
				t.Fatalf("the refused upload changed things:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	// A body cut short: a *BodyError with its cause, nothing kept.
	_, err := e.s.Upload(t.Context(), imagestore.Upload{ProductID: p.ID, Serial: "20261201", Size: -1,
		Body: io.MultiReader(bytes.NewReader(good[:100]), errReader{io.ErrUnexpectedEOF})})
	var be *imagestore.BodyError
	if !errors.As(err, &be) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: %v", err)
	}
	if after := e.snapshot(); !reflect.DeepEqual(after, before) {
		t.Fatalf("the truncated upload changed things:\nbefore %+v\nafter  %+v", before, after)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// gate is a body that sends its first part, then waits until released.
type gate struct {
	first   []byte
	rest    []byte
	sent    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) Read(p []byte) (int, error) {
	if len(g.first) > 0 {
		n := copy(p, g.first)
		g.first = g.first[n:]
		return n, nil
	}
	g.once.Do(func() { close(g.sent) })
	<-g.release
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}

// TestConcurrentUpload: a second upload of the same file while the first is in flight is a conflict
// at once; after the first, it is one because versions are immutable.
func TestConcurrentUpload(t *testing.T) {
	e := newEnv(t)
	p := e.product("debian", "bookworm", "amd64", "", "")
	img := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true, Compression: "zstd"})
	g := &gate{first: img[:10], rest: img[10:], sent: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := e.s.Upload(context.Background(), imagestore.Upload{ProductID: p.ID, Serial: "20261201", FileName: "img.tar.zst", Body: g, Size: -1})
		errc <- err
	}()
	<-g.sent
	_, err := e.upload(p.ID, "20261201", "img.tar.zst", img)
	wantFault(t, err, fault.Conflict, "", "being uploaded already")
	// Another file of the version may go at the same time, but not a second unified image.
	close(g.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	_, err = e.upload(p.ID, "20261201", "img.tar.zst", img)
	wantFault(t, err, fault.Conflict, "", "immutable")
	files, _ := e.s.Files(t.Context())
	if len(files) != 1 || files[0].Type != store.ImageUnified {
		t.Fatalf("files %+v", files)
	}
}

func TestRetention(t *testing.T) {
	var inUse map[string]bool
	var inUseErr error
	e := newEnv(t, func(o *imagestore.Options) {
		o.KeepVersions = 2
		o.InUse = func(context.Context) (map[string]bool, error) { return inUse, inUseErr }
	})
	c := t.Context()
	p := e.product("debian", "bookworm", "amd64", "", "")
	q := e.product("alpine", "3.20", "amd64", "", "")
	var oldest store.ImageFile
	for i, serial := range []string{"20261201", "20261202", "20261203", "20261204"} {
		img := imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true, Files: map[string]string{"n": serial}})
		f := e.mustUpload(p.ID, serial, "", img)
		if i == 0 {
			oldest = f
		}
	}
	e.mustUpload(q.ID, "20261201", "", imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true}))

	// InUse failing: nothing goes.
	inUseErr = errors.New("lxd is away")
	before := e.snapshot()
	if removed, err := e.s.Prune(c); err == nil || len(removed) != 0 {
		t.Fatalf("Prune with InUse failing: %v, %v", removed, err)
	}
	if !reflect.DeepEqual(e.snapshot(), before) {
		t.Fatal("a round whose InUse failed removed something")
	}

	// The oldest is in use: only 20261203's elder 20261202 goes.
	inUseErr, inUse = nil, map[string]bool{oldest.SHA256: true}
	removed, err := e.s.Prune(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].ProductID != p.ID || removed[0].Serial != "20261202" || !strings.Contains(removed[0].Reason, "newest 2") {
		t.Fatalf("removed %+v", removed)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "debian/bookworm/amd64/default/20261202")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the removed version's directory: %v", err)
	}
	list, _ := e.s.Products(c)
	if !slices.Equal(list[1].Versions, []string{"20261201", "20261203", "20261204"}) || !slices.Equal(list[0].Versions, []string{"20261201"}) {
		t.Fatalf("versions after Prune: %+v", list)
	}
	tree, _ := e.s.Tree(c)
	if bytes.Contains(tree.Images, []byte("20261202")) {
		t.Fatal("the tree still lists the removed version")
	}

	// No longer in use: it goes too.
	inUse = nil
	removed, err = e.s.Prune(c)
	if err != nil || len(removed) != 1 || removed[0].Serial != "20261201" {
		t.Fatalf("second round: %+v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "debian/bookworm/amd64/default/20261201")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the version's directory stayed")
	}
}

func TestRetentionAge(t *testing.T) {
	e := newEnv(t, func(o *imagestore.Options) { o.MaxAge = 48 * time.Hour })
	p := e.product("debian", "bookworm", "amd64", "", "")
	img := func(s string) []byte {
		return imagetest.Tarball(t, imagetest.Tar{Metadata: imagetest.Meta("amd64"), Rootfs: true, Files: map[string]string{"n": s}})
	}
	e.mustUpload(p.ID, "20261201", "", img("a"))
	e.now = e.now.Add(72 * time.Hour)
	e.mustUpload(p.ID, "20261204", "", img("b"))
	e.now = e.now.Add(72 * time.Hour)
	removed, err := e.s.Prune(t.Context())
	if err != nil || len(removed) != 1 || removed[0].Serial != "20261201" || !strings.Contains(removed[0].Reason, "48h0m0s") {
		t.Fatalf("removed %+v, %v", removed, err)
	}
	// The newest version stays, however old.
	e.now = e.now.Add(1000 * time.Hour)
	if removed, err := e.s.Prune(t.Context()); err != nil || len(removed) != 0 {
		t.Fatalf("the newest version went: %+v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "debian")); err != nil {
		t.Fatal(err)
	}
}

// TestClassify: the kinds of files and their compressions.
func TestClassify(t *testing.T) {
	bz, err := os.ReadFile("testdata/meta.tar.bz2")
	if err != nil {
		t.Fatal(err)
	}
	meta := imagetest.Meta("x86_64")
	for _, tc := range []struct {
		name        string
		b           []byte
		typ, compr  string
		errContains string
	}{
		{"plain unified", imagetest.Tarball(t, imagetest.Tar{Metadata: meta, Rootfs: true}), store.ImageUnified, "", ""},
		{"gzip unified", imagetest.Tarball(t, imagetest.Tar{Metadata: meta, Rootfs: true, Compression: "gzip"}), store.ImageUnified, "gzip", ""},
		{"xz metadata", imagetest.Tarball(t, imagetest.Tar{Metadata: meta, Compression: "xz"}), store.ImageMetadata, "xz", ""},
		{"zstd metadata", imagetest.Tarball(t, imagetest.Tar{Metadata: meta, Compression: "zstd"}), store.ImageMetadata, "zstd", ""},
		{"bzip2 metadata", bz, store.ImageMetadata, "bzip2", ""},
		{"vm unified", imagetest.Tarball(t, imagetest.Tar{Metadata: meta, Files: map[string]string{"rootfs.img": "disk"}}), store.ImageUnified, "", ""},
		{"squashfs", imagetest.SquashFS(100, 0), store.ImageSquashFS, "", ""},
		{"qcow2", imagetest.Qcow2(100, 0), store.ImageDiskKVM, "", ""},
		{"no metadata", imagetest.Tarball(t, imagetest.Tar{Rootfs: true, Compression: "xz"}), "", "", "no metadata.yaml"},
		{"bad yaml", imagetest.Tarball(t, imagetest.Tar{Metadata: "architecture: [", Rootfs: true}), "", "", "not valid YAML"},
		{"no architecture", imagetest.Tarball(t, imagetest.Tar{Metadata: "creation_date: 5\n"}), "", "", "no architecture"},
		{"gzip of text", imagetest.Compress(t, []byte("hello"), "gzip"), "", "", "holds no tarball"},
		{"broken gzip", []byte{0x1f, 0x8b, 0, 0}, "", "", "broken gzip"},
		{"text", []byte("#!/bin/sh\n"), "", "", "not an image"},
		// 70 MiB of zeros before metadata.yaml (which sorts after "a-big"), gzipped to some 70 KiB.
		{"decompression bomb", imagetest.Tarball(t, imagetest.Tar{Files: map[string]string{"a-big": strings.Repeat("\x00", 70<<20),
			"metadata.yaml": meta}, Compression: "gzip"}), "", "", "decompression bomb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := imagestore.Classify(bytes.NewReader(tc.b), int64(len(tc.b)))
			if tc.errContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("got %+v, %v; want an error with %q", c, err, tc.errContains)
				}
				return
			}
			if err != nil || c.Type != tc.typ || c.Compression != tc.compr {
				t.Fatalf("got %+v, %v; want %s %q", c, err, tc.typ, tc.compr)
			}
			if (c.Type == store.ImageUnified || c.Type == store.ImageMetadata) && (c.Metadata == nil || c.Metadata.Architecture != "x86_64") {
				t.Fatalf("metadata %+v", c.Metadata)
			}
		})
	}
}

// TestTreeCache: with 100 products the tree is built once and then answered from the cache until a
// change (or CacheTTL, for changes another replica made) drops it.
func TestTreeCache(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	for i := range 100 {
		e.product("os"+strings.Repeat("x", i%7), "r"+string(rune('a'+i%26))+strings.Repeat("1", i/26), "amd64", "", "")
	}
	t1, err := e.s.Tree(c)
	if err != nil {
		t.Fatal(err)
	}
	if t2, _ := e.s.Tree(c); t2 != t1 {
		t.Fatal("the second Tree was built again")
	}
	var index struct {
		Index map[string]struct{ Products []string } `json:"index"`
	}
	if err := json.Unmarshal(t1.Index, &index); err != nil || len(index.Index["images"].Products) != 100 {
		t.Fatalf("index of 100 products: %v, %d", err, len(index.Index["images"].Products))
	}
	list, _ := e.s.Products(c)
	e.mustUpload(list[0].ID, "20261201", "", imagetest.SquashFS(10, 0))
	t3, _ := e.s.Tree(c)
	if t3 == t1 || !bytes.Contains(t3.Images, []byte(`"20261201"`)) {
		t.Fatal("an upload did not drop the cached tree")
	}
	e.now = e.now.Add(imagestore.DefaultCacheTTL + time.Second)
	if t4, _ := e.s.Tree(c); t4 == t3 || !bytes.Equal(t4.Images, t3.Images) {
		t.Fatal("the tree was not rebuilt (the same) after CacheTTL")
	}
}

func BenchmarkTreeCached(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "deskhub.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := imagestore.New(imagestore.Options{Store: st, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		if _, err := s.AddProduct(b.Context(), imagestore.ProductSpec{OS: "os", Release: "r" + strconv.Itoa(i), Arch: "amd64"}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.Tree(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
