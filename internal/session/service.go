package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/deskhub/deskhub/internal/account"
	"log/slog"
	"os/user"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/placement"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/store"
)

// Session states as stored.
const (
	StateScheduled = "scheduled"
	StateStarting  = fastx.StateStarting
	StateRunning   = fastx.StateRunning
	StateEnded     = fastx.StateStopped
)

// Options configure the Service.
type Options struct {
	Store    store.Store
	Provider provider.Provider
	Relay    *display.Relay
	Secrets  *display.Secrets
	Log      *slog.Logger
	// ServerID and Hostname describe this host; Port is the broker's (clients connect there).
	ServerID, Hostname string
	Port               int
	// DefaultGeometry, Depth and FrameRate apply to new sessions.
	DefaultGeometry string
	Depth           int
	FrameRate       int
	// MaxPerUser bounds running sessions per user (0: no limit).
	MaxPerUser int
	// MaxPerServer bounds running sessions per server (0: no limit): a full server takes no more.
	MaxPerServer int
	// FreezeIdle freezes desktops no display client has viewed for this long, where their provider can
	// (provider.Freezer: LXD desktops); 0: never (idle.go).
	FreezeIdle time.Duration
	// TrimIdle gives the page cache of desktops no display client has viewed for this long back to the
	// host, once per idle spell, where their provider can (provider.Trimmer); 0: never.
	TrimIdle time.Duration
	// SweepInterval is how often desktops no session owns are swept besides at Resume (default 10 min;
	// sweep.go).
	SweepInterval time.Duration
	// Placement chooses the server of sessions started without one (default: fewest sessions). The
	// servers are the Provider's when it is a provider.Fleet, else this host alone.
	Placement placement.Strategy
	// Identities gives each deskhub account the Unix identity its desktops run as (host accounts run as
	// themselves).
	Identities Identities
	// Suggestions are the global bookmarks.
	Suggestions []Bookmark
	// ShareTimeout is the default seconds a guest has to use a share connect password.
	ShareTimeout int
	// Revoke is kicked after share keys are deleted, so that what depended on them ends at once.
	Revoke *revoke.Registry
	// ListCache bounds the encoded session lists ListJSON keeps (bytes; 0: none kept). It needs a
	// Store with a change version (store.Versioner).
	ListCache int64
	// Registerer receives the service's metrics (nil: none).
	Registerer prometheus.Registerer
}

// Identities create (on first use) and name the Unix identity of a deskhub account.
type Identities interface {
	Ensure(userID int64, login string) (provider.RunAs, error)
	// Name is the Unix user name of the account's identity (it may not exist yet).
	Name(userID int64) string
}

// Service is the session broker.
type Service struct {
	o      Options
	st     store.Store
	prov   provider.Provider
	log    *slog.Logger
	mu     sync.Mutex
	timers map[string]*time.Timer
	// placeMu makes placing a session and storing its starting row one step (launch).
	placeMu sync.Mutex
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	lists   *listCache // nil: ListJSON keeps nothing
}

// New returns a Service; Resume adopts surviving desktops and watches for ended ones.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Depth == 0 {
		o.Depth = 24
	}
	if o.FrameRate == 0 {
		o.FrameRate = 30
	}
	if o.ShareTimeout == 0 {
		o.ShareTimeout = 60
	}
	return &Service{o: o, st: o.Store, prov: o.Provider, log: o.Log.With("component", "session"),
		timers: map[string]*time.Timer{}, done: make(chan struct{}), lists: newListCache(o.Store, o.ListCache, o.Registerer)}
}

