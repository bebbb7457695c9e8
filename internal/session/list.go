package session

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/store"
)

// session/list and system/session/list: the filters, the order and the page are handed to the store
// (store.SessionQuery), which does them in SQL through indexes. What the database does not hold —
// the live client count, the serverId text, the connect times as text — is done here on the session
// objects (Page), after the database has applied the rest.
//
// The answers are those of Page over every listed session, which states the semantics:
//   - a filter "name==v1,v2" keeps the objects whose member name (a member of params when the object
//     has no such member) is, as text (numbers in decimal, booleans true/false, times RFC 3339), one of
//     the values; several filters all apply;
//   - sortBy orders by a member as its type: text byte-wise, numbers numerically, times in time (no
//     time first); by a member of params: missing or empty first, then numbers by value, then other
//     text byte-wise. Ties keep the list order (started sessions in start order, then the others,
//     by id). sortReverse reverses the whole list, then start and limit page it.

// ListOptions are session/list's parameters.
type ListOptions struct {
	Start       int
	Limit       *int
	SortBy      string
	SortReverse bool
	Filter      []string
	AllUsers    bool
}

// memberKind is how the store can take a session object member.
type memberKind int

const (
	memberParam    memberKind = iota // not a member: a params member
	memberText                       // a text column
	memberInt                        // an integer column
	memberConst                      // the same value on every object
	memberServerID                   // serverId: filtered by the server column, sorted here
	memberStarted                    // started: sorted by the store, filtered here (times as text)
	memberLive                       // not in the store as it is answered: filtered and sorted here
)

type member struct {
	kind   memberKind
	column string // memberText, memberInt
	value  string // memberConst: the member's value as text
}

// members are the session object's members (fastx.Session's JSON names). params is not among
// them: as an object it never equals a filter value, so "params" names a parameter like any other
// name.
var members = map[string]member{
	"appPid": {kind: memberInt, column: store.ColAppPID}, "serverPid": {kind: memberInt, column: store.ColServerPID},
	"command": {kind: memberText, column: store.ColCommand}, "display": {kind: memberText, column: store.ColDisplay},
	"geometry": {kind: memberText, column: store.ColGeometry}, "hostname": {kind: memberText, column: store.ColHostname},
	"id": {kind: memberText, column: store.ColID}, "login": {kind: memberText, column: store.ColLogin},
	"name": {kind: memberText, column: store.ColName}, "windowMode": {kind: memberText, column: store.ColWindowMode},
	"state":         {kind: memberText, column: store.ColState},
	"cpuPercentage": {kind: memberConst, value: "0"}, "disconnectTimeout": {kind: memberConst, value: "0"},
	"videoRam": {kind: memberConst, value: "0"}, "sharing": {kind: memberConst, value: "true"},
	"serverId": {kind: memberServerID}, "started": {kind: memberStarted},
	"clients": {kind: memberLive}, "lastConnect": {kind: memberLive}, "lastDisconnect": {kind: memberLive},
	"frozen": {kind: memberLive},
}

// parseFilters checks the filters (fault.Invalid naming filter[i]).
func parseFilters(fs []string) ([]filter, error) {
	var out []filter
	for i, f := range fs {
		name, values, err := fastx.ParseFilter(f)
		if err != nil {
			return nil, fault.Memberf(fmt.Sprintf("filter[%d]", i), ": %v", err)
		}
		out = append(out, filter{name, values})
	}
	return out, nil
}

type filter struct {
	name   string
	values []string
}

// List answers the caller's running sessions (all users' with AllUsers), filtered, sorted and paged.
func (s *Service) List(ctx context.Context, c account.Caller, o ListOptions) ([]fastx.Session, error) {
	filters, err := parseFilters(o.Filter)
	if err != nil {
		return nil, err
	}
	q := store.SessionQuery{SessionFilter: store.SessionFilter{States: []string{StateStarting, StateRunning}}, Limit: -1}
	if !o.AllUsers {
		q.UserID = c.UserID
	}
	var rest []string // filters left for Page
	for i, f := range filters {
		m := members[f.name]
		switch m.kind {
		case memberParam:
			q.Match = append(q.Match, store.SessionMatch{Field: store.SessionField{Param: f.name}, Values: f.values})
		case memberText:
			q.Match = append(q.Match, store.SessionMatch{Field: store.SessionField{Column: m.column}, Values: f.values})
		case memberInt:
			ints := canonicalInts(f.values, func(v string) (int64, bool) {
				n, err := strconv.ParseInt(v, 10, 64)
				return n, err == nil && strconv.FormatInt(n, 10) == v
			})
			if len(ints) == 0 {
				return []fastx.Session{}, nil
			}
			q.Match = append(q.Match, store.SessionMatch{Field: store.SessionField{Column: m.column}, Ints: ints})
		case memberServerID:
			ints := canonicalInts(f.values, s.storedServer)
			if len(ints) == 0 {
				return []fastx.Session{}, nil
			}
			q.Match = append(q.Match, store.SessionMatch{Field: store.SessionField{Column: store.ColServerID}, Ints: ints})
		case memberConst:
			if !slices.Contains(f.values, m.value) {
				return []fastx.Session{}, nil
			}
		default:
			rest = append(rest, o.Filter[i])
		}
	}
	sortHere := false
	if o.SortBy != "" {
		switch m := members[o.SortBy]; m.kind {
		case memberParam:
			q.SortBy = &store.SessionField{Param: o.SortBy}
		case memberText, memberInt:
			q.SortBy = &store.SessionField{Column: m.column}
		case memberStarted:
			q.SortBy = &store.SessionField{Column: store.ColStarted}
		case memberConst: // every object ties: the list order
		default:
			sortHere = true
		}
	}
	if len(rest) == 0 && !sortHere {
		q.Reverse, q.Offset = o.SortReverse, o.Start
		if o.Limit != nil {
			q.Limit = *o.Limit
		}
		return s.objects(s.st.QuerySessions(ctx, q))
	}
	// Page does what needs the objects, over what the database kept.
	q.SortBy = nil
	objs, err := s.objects(s.st.QuerySessions(ctx, q))
	if err != nil {
		return nil, err
	}
	return Page(objs, ListOptions{Start: o.Start, Limit: o.Limit, SortBy: o.SortBy, SortReverse: o.SortReverse, Filter: rest})
}

