// Package store defines deskhub's persistence interface and storage row types.
//
// Rows here are storage rows, not wire types: the API layers convert explicitly.
// Backends (sqlite/, postgres/) share one SQL implementation (sqlstore/) and are
// verified by one conformance suite (storetest/).
//
// Conventions:
//   - ctx is the first argument of every method that touches the database.
//   - A zero time.Time means NULL/unset; all times come back in UTC with
//     microsecond precision.
//   - Missing rows, and references to missing parent rows, are reported as
//     errors wrapping ErrNotFound; unique violations wrap ErrConflict.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is wrapped by every error reporting a missing row (or a missing
// parent row referenced by a foreign key).
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped by every error reporting a unique-constraint violation.
var ErrConflict = errors.New("conflict")

// User providers.
const (
	ProviderLocal = "local"
	ProviderSSH   = "ssh"
)

// Token types.
const (
	TokenUserLogin = "user.login"
	TokenSystemAPI = "system.api"
)

// Session states.
const (
	SessionStarting = "starting"
	SessionRunning  = "running"
	SessionEnded    = "ended"
)

// Bookmark kinds.
const (
	BookmarkKindBookmark = "bookmark"
	BookmarkKindHistory  = "history"
)

// User is an account.
type User struct {
	ID             int64
	Login          string // unique
	Email          string // unique when non-empty
	Name           string
	PasswordHash   string
	Provider       string // "local" | "ssh"
	Admin          bool
	PasswordLocked bool
	Disabled       bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Token is an API/login token; only its hash is stored.
type Token struct {
	ID         int64
	UserID     int64
	Name       string // public id shown to the user; unique
	Type       string // "user.login" | "system.api"
	Hash       []byte // unique
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero = never
	RevokedAt  time.Time // zero = not revoked
	LastUsedAt time.Time
}

// Code is a one-time code (registration, recovery, email change, WebAuthn
// ceremony state, ...); only its hash is stored.
type Code struct {
	ID        int64
	UserID    int64  // 0 = no user (stored as NULL)
	Purpose   string // "register", "recovery", "email", "webauthn", ...
	Hash      []byte // unique
	Email     string
	Data      string // JSON payload
	CreatedAt time.Time
	ExpiresAt time.Time // zero = never
	UsedAt    time.Time // zero = unused
}

// SSHKey is a user's SSH public key.
type SSHKey struct {
	ID          int64
	UserID      int64
	Name        string
	PublicKey   string
	Fingerprint string // unique per user
	CreatedAt   time.Time
}

// WebAuthnCredential is a registered WebAuthn credential.
type WebAuthnCredential struct {
	ID              int64
	UserID          int64
	CredentialID    []byte // unique
	PublicKey       []byte
	AttestationType string
	AAGUID          []byte
	SignCount       uint32
	Transports      string
	Name            string
	Data            string // JSON of the whole go-webauthn Credential
	CreatedAt       time.Time
	LastUsedAt      time.Time
}

// Server is a machine (local or LXD) that hosts sessions.
type Server struct {
	ID              int64
	OwnerID         int64  // 0 = none (stored as NULL)
	Name            string // unique
	Provider        string // "local", "lxd"
	Protocol        string
	Host            string
	Port            int
	Path            string // unix socket
	CertFingerprint string
	State           string
	Config          string // JSON
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Session is a desktop session.
type Session struct {
	ID             string // uuid; primary key
	UserID         int64
	ServerID       int64 // 0 = none (stored as NULL)
	Login          string
	Name           string
	Command        string
	Display        string
	Geometry       string
	WindowMode     string            // "desktop" | "rootless"
	Params         map[string]string // stored as JSON text
	State          string            // "starting", "running", "ended"
	AppPID         int
	ServerPID      int
	Hostname       string
	Runtime        string // JSON: provider-specific endpoint info
	StartedAt      time.Time
	EndedAt        time.Time
	LastConnect    time.Time
	LastDisconnect time.Time
	ScheduledAt    time.Time
}

// SessionFilter selects sessions; zero fields match everything.
type SessionFilter struct {
	UserID   int64    // 0 = all users
	ServerID int64    // 0 = all servers
	States   []string // empty = all states
}

// Session columns a SessionQuery may match or sort on (a whitelist: the store turns each into a fixed
// SQL expression; nothing of the caller's reaches the SQL text).
const (
	ColLogin      = "login"
	ColName       = "name"
	ColCommand    = "command"
	ColDisplay    = "display"
	ColGeometry   = "geometry"
	ColHostname   = "hostname"
	ColID         = "id"
	ColWindowMode = "window_mode"
	ColState      = "state"
	ColAppPID     = "app_pid"    // integer
	ColServerPID  = "server_pid" // integer
	ColServerID   = "server_id"  // integer; 0 matches NULL (no server)
	ColStarted    = "started"    // sort only: started_at, else scheduled_at (unset first)
)

// SessionField is what a SessionQuery matches or sorts on: a column (one of the Col constants) or,
// when Column is empty, the session parameter named Param.
type SessionField struct {
	Column string
	Param  string
}

// SessionMatch keeps the sessions whose field is one of Values (text columns and parameters; a
// session without the parameter never matches) or one of Ints (integer columns).
type SessionMatch struct {
	Field  SessionField
	Values []string
	Ints   []int64
}

// SessionQuery is SessionFilter plus conditions, an order and a page, all done by the database.
//
// Order: by SortBy when set — text columns byte-wise, integer columns numerically, ColStarted in time
// (unset first); a parameter: missing or empty values first, then values that are numbers
// (strconv.ParseFloat, not NaN) by value, then the others byte-wise — and then, as ties and when
// SortBy is nil, ListSessions' order. Reverse reverses the whole order. Offset rows are skipped, then
// at most Limit are returned (Limit < 0: no limit).
type SessionQuery struct {
	SessionFilter
	Match   []SessionMatch
	SortBy  *SessionField
	Reverse bool
	Offset  int
	Limit   int
}

// Bookmark is a saved session template or a history entry; its primary key is
// (UserID, Kind, ID).
type Bookmark struct {
	ID        string
	UserID    int64
	Kind      string // "bookmark" | "history"
	Name      string
	Command   string
	Geometry  string
	Tags      []string // stored as JSON text
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Share grants access to a session through a random key. The key is a bearer
// credential: only its SHA-256 is stored, and the share is named (logs,
// share/list, share/delete) by its public ID.
type Share struct {
	ID        string // public, non-secret handle; unique; CreateShare makes one when empty
	SessionID string
	KeyHash   []byte   // SHA-256 of the key; unique
	Perms     []string // stored as JSON text
	Timeout   int      // seconds
	CreatedBy int64    // 0 = unknown (stored as NULL)
	CreatedAt time.Time
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID         int64
	At         time.Time
	UserID     int64 // 0 = anonymous (stored as NULL; no foreign key, entries outlive users)
	Actor      string
	Action     string
	Target     string
	Detail     string // JSON
	RemoteAddr string
}

// AuditFilter selects audit entries, newest first. Every member set narrows the selection.
type AuditFilter struct {
	UserID int64     // 0 = all
	Login  string    // entries whose Actor or Target is this login ("" = all)
	Since  time.Time // entries at or after Since (zero = no bound)
	Until  time.Time // entries before Until (zero = no bound)
	Before int64     // entries listed after the entry with this id (newest first: a page's next page); 0 = from the newest
	Limit  int       // <= 0 = no limit
}

// Instance is deskhub's handle on an LXD instance: a stable numeric id (for
// instance.action) and the user deskhub created it for.
type Instance struct {
	ID        int64
	ServerID  int64  // servers.id; the row goes with its server (ON DELETE CASCADE)
	Name      string // LXD name; unique per server
	OwnerID   int64  // 0 = none (stored as NULL); cleared when the user is deleted
	CreatedAt time.Time
}

// Operation states.
const (
	OperationPending = "pending"
	OperationRunning = "running"
	OperationSuccess = "success"
	OperationFailure = "failure"
)

// Operation is an asynchronous infrastructure call (instance.add,
// instance.action) that outlives the request that started it, and a restart.
type Operation struct {
	ID           string // uuid; primary key
	UserID       int64  // who asked; the row goes with the user (ON DELETE CASCADE)
	ServerID     int64  // 0 = none (stored as NULL); cleared when the server is deleted
	InstanceID   int64  // 0 = none (stored as NULL); no foreign key (instance rows are deleted with the instance)
	InstanceName string
	Kind         string // "instance.add" | "instance.action"
	Action       string // for instance.action: start, stop, ...; "" for instance.add
	RequestID    string // the client's request_id
	Status       string // "pending" | "running" | "success" | "failure"
	Error        string // why it failed
	LXDOperation string // LXD's operation id once LXD accepted the work
	Spec         string // JSON of what to do (opaque to the store)
	CreatedAt    time.Time
	UpdatedAt    time.Time
	FinishedAt   time.Time // zero = not finished
	ReportedAt   time.Time // zero = outcome not yet delivered to any event stream
}

// OperationFilter selects operations, oldest first; zero fields match
// everything.
type OperationFilter struct {
	UserID int64    // 0 = all users
	States []string // empty = all states
	// Unreported selects only finished operations whose outcome was never
	// delivered (FinishedAt set, ReportedAt zero).
	Unreported bool
}

// Image file types (simplestreams ftypes as LXD names them).
const (
	ImageUnified  = "lxd_combined.tar.gz" // metadata and rootfs in one tarball; its sha256 is the fingerprint
	ImageMetadata = "lxd.tar.xz"          // the metadata tarball of a split image
	ImageSquashFS = "squashfs"            // a container's root file system (split image)
	ImageDiskKVM  = "disk-kvm.img"        // a virtual machine's disk, qcow2 (split image)
)

// ImageProduct is a product of deskhub's simplestreams image server: one image line
// (os:release:arch:variant). Aliases are unique across products.
type ImageProduct struct {
	ID           string // "os:release:arch:variant"; primary key
	OS           string
	Release      string
	Arch         string
	Variant      string
	ReleaseTitle string
	Aliases      []string // stored comma-separated, each also in image_aliases (unique)
	CreatedBy    int64    // 0 = unknown (stored as NULL); cleared when the user is deleted
	CreatedAt    time.Time
}

// ImageVersion is one version (serial) of a product. Its files go with it.
type ImageVersion struct {
	ProductID string
	Serial    string
	CreatedAt time.Time
}

// ImageFile is one file of a product version. A version holds at most one
// file per name and one per Type.
type ImageFile struct {
	ID        int64
	ProductID string
	Serial    string
	Name      string
	Type      string // ImageUnified, ImageMetadata, ImageSquashFS, ImageDiskKVM
	Path      string // below the image server's base: images/<os>/<release>/<arch>/<variant>/<serial>/<name>
	Size      int64
	SHA256    string // hex
	// On a split image's metadata file: sha256(metadata || root file), LXD's
	// fingerprint of the image made of the two ("" until both are there).
	CombinedSquashFS string
	CombinedDiskKVM  string
	UploadedBy       int64 // 0 = unknown (stored as NULL)
	UploadedAt       time.Time
}

// Versioner is a Store that says cheaply whether the database may have changed. ChangeVersion returns
// a number that differs from every number it returned before once any write that touches the tables
// of the cached reads (users, tokens, sessions, session_params, bookmarks) has been committed — by this
// process, another process on the same database (the deskhub CLI) or another host — and stays the same
// while none is. It is immediate: a write whose commit returned before ChangeVersion was called is
// counted. Two equal numbers thus mean that a read made between them answers what it answered then
// (readcache builds on this). Numbers only grow; an error says nothing about the database.
type Versioner interface {
	ChangeVersion(ctx context.Context) (uint64, error)
}

// Store is deskhub's persistence layer.
type Store interface {
	// Backend returns "sqlite" or "postgres".
	Backend() string
	Ping(ctx context.Context) error
	Close() error
	// InTx runs fn in a transaction: commit if fn returns nil, rollback if it
	// returns an error or panics (the panic is re-raised). Calling InTx on the
	// Store passed to fn just runs the inner fn in the same transaction.
	InTx(ctx context.Context, fn func(tx Store) error) error

	// Users.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id int64) (User, error)
	GetUserByLogin(ctx context.Context, login string) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, id int64) error

	// Tokens.
	CreateToken(ctx context.Context, t *Token) error
	GetToken(ctx context.Context, id int64) (Token, error)
	GetTokenByHash(ctx context.Context, hash []byte) (Token, error)
	// GetTokenUser returns the token with this hash and the account it belongs to, in one read (the
	// check of every authenticated request); ErrNotFound when either is missing.
	GetTokenUser(ctx context.Context, hash []byte) (Token, User, error)
	GetTokenByName(ctx context.Context, userID int64, name string) (Token, error)
	ListTokens(ctx context.Context, userID int64) ([]Token, error)
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	// RevokeUserTokens revokes the user's unrevoked tokens of type typ ("" =
	// any type) except exceptID (0 = none) and returns how many were revoked.
	RevokeUserTokens(ctx context.Context, userID int64, typ string, exceptID int64, at time.Time) (int, error)
	TouchToken(ctx context.Context, id int64, at time.Time) error
	// ExtendToken sets a token's expiry (keepalive); ErrNotFound for a missing token.
	ExtendToken(ctx context.Context, id int64, expires time.Time) error

	// One-time codes.
	CreateCode(ctx context.Context, c *Code) error
	// ConsumeCode atomically marks the code used and returns it; ErrNotFound
	// if it is missing, already used or expired at now.
	ConsumeCode(ctx context.Context, purpose string, hash []byte, now time.Time) (Code, error)
	DeleteExpiredCodes(ctx context.Context, now time.Time) (int, error)
	// FindCode returns the unused, unexpired code of purpose with hash without using it (codes that
	// last: desktop-scoped tokens); ErrNotFound otherwise.
	FindCode(ctx context.Context, purpose string, hash []byte, now time.Time) (Code, error)
	// GetCode returns a code by id, used or not; ErrNotFound if it is gone.
	GetCode(ctx context.Context, id int64) (Code, error)
	// UseCode marks an unused code used (revokes a lasting one); ErrNotFound if it is gone or used.
	UseCode(ctx context.Context, id int64, now time.Time) error
	// ListCodes lists the unused, unexpired codes of purpose, oldest first.
	ListCodes(ctx context.Context, purpose string, now time.Time) ([]Code, error)

	// SSH keys.
	CreateSSHKey(ctx context.Context, k *SSHKey) error
	ListSSHKeys(ctx context.Context, userID int64) ([]SSHKey, error)
	GetSSHKey(ctx context.Context, userID, id int64) (SSHKey, error)
	DeleteSSHKey(ctx context.Context, userID, id int64) error

	// WebAuthn credentials.
	CreateCredential(ctx context.Context, c *WebAuthnCredential) error
	ListCredentials(ctx context.Context, userID int64) ([]WebAuthnCredential, error)
	GetCredentialByCredentialID(ctx context.Context, credentialID []byte) (WebAuthnCredential, error)
	// UpdateCredential rewrites everything but UserID, CredentialID and
	// CreatedAt (sign count, last used, name, transports, data, key, ...) of
	// the credential with c.ID.
	UpdateCredential(ctx context.Context, c *WebAuthnCredential) error
	DeleteCredential(ctx context.Context, userID, id int64) error

	// Servers.
	CreateServer(ctx context.Context, s *Server) error
	GetServer(ctx context.Context, id int64) (Server, error)
	GetServerByName(ctx context.Context, name string) (Server, error)
	ListServers(ctx context.Context, ownerID int64) ([]Server, error) // ownerID 0 = all
	UpdateServer(ctx context.Context, s *Server) error
	DeleteServer(ctx context.Context, id int64) error

	// Sessions.
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	ListSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// QuerySessions is ListSessions with conditions, an order and a page (see SessionQuery); an
	// unknown column is an error.
	QuerySessions(ctx context.Context, q SessionQuery) ([]Session, error)
	UpdateSession(ctx context.Context, s *Session) error
	DeleteSession(ctx context.Context, id string) error

	// Bookmarks and history.
	PutBookmark(ctx context.Context, b *Bookmark) error // upsert on (UserID, Kind, ID)
	ListBookmarks(ctx context.Context, userID int64, kind string) ([]Bookmark, error)
	DeleteBookmark(ctx context.Context, userID int64, kind, id string) error

	// Shares. Keys are looked up by their SHA-256 (keyHash), shares named by ID.
	CreateShare(ctx context.Context, sh *Share) error
	ListShares(ctx context.Context, sessionID string) ([]Share, error)
	GetShare(ctx context.Context, sessionID string, keyHash []byte) (Share, error)
	GetShareByID(ctx context.Context, id string) (Share, error)
	UpdateShare(ctx context.Context, sh *Share) error // updates Perms and Timeout of sh.ID
	DeleteShare(ctx context.Context, sessionID, id string) error
	DeleteShares(ctx context.Context, sessionID string) (int, error)

	// Audit log.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) // newest first

	// Instances.
	// CreateInstance stores in and sets its ID (and a zero CreatedAt);
	// ErrConflict if the server already has an instance named in.Name,
	// ErrNotFound if the server (or the owner) is missing.
	CreateInstance(ctx context.Context, in *Instance) error
	// EnsureInstance returns the row for (serverID, name), creating it
	// (OwnerID 0) if missing; safe when called concurrently. ErrNotFound if
	// the server is missing.
	EnsureInstance(ctx context.Context, serverID int64, name string) (Instance, error)
	GetInstance(ctx context.Context, id int64) (Instance, error)
	GetInstanceByName(ctx context.Context, serverID int64, name string) (Instance, error)
	ListInstances(ctx context.Context, serverID int64) ([]Instance, error) // serverID 0 = all; ordered by id
	// ListInstancesByOwner returns the instances owned by ownerID, ordered by
	// id (ownerID 0 matches none).
	ListInstancesByOwner(ctx context.Context, ownerID int64) ([]Instance, error)
	// UpdateInstance rewrites OwnerID and Name of the instance with in.ID;
	// ErrNotFound if it (or the new owner) is missing, ErrConflict if the
	// name is taken on its server.
	UpdateInstance(ctx context.Context, in *Instance) error
	DeleteInstance(ctx context.Context, id int64) error // ErrNotFound if missing

	// Operations.
	// CreateOperation stores op; an empty ID gets a new uuid, an empty
	// Status is OperationPending, a zero CreatedAt is now and a zero
	// UpdatedAt is CreatedAt. ErrConflict on an existing ID, ErrNotFound if
	// the user (or the server) is missing.
	CreateOperation(ctx context.Context, op *Operation) error
	GetOperation(ctx context.Context, id string) (Operation, error)
	// UpdateOperation rewrites every field but ID, UserID, Kind and
	// CreatedAt of the operation with op.ID; a zero UpdatedAt is set to now.
	// ErrNotFound if it (or the new server) is missing.
	UpdateOperation(ctx context.Context, op *Operation) error
	ListOperations(ctx context.Context, f OperationFilter) ([]Operation, error) // oldest first

	// Image server (simplestreams).
	// CreateImageProduct stores p and its aliases; ErrConflict if the id or
	// an alias is taken, ErrNotFound if CreatedBy names a missing user.
	CreateImageProduct(ctx context.Context, p *ImageProduct) error
	GetImageProduct(ctx context.Context, id string) (ImageProduct, error)
	ListImageProducts(ctx context.Context) ([]ImageProduct, error) // ordered by id
	// ListImageVersions returns the versions of productID ("" = every
	// product), ordered by product id, then serial.
	ListImageVersions(ctx context.Context, productID string) ([]ImageVersion, error)
	// CreateImageFile stores f (setting ID; a zero UploadedAt is now),
	// creating its version if missing. ErrNotFound if the product (or the
	// uploader) is missing, ErrConflict if the version already has a file
	// of that name or that type.
	CreateImageFile(ctx context.Context, f *ImageFile) error
	// SetImageFileCombined rewrites the combined hashes of file f.ID.
	SetImageFileCombined(ctx context.Context, f *ImageFile) error
	// ListImageFiles returns the files of productID ("" = every product),
	// ordered by product id, serial, then name.
	ListImageFiles(ctx context.Context, productID string) ([]ImageFile, error)
	// DeleteImageVersion removes a version and its file rows; ErrNotFound if missing.
	DeleteImageVersion(ctx context.Context, productID, serial string) error

	// Settings: small named values deskhub keeps for itself (e.g. its LXD
	// client identity).
	GetSetting(ctx context.Context, name string) (string, error) // ErrNotFound if unset
	PutSetting(ctx context.Context, name, value string) error    // upsert
	// CreateSetting stores a value only if the name is unset, ErrConflict
	// otherwise (lets replicas race to create a value once).
	CreateSetting(ctx context.Context, name, value string) error
}