// Resume adopts the desktops of an earlier deskhub process, re-arms scheduled starts and watches for
// desktops that end by themselves, until Close.
func (s *Service) Resume(ctx context.Context) error {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{States: []string{StateStarting, StateRunning, StateScheduled}})
	if err != nil {
		return err
	}
	for _, row := range rows {
		switch row.State {
		case StateScheduled:
			s.arm(row)
		default:
			d := provider.Desktop{ID: row.ID, ServerID: s.serverKey(row), Display: row.Display, ServerPID: row.ServerPID,
				AppPID: row.AppPID, Hostname: row.Hostname, StartedAt: row.StartedAt, Runtime: json.RawMessage(row.Runtime)}
			got, err := s.prov.Adopt(ctx, d)
			if err != nil {
				s.log.Info("desktop did not survive the restart; marking it ended", "session", row.ID, "reason", err)
				s.markEnded(ctx, row.ID, "gone after restart")
				continue
			}
			if want := s.expectedUser(ctx, row); row.ServerID == 0 && want != "" && got.User != "" && got.User != want {
				// An older deskhub ran every account's desktops as one shared Unix user: such a desktop
				// is no boundary between accounts, so it does not outlive the upgrade.
				s.log.Warn("stopping a desktop that runs under another account's or a shared Unix user",
					"session", row.ID, "runs_as", got.User, "want", want)
				_ = s.prov.Stop(ctx, row.ID)
				s.markEnded(ctx, row.ID, "stopped: it ran as the shared Unix user of an older deskhub")
				continue
			}
			s.log.Info("adopted running desktop", "session", row.ID, "display", row.Display)
		}
	}
	if sw, ok := s.prov.(provider.Sweeper); ok {
		ids, err := sw.Sweep(ctx)
		if err != nil {
			s.log.Warn("sweeping desktops left by a crash", "error", err)
		}
		for _, id := range ids {
			s.markEnded(ctx, id, "stopped: left half-started by a crash")
		}
	}
	s.wg.Add(1)
	go s.watch()
	s.startIdle()
	s.startSweeps()
	return nil
}

// expectedUser is the Unix user a session's desktop must run as: its account's own identity for deskhub
// accounts, "" where that is not deskhub's to say (host accounts, unknown rows).
func (s *Service) expectedUser(ctx context.Context, row store.Session) string {
	if s.o.Identities == nil {
		return ""
	}
	u, err := s.st.GetUser(ctx, row.UserID)
	if err != nil || u.Provider != store.ProviderLocal {
		return ""
	}
	return s.o.Identities.Name(u.ID)
}

// Close stops watching and cancels scheduled timers (desktops keep running).
func (s *Service) Close() {
	s.once.Do(func() { close(s.done) })
	s.mu.Lock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Service) watch() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case e, ok := <-s.prov.Ended():
			if !ok {
				return
			}
			s.log.Info("desktop ended", "session", e.ID, "reason", e.Reason)
			s.o.Relay.Disconnect(e.ID)
			s.markEnded(context.Background(), e.ID, e.Reason)
		}
	}
}

func (s *Service) markEnded(ctx context.Context, id, reason string) {
	err := s.st.InTx(ctx, func(tx store.Store) error {
		row, err := tx.GetSession(ctx, id)
		if err != nil {
			return err
		}
		if row.State == StateEnded {
			return nil
		}
		row.State = StateEnded
		row.EndedAt = time.Now().UTC()
		if err := tx.UpdateSession(ctx, &row); err != nil {
			return err
		}
		_, err = tx.DeleteShares(ctx, id)
		return err
	})
	s.o.Revoke.Kick()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("marking session ended", "session", id, "error", err)
	}
}

// grant is a display grant of the caller to session id: it lasts as long as the caller's token and
// account.
func grant(c account.Caller, id string) display.Grant {
	return display.Grant{SessionID: id, UserID: c.UserID, Label: c.Login, Deps: revoke.Deps{UserID: c.UserID, TokenID: c.TokenID}}
}

var idRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`) })

// errNoSession is what an unknown session and another user's session both answer.
func errNoSession(id string) error { return fault.NotFoundf("no session %q", id) }

// own loads a session the caller owns (admins may reach every session), running or not.
func (s *Service) own(ctx context.Context, c account.Caller, id string) (store.Session, error) {
	row, err := s.st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && row.UserID != c.UserID && !c.Admin {
		return store.Session{}, errNoSession(id)
	}
	return row, err
}

// Live loads one of the caller's running sessions (administrators: any), or the 404/409 to answer.
func (s *Service) Live(ctx context.Context, c account.Caller, id string) (store.Session, error) {
	return s.live(ctx, c, id)
}

// live is own for sessions that still run.
func (s *Service) live(ctx context.Context, c account.Caller, id string) (store.Session, error) {
	row, err := s.own(ctx, c, id)
	if err != nil {
		return row, err
	}
	if row.State != StateRunning {
		return row, fault.Conflictf("session %q is %s", id, describeState(row.State))
	}
	return row, nil
}

func describeState(state string) string {
	switch state {
	case StateEnded:
		return "ended"
	case StateScheduled:
		return "scheduled, not started yet"
	}
	return state
}

// StartSpec is a session to start.
type StartSpec struct {
	ID, Command, Geometry, Name string
	Params                      map[string]string
	// ServerID is the server to start on (serverId); empty: placement chooses.
	ServerID string
}

// geometry turns a request geometry into size and mode.
func (s *Service) geometry(g string) (w, h int, rootless bool, err error) {
	if g == "" {
		g = s.o.DefaultGeometry
	}
	w, h, rootless, err = fastx.ParseGeometry(g)
	if err != nil {
		return 0, 0, false, fault.Memberf("geometry", "%v", err)
	}
	if rootless {
		w, h, _, _ = fastx.ParseGeometry(s.o.DefaultGeometry)
	}
	return w, h, rootless, nil
}

func (s *Service) runAs(c account.Caller) (provider.RunAs, error) {
	if c.Provider == store.ProviderSSH {
		u, err := user.Lookup(c.Login)
		if err != nil {
			return provider.RunAs{}, fault.Conflictf("the host account %q no longer exists", c.Login)
		}
		return provider.RunAs{User: u.Username, Home: u.HomeDir}, nil
	}
	if s.o.Identities == nil {
		return provider.RunAs{}, fault.New(fault.Unavailable, "desktops of deskhub accounts cannot run on this host")
	}
	ra, err := s.o.Identities.Ensure(c.UserID, c.Login)
	if err != nil {
		return provider.RunAs{}, fault.Wrap(fault.Unavailable, err, "your desktop's Unix identity could not be set up; see the server log")
	}
	return ra, nil
}

// Start starts a session and answers its connect object.
func (s *Service) Start(ctx context.Context, c account.Caller, sp StartSpec) (fastx.Connect, error) {
	row, err := s.prepare(ctx, c, sp)
	if err != nil {
		return fastx.Connect{}, err
	}
	if err := s.launch(ctx, c, &row, sp.ServerID); err != nil {
		return fastx.Connect{}, err
	}
	return s.connect(row, grant(c, row.ID)), nil
}

// prepare checks a start and builds its row (not stored yet).
func (s *Service) prepare(ctx context.Context, c account.Caller, sp StartSpec) (store.Session, error) {
	argv, err := SplitCommand(sp.Command)
	if err != nil {
		return store.Session{}, fault.Memberf("command", "%v", err)
	}
	w, h, rootless, err := s.geometry(sp.Geometry)
	if err != nil {
		return store.Session{}, err
	}
	if len(argv[0]) > 1024 {
		return store.Session{}, fault.Memberf("command", "names an overlong program")
	}
	id := sp.ID
	if id == "" {
		id = uuid.NewString()
	} else if !idRE().MatchString(id) {
		return store.Session{}, fault.Memberf("id", "must be 1 to 64 letters, digits, '_', '.' or '-'")
	}
	if s.o.MaxPerUser > 0 {
		running, err := s.st.ListSessions(ctx, store.SessionFilter{UserID: c.UserID, States: []string{StateStarting, StateRunning}})
		if err != nil {
			return store.Session{}, err
		}
		if len(running) >= s.o.MaxPerUser {
			return store.Session{}, fault.New(fault.TooMany,
				"you run %d sessions already, the most allowed; terminate one first", len(running))
		}
	}
	params := map[string]string{}
	for k, v := range sp.Params {
		if v != "" {
			params[k] = v
		}
	}
	if sp.Name != "" {
		params["name"] = sp.Name
	}
	mode := fastx.WindowModeDesktop
	if rootless {
		mode = fastx.WindowModeRootless
	}
	return store.Session{ID: id, UserID: c.UserID, Login: c.Login, Name: sp.Name, Command: sp.Command,
		Geometry: fmt.Sprintf("%dx%d", w, h), WindowMode: mode, Params: params, Hostname: s.o.Hostname}, nil
}

// launch places the session (on server want when given), stores the row as starting, starts the
// desktop and records it as running; on failure nothing is left running and no row remains.
func (s *Service) launch(ctx context.Context, c account.Caller, row *store.Session, want string) error {
	argv, _ := SplitCommand(row.Command)
	w, h, _, _ := fastx.ParseGeometry(row.Geometry)
	failed := map[string]string{} // servers whose start failed because they did not answer
again:
	// The placement and the starting row are one step: concurrent starts count each other's rows
	// (--max-sessions-per-server).
	s.placeMu.Lock()
	srv, err := s.placeExcept(ctx, c, want, failed)
	if err != nil {
		s.placeMu.Unlock()
		return err
	}
	spec := provider.Spec{ID: row.ID, Login: c.Login, UserID: c.UserID, ServerID: srv.ID, Command: argv, Width: w, Height: h,
		Depth: s.o.Depth, FrameRate: s.o.FrameRate, Rootless: row.WindowMode == fastx.WindowModeRootless}
	if srv.StoreID == 0 {
		// This host: the desktop runs as the account's Unix identity (or the host account itself).
		if spec.RunAs, err = s.runAs(c); err != nil {
			s.placeMu.Unlock()
			return err
		}
	} else {
		// An LXD instance: the image's own user; the account's SSH keys go into its home.
		keys, err := s.st.ListSSHKeys(ctx, c.UserID)
		if err != nil {
			s.placeMu.Unlock()
			return err
		}
		for _, k := range keys {
			spec.SSHKeys = append(spec.SSHKeys, k.PublicKey)
		}
	}
	scheduled := row.State == StateScheduled
	row.State = StateStarting
	row.ServerID = srv.StoreID
	if scheduled {
		err = s.st.UpdateSession(ctx, row)
	} else {
		err = s.st.CreateSession(ctx, row)
	}
	s.placeMu.Unlock()
	if errors.Is(err, store.ErrConflict) {
		return fault.Conflictf("a session with id %q exists already", row.ID)
	} else if err != nil {
		return err
	}
	d, err := s.prov.Start(ctx, spec)
	if err != nil {
		_ = s.st.DeleteSession(context.WithoutCancel(ctx), row.ID)
		if want == "" && ctx.Err() == nil && s.unreachable(ctx, srv, err) {
			// Placement chose a server that does not answer: the next one by the strategy.
			s.log.Warn("the desktop could not start on a server that does not answer; trying the next", "session", row.ID,
				"server", srv.ID, "name", srv.Name, "error", err)
			failed[srv.ID] = err.Error()
			row.State, row.ServerID = "", 0 // its row is gone: made anew
			goto again
		}
		if errors.Is(err, provider.ErrBadCommand) {
			return fault.Memberf("command", ": %v", err)
		}
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Kind == fault.Conflict {
			return err
		}
		if errors.Is(err, provider.ErrUnavailable) {
			return fault.Wrap(fault.Unavailable, err, err.Error())
		}
		s.log.Warn("desktop did not start", "session", row.ID, "server", srv.ID, "error", err)
		return fault.Wrap(fault.BadGateway, err, "the desktop could not be started on "+srv.ID+"; see the server log")
	}
	row.State = StateRunning
	row.Display, row.ServerPID, row.AppPID = d.Display, d.ServerPID, d.AppPID
	if d.Hostname != "" {
		row.Hostname = d.Hostname
	}
	row.StartedAt = d.StartedAt.UTC()
	row.Runtime = string(d.Runtime)
	if err := s.st.UpdateSession(context.WithoutCancel(ctx), row); err != nil {
		_ = s.prov.Stop(context.WithoutCancel(ctx), row.ID)
		_ = s.st.DeleteSession(context.WithoutCancel(ctx), row.ID)
		return err
	}
	s.remember(ctx, c.UserID, row)
	return nil
}

// remember puts a started command into the user's history.
func (s *Service) remember(ctx context.Context, userID int64, row *store.Session) {
	sum := sha256.Sum256([]byte(row.Command + "\x00" + row.Geometry + "\x00" + row.WindowMode))
	geom := row.Geometry
	if row.WindowMode == fastx.WindowModeRootless {
		geom = fastx.Rootless
	}
	b := store.Bookmark{ID: "h-" + hex.EncodeToString(sum[:6]), UserID: userID, Kind: kindHistory,
		Name: row.Name, Command: row.Command, Geometry: geom}
	if err := s.st.PutBookmark(ctx, &b); err != nil {
		s.log.Warn("history", "error", err)
	}
}

// connect issues a one-time secret for the display relay.
func (s *Service) connect(row store.Session, g display.Grant) fastx.Connect {
	secret := s.o.Secrets.Issue(g)
	mode := row.WindowMode
	return fastx.Connect{Geometry: row.Geometry, ID: row.ID, Login: row.Login, Params: nonNil(row.Params),
		Password: secret, Port: s.o.Port, WindowMode: mode, URL: "/ws/display/" + row.ID + "?secret=" + secret}
}

func nonNil(p map[string]string) fastx.Params {
	if p == nil {
		return fastx.Params{}
	}
	return p
}

// Connect answers a fresh connect object for one of the caller's running sessions, setting params.
func (s *Service) Connect(ctx context.Context, c account.Caller, id string, params map[string]string) (fastx.Connect, error) {
	row, err := s.live(ctx, c, id)
	if err != nil {
		return fastx.Connect{}, err
	}
	if err := s.thaw(ctx, id); err != nil {
		return fastx.Connect{}, err
	}
	if len(params) > 0 {
		if row, err = s.setParams(ctx, row, params); err != nil {
			return fastx.Connect{}, err
		}
	}
	return s.connect(row, grant(c, id)), nil
}

// Object converts a row to the session object.
func (s *Service) Object(row store.Session) fastx.Session {
	o := fastx.Session{AppPid: row.AppPID, Clients: s.o.Relay.Clients(row.ID), Command: row.Command, Display: row.Display,
		Geometry: row.Geometry, Hostname: row.Hostname, ID: row.ID, Login: row.Login, Params: nonNil(row.Params),
		ServerID: s.serverKey(row), ServerPid: row.ServerPID, Sharing: true, Started: row.StartedAt,
		WindowMode: row.WindowMode, Name: row.Name, State: row.State}
	if f, ok := s.prov.(provider.Freezer); ok && row.State == StateRunning {
		o.Frozen, _ = f.FreezeState(row.ID)
	}
	if o.Started.IsZero() {
		o.Started = row.ScheduledAt
	}
	if !row.LastConnect.IsZero() {
		t := row.LastConnect
		o.LastConnect = &t
	}
	if !row.LastDisconnect.IsZero() {
		t := row.LastDisconnect
		o.LastDisconnect = &t
	}
	return o
}

// Count is the number of the caller's running sessions.
func (s *Service) Count(ctx context.Context, c account.Caller) (int, error) {
	rows, err := s.st.ListSessions(ctx, store.SessionFilter{UserID: c.UserID, States: []string{StateStarting, StateRunning}})
	return len(rows), err
}

// Disconnect drops every client of the session.
func (s *Service) Disconnect(ctx context.Context, c account.Caller, id string) error {
	if _, err := s.own(ctx, c, id); err != nil {
		return err
	}
	s.o.Relay.Disconnect(id)
	return nil
}

// Terminate stops the session.
func (s *Service) Terminate(ctx context.Context, c account.Caller, id string) error {
	row, err := s.own(ctx, c, id)
	if err != nil {
		return err
	}
	if row.State == StateEnded {
		return fault.Conflictf("session %q has ended already", id)
	}
	s.mu.Lock()
	if t := s.timers[id]; t != nil {
		t.Stop()
		delete(s.timers, id)
	}
	s.mu.Unlock()
	if row.State != StateScheduled {
		if err := s.prov.Stop(ctx, id); err != nil {
			return err
		}
	}
	s.o.Relay.Disconnect(id)
	s.markEnded(ctx, id, "terminated")
	return nil
}

func (s *Service) setParams(ctx context.Context, row store.Session, params map[string]string) (store.Session, error) {
	if row.Params == nil {
		row.Params = map[string]string{}
	}
	for k, v := range params {
		if v == "" {
			delete(row.Params, k)
		} else {
			row.Params[k] = v
		}
	}
	if name, ok := params["name"]; ok {
		row.Name = name
	}
	return row, s.st.UpdateSession(ctx, &row)
}

// Params updates the session's parameters (an empty value deletes the key).
func (s *Service) Params(ctx context.Context, c account.Caller, id string, params map[string]string) (fastx.Params, error) {
	row, err := s.own(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if row, err = s.setParams(ctx, row, params); err != nil {
		return nil, err
	}
	return nonNil(row.Params), nil
}

// Log answers the end of the session's log.
func (s *Service) Log(ctx context.Context, c account.Caller, id string) (fastx.SessionLog, error) {
	if _, err := s.own(ctx, c, id); err != nil {
		return fastx.SessionLog{}, err
	}
	b, err := s.prov.Log(ctx, id, fastx.LogTailBytes+1)
	if errors.Is(err, provider.ErrNotFound) {
		return fastx.SessionLog{ID: id}, nil
	} else if err != nil {
		return fastx.SessionLog{}, err
	}
	out := fastx.SessionLog{ID: id, Size: int64(len(b))}
	if len(b) > fastx.LogTailBytes {
		b, out.Truncated = b[len(b)-fastx.LogTailBytes:], true
	}
	out.Log = strings.ToValidUTF8(string(b), "\uFFFD")
	return out, nil
}

// Screenshot answers a data URL of the session's screen.
func (s *Service) Screenshot(ctx context.Context, c account.Caller, id string, o provider.ScreenshotOptions) (string, error) {
	if _, err := s.live(ctx, c, id); err != nil {
		return "", err
	}
	if o.Format == "" {
		o.Format = fastx.FormatPNG
	}
	img, err := s.prov.Screenshot(ctx, id, o)
	if err != nil {
		return "", fault.Wrap(fault.BadGateway, err, "the screenshot could not be taken")
	}
	return "data:image/" + o.Format + ";base64," + base64.StdEncoding.EncodeToString(img), nil
}

// Exec runs a program in the session's display.
func (s *Service) Exec(ctx context.Context, c account.Caller, id string, argv []string) (int, error) {
	if _, err := s.live(ctx, c, id); err != nil {
		return 0, err
	}
	pid, err := s.prov.Exec(ctx, id, argv)
	if errors.Is(err, provider.ErrBadCommand) {
		return 0, fault.Memberf("command", ": %v", err)
	}
	return pid, err
}

// SetClients records a client connecting or leaving (from the relay).
func (s *Service) SetClients(id string, connected bool, at time.Time) {
	ctx := context.Background()
	err := s.st.InTx(ctx, func(tx store.Store) error {
		row, err := tx.GetSession(ctx, id)
		if err != nil {
			return err
		}
		if connected {
			row.LastConnect = at.UTC()
		} else {
			row.LastDisconnect = at.UTC()
		}
		return tx.UpdateSession(ctx, &row)
	})
	if err != nil {
		s.log.Warn("recording a client", "session", id, "error", err)
	}
}