// canonicalInts keeps the values that are the text of an integer (as a filter compares them: an
// integer member matches only its own decimal text).
func canonicalInts(values []string, parse func(string) (int64, bool)) []int64 {
	var out []int64
	for _, v := range values {
		if n, ok := parse(v); ok {
			out = append(out, n)
		}
	}
	return out
}

// storedServer is the server column value of a serverId (0: this host), if it is one.
func (s *Service) storedServer(v string) (int64, bool) {
	if v == s.o.ServerID {
		return 0, true
	}
	for _, prefix := range []string{"lxd-"} {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			n, err := strconv.ParseInt(rest, 10, 64)
			if err == nil && n > 0 && provider.StoredServerID(n) == v {
				return n, true
			}
		}
	}
	return 0, false
}

func (s *Service) objects(rows []store.Session, err error) ([]fastx.Session, error) {
	if err != nil {
		return nil, err
	}
	objs := make([]fastx.Session, 0, len(rows))
	for _, r := range rows {
		objs = append(objs, s.Object(r))
	}
	return objs, nil
}

// Page filters, sorts and pages session objects as session/list does (see the top of this file).
func Page(objs []fastx.Session, o ListOptions) ([]fastx.Session, error) {
	filters, err := parseFilters(o.Filter)
	if err != nil {
		return nil, err
	}
	out := make([]fastx.Session, 0, len(objs))
	if len(filters) == 0 {
		out = append(out, objs...)
	} else {
		for _, obj := range objs {
			m := flatten(obj)
			ok := true
			for _, f := range filters {
				v, present := m[f.name]
				if !present || !slices.Contains(f.values, v) {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, obj)
			}
		}
	}
	if o.SortBy != "" {
		slices.SortStableFunc(out, func(a, b fastx.Session) int { return compareBy(a, b, o.SortBy) })
	}
	if o.SortReverse {
		slices.Reverse(out)
	}
	if o.Start > len(out) {
		return []fastx.Session{}, nil
	}
	out = out[o.Start:]
	if o.Limit != nil && *o.Limit < len(out) {
		out = out[:*o.Limit]
	}
	return out, nil
}

// compareBy orders two session objects by a member as its type, or by a params member.
func compareBy(a, b fastx.Session, by string) int {
	switch by {
	case "appPid":
		return cmp.Compare(a.AppPid, b.AppPid)
	case "serverPid":
		return cmp.Compare(a.ServerPid, b.ServerPid)
	case "clients":
		return cmp.Compare(a.Clients, b.Clients)
	case "cpuPercentage":
		return cmp.Compare(a.CPUPercentage, b.CPUPercentage)
	case "disconnectTimeout":
		return cmp.Compare(a.DisconnectTimeout, b.DisconnectTimeout)
	case "videoRam":
		return cmp.Compare(a.VideoRAM, b.VideoRAM)
	case "sharing":
		return boolInt(a.Sharing) - boolInt(b.Sharing)
	case "command":
		return strings.Compare(a.Command, b.Command)
	case "display":
		return strings.Compare(a.Display, b.Display)
	case "geometry":
		return strings.Compare(a.Geometry, b.Geometry)
	case "hostname":
		return strings.Compare(a.Hostname, b.Hostname)
	case "id":
		return strings.Compare(a.ID, b.ID)
	case "login":
		return strings.Compare(a.Login, b.Login)
	case "name":
		return strings.Compare(a.Name, b.Name)
	case "windowMode":
		return strings.Compare(a.WindowMode, b.WindowMode)
	case "state":
		return strings.Compare(a.State, b.State)
	case "serverId":
		return strings.Compare(a.ServerID, b.ServerID)
	case "started":
		return a.Started.Compare(b.Started)
	case "lastConnect":
		return compareTimes(a.LastConnect, b.LastConnect)
	case "lastDisconnect":
		return compareTimes(a.LastDisconnect, b.LastDisconnect)
	}
	return compareParams(a.Params[by], b.Params[by])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareTimes[T interface{ Compare(T) int }](a, b *T) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return (*a).Compare(*b)
}

// compareParams orders parameter values: empty (or missing) first, then numbers by value, then other
// text byte-wise — the order the store's session_params.num gives.
func compareParams(a, b string) int {
	ca, na := paramClass(a)
	cb, nb := paramClass(b)
	if ca != cb {
		return ca - cb
	}
	if ca == 1 {
		return cmp.Compare(na, nb)
	}
	return strings.Compare(a, b)
}

func paramClass(v string) (int, float64) {
	if v == "" {
		return 0, 0
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) {
		return 1, f
	}
	return 2, 0
}

// flatten gives a session object's members as strings (params too; a session member wins over a param
// of the same name), for filtering.
func flatten(o fastx.Session) map[string]string {
	m := map[string]string{}
	for k, v := range o.Params {
		m[k] = v
	}
	b, _ := json.Marshal(o)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			m[k] = x
		case float64:
			m[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			m[k] = strconv.FormatBool(x)
		}
	}
	return m
}
