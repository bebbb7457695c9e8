package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// Conformance tests for the LXD infrastructure tables: instances, operations
// and settings.

func mkServer(t *testing.T, s store.Store, name string) store.Server {
	t.Helper()
	v := store.Server{Name: name, Provider: "lxd", Protocol: "https", Host: "127.0.0.1", Port: 8443}
	must(t, s.CreateServer(ctx(t), &v))
	if v.ID == 0 {
		t.Fatal("CreateServer did not set ID")
	}
	return v
}

func mkInstance(t *testing.T, s store.Store, serverID, ownerID int64, name string) store.Instance {
	t.Helper()
	v := store.Instance{ServerID: serverID, OwnerID: ownerID, Name: name}
	must(t, s.CreateInstance(ctx(t), &v))
	if v.ID == 0 {
		t.Fatal("CreateInstance did not set ID")
	}
	return v
}

func instanceIDs(list []store.Instance) []int64 {
	var out []int64
	for _, v := range list {
		out = append(out, v.ID)
	}
	return out
}

func testInstances(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	srv := mkServer(t, s, "lxd1")

	in := store.Instance{ServerID: srv.ID, Name: "desk-1", OwnerID: u.ID, CreatedAt: ts(0)}
	must(t, s.CreateInstance(c, &in))
	if in.ID == 0 {
		t.Fatal("CreateInstance did not set ID")
	}
	got, err := s.GetInstance(c, in.ID)
	must(t, err)
	equal(t, "GetInstance", got, in)
	got, err = s.GetInstanceByName(c, srv.ID, "desk-1")
	must(t, err)
	equal(t, "GetInstanceByName", got, in)

	// Defaults: no owner reads back as 0, CreatedAt is set in UTC.
	free := store.Instance{ServerID: srv.ID, Name: "desk-2"}
	must(t, s.CreateInstance(c, &free))
	if free.CreatedAt.IsZero() || free.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateInstance did not set CreatedAt in UTC: %+v", free)
	}
	got, err = s.GetInstance(c, free.ID)
	must(t, err)
	equal(t, "unowned instance", got, free)

	// Ensure returns the existing row untouched ...
	got, err = s.EnsureInstance(c, srv.ID, "desk-1")
	must(t, err)
	equal(t, "EnsureInstance(existing)", got, in)
	// ... and creates a missing one, unowned, once.
	e1, err := s.EnsureInstance(c, srv.ID, "imported")
	must(t, err)
	if e1.ID == 0 || e1.ServerID != srv.ID || e1.Name != "imported" || e1.OwnerID != 0 || e1.CreatedAt.IsZero() {
		t.Fatalf("EnsureInstance(new) = %+v", e1)
	}
	e2, err := s.EnsureInstance(c, srv.ID, "imported")
	must(t, err)
	equal(t, "EnsureInstance twice", e2, e1)
	got, err = s.GetInstanceByName(c, srv.ID, "imported")
	must(t, err)
	equal(t, "ensured instance", got, e1)
	all, err := s.ListInstances(c, srv.ID)
	count(t, "ListInstances after Ensure", all, err, 3)

	// Not found.
	_, err = s.GetInstance(c, 9999)
	isErr(t, err, store.ErrNotFound, "GetInstance(9999)")
	_, err = s.GetInstanceByName(c, srv.ID, "nope")
	isErr(t, err, store.ErrNotFound, "GetInstanceByName(nope)")
	_, err = s.GetInstanceByName(c, 9999, "desk-1")
	isErr(t, err, store.ErrNotFound, "GetInstanceByName(other server)")
	isErr(t, s.UpdateInstance(c, &store.Instance{ID: 9999, Name: "x"}), store.ErrNotFound, "UpdateInstance(9999)")
	isErr(t, s.DeleteInstance(c, 9999), store.ErrNotFound, "DeleteInstance(9999)")

	// Update: owner and name change, server and CreatedAt stay.
	b := mkUser(t, s, "bob")
	in.OwnerID, in.Name = b.ID, "desk-1b"
	must(t, s.UpdateInstance(c, &in))
	got, err = s.GetInstance(c, in.ID)
	must(t, err)
	equal(t, "after UpdateInstance", got, in)
	_, err = s.GetInstanceByName(c, srv.ID, "desk-1")
	isErr(t, err, store.ErrNotFound, "old name after rename")
	in.OwnerID = 0
	must(t, s.UpdateInstance(c, &in))
	got, err = s.GetInstance(c, in.ID)
	must(t, err)
	equal(t, "after clearing owner", got, in)

	// Delete.
	must(t, s.DeleteInstance(c, in.ID))
	_, err = s.GetInstance(c, in.ID)
	isErr(t, err, store.ErrNotFound, "GetInstance(deleted)")
	isErr(t, s.DeleteInstance(c, in.ID), store.ErrNotFound, "DeleteInstance twice")
	all, err = s.ListInstances(c, srv.ID)
	count(t, "ListInstances after delete", all, err, 2)
	equal(t, "remaining instances", instanceIDs(all), []int64{free.ID, e1.ID})
}

func testInstanceConflicts(t *testing.T, s store.Store) {
	c := ctx(t)
	s1 := mkServer(t, s, "s1")
	s2 := mkServer(t, s, "s2")
	a := mkInstance(t, s, s1.ID, 0, "web")
	isErr(t, s.CreateInstance(c, &store.Instance{ServerID: s1.ID, Name: "web"}), store.ErrConflict, "duplicate name on a server")

	// The same name on another server is a different instance.
	b := mkInstance(t, s, s2.ID, 0, "web")
	if b.ID == a.ID {
		t.Fatal("instances on two servers share an id")
	}
	got, err := s.GetInstanceByName(c, s2.ID, "web")
	must(t, err)
	equal(t, "GetInstanceByName(s2)", got, b)
	got, err = s.GetInstanceByName(c, s1.ID, "web")
	must(t, err)
	equal(t, "GetInstanceByName(s1)", got, a)
	e, err := s.EnsureInstance(c, s2.ID, "web")
	must(t, err)
	equal(t, "EnsureInstance(s2)", e, b)

	// Renaming onto a taken name conflicts and changes nothing.
	x := mkInstance(t, s, s1.ID, 0, "db")
	x.Name = "web"
	isErr(t, s.UpdateInstance(c, &x), store.ErrConflict, "rename to taken name")
	got, err = s.GetInstance(c, x.ID)
	must(t, err)
	if got.Name != "db" {
		t.Errorf("failed rename changed the name to %q", got.Name)
	}
	// Renaming to a name only used on another server is fine.
	y := mkInstance(t, s, s2.ID, 0, "db2")
	y.Name = "db"
	must(t, s.UpdateInstance(c, &y))

	all, err := s.ListInstances(c, 0)
	count(t, "ListInstances(0)", all, err, 4)
}

func testEnsureInstanceConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	srv := mkServer(t, s, "lxd1")
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  []store.Instance
		errs []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			v, err := s.EnsureInstance(c, srv.ID, "race")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got = append(got, v)
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent EnsureInstance failed: %v", errs)
	}
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	for _, v := range got[1:] {
		equal(t, "concurrent EnsureInstance result", v, got[0])
	}
	all, err := s.ListInstances(c, srv.ID)
	count(t, "instances after concurrent Ensure", all, err, 1)
	equal(t, "the one row", all[0], got[0])
}

func testInstanceLists(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	s1 := mkServer(t, s, "s1")
	s2 := mkServer(t, s, "s2")
	i1 := mkInstance(t, s, s1.ID, a.ID, "i1")
	i2 := mkInstance(t, s, s2.ID, a.ID, "i2")
	i3 := mkInstance(t, s, s1.ID, b.ID, "i3")
	i4 := mkInstance(t, s, s1.ID, 0, "i4")

	all, err := s.ListInstances(c, 0)
	count(t, "ListInstances(0)", all, err, 4)
	equal(t, "ListInstances(0)", all, []store.Instance{i1, i2, i3, i4})
	on1, err := s.ListInstances(c, s1.ID)
	count(t, "ListInstances(s1)", on1, err, 3)
	equal(t, "ListInstances(s1)", on1, []store.Instance{i1, i3, i4})
	on2, err := s.ListInstances(c, s2.ID)
	count(t, "ListInstances(s2)", on2, err, 1)
	equal(t, "ListInstances(s2)", on2[0], i2)
	none, err := s.ListInstances(c, 9999)
	count(t, "ListInstances(missing server)", none, err, 0)

	mine, err := s.ListInstancesByOwner(c, a.ID)
	count(t, "ListInstancesByOwner(alice)", mine, err, 2)
	equal(t, "ListInstancesByOwner(alice)", mine, []store.Instance{i1, i2})
	bobs, err := s.ListInstancesByOwner(c, b.ID)
	count(t, "ListInstancesByOwner(bob)", bobs, err, 1)
	equal(t, "ListInstancesByOwner(bob)", bobs[0], i3)

	// Handing an instance over moves it between owners' lists.
	i1.OwnerID = b.ID
	must(t, s.UpdateInstance(c, &i1))
	mine, err = s.ListInstancesByOwner(c, a.ID)
	count(t, "alice's after handover", mine, err, 1)
	equal(t, "alice's after handover", mine[0], i2)
	bobs, err = s.ListInstancesByOwner(c, b.ID)
	count(t, "bob's after handover", bobs, err, 2)
	equal(t, "bob's after handover", instanceIDs(bobs), []int64{i1.ID, i3.ID})
}

func testInstanceCascade(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	s1 := mkServer(t, s, "s1")
	s2 := mkServer(t, s, "s2")
	i1 := mkInstance(t, s, s1.ID, a.ID, "i1")
	i2 := mkInstance(t, s, s1.ID, b.ID, "i2")
	i3 := mkInstance(t, s, s2.ID, a.ID, "i3")
	i4 := mkInstance(t, s, s2.ID, b.ID, "i4")

	// Deleting a user keeps their instances, unowned.
	must(t, s.DeleteUser(c, a.ID))
	for _, want := range []store.Instance{i1, i3} {
		got, err := s.GetInstance(c, want.ID)
		must(t, err)
		want.OwnerID = 0
		equal(t, "instance of deleted user", got, want)
	}
	mine, err := s.ListInstancesByOwner(c, a.ID)
	count(t, "ListInstancesByOwner(deleted user)", mine, err, 0)
	bobs, err := s.ListInstancesByOwner(c, b.ID)
	count(t, "other user's instances", bobs, err, 2)

	// Deleting a server deletes its instances, and only those.
	must(t, s.DeleteServer(c, s1.ID))
	for _, id := range []int64{i1.ID, i2.ID} {
		_, err := s.GetInstance(c, id)
		isErr(t, err, store.ErrNotFound, "instance of deleted server")
	}
	on1, err := s.ListInstances(c, s1.ID)
	count(t, "ListInstances(deleted server)", on1, err, 0)
	all, err := s.ListInstances(c, 0)
	count(t, "instances left", all, err, 2)
	i3.OwnerID = 0
	equal(t, "instances left", all, []store.Instance{i3, i4})
}

func testOperations(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	srv := mkServer(t, s, "lxd1")
	in := mkInstance(t, s, srv.ID, u.ID, "desk-1")

	op := store.Operation{ID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", UserID: u.ID, ServerID: srv.ID,
		InstanceID: in.ID, InstanceName: in.Name, Kind: "instance.action", Action: "start", RequestID: "req-1",
		Status: store.OperationPending, Spec: `{"force":true,"name":"ü"}`, CreatedAt: ts(0), UpdatedAt: ts(time.Second)}
	must(t, s.CreateOperation(c, &op))
	got, err := s.GetOperation(c, op.ID)
	must(t, err)
	equal(t, "GetOperation", got, op)
	isErr(t, s.CreateOperation(c, &store.Operation{ID: op.ID, UserID: u.ID, Kind: "instance.add"}), store.ErrConflict,
		"duplicate operation id")

	// Defaults: generated id, pending, CreatedAt = UpdatedAt = now; empty
	// ids and times read back as zero.
	add := store.Operation{UserID: u.ID, Kind: "instance.add", InstanceName: "desk-2", Spec: `{}`}
	before := time.Now().Add(-time.Second)
	must(t, s.CreateOperation(c, &add))
	if len(add.ID) != 36 || add.Status != store.OperationPending {
		t.Errorf("CreateOperation defaults: id %q status %q", add.ID, add.Status)
	}
	if add.CreatedAt.Before(before) || !add.UpdatedAt.Equal(add.CreatedAt) || add.CreatedAt.Location() != time.UTC {
		t.Errorf("CreateOperation times: created %v updated %v", add.CreatedAt, add.UpdatedAt)
	}
	got, err = s.GetOperation(c, add.ID)
	must(t, err)
	equal(t, "operation with defaults", got, add)
	if got.ServerID != 0 || got.InstanceID != 0 || !got.FinishedAt.IsZero() || !got.ReportedAt.IsZero() {
		t.Errorf("zero fields did not read back as zero: %+v", got)
	}

	// Update: everything but ID, UserID, Kind and CreatedAt.
	o := mkUser(t, s, "bob")
	srv2 := mkServer(t, s, "lxd2")
	upd := op
	upd.UserID, upd.Kind, upd.CreatedAt = o.ID, "instance.add", ts(time.Hour) // ignored
	upd.ServerID, upd.InstanceID, upd.InstanceName = srv2.ID, 4242, "desk-1x"
	upd.Action, upd.RequestID, upd.Status = "stop", "req-2", store.OperationFailure
	upd.Error, upd.LXDOperation, upd.Spec = "instance is busy", "/1.0/operations/abc", `{"x":1}`
	upd.UpdatedAt, upd.FinishedAt, upd.ReportedAt = ts(2*time.Second), ts(3*time.Second), ts(4*time.Second)
	must(t, s.UpdateOperation(c, &upd))
	got, err = s.GetOperation(c, op.ID)
	must(t, err)
	want := upd
	want.UserID, want.Kind, want.CreatedAt = op.UserID, op.Kind, op.CreatedAt
	equal(t, "after UpdateOperation", got, want)

	// A zero UpdatedAt becomes now; zero ids and times clear the columns.
	upd2 := want
	upd2.UpdatedAt, upd2.FinishedAt, upd2.ReportedAt = time.Time{}, time.Time{}, time.Time{}
	upd2.ServerID, upd2.InstanceID, upd2.Error, upd2.Status = 0, 0, "", store.OperationRunning
	must(t, s.UpdateOperation(c, &upd2))
	if upd2.UpdatedAt.Before(before) {
		t.Errorf("UpdateOperation did not set UpdatedAt to now: %v", upd2.UpdatedAt)
	}
	got, err = s.GetOperation(c, op.ID)
	must(t, err)
	equal(t, "after UpdateOperation with zero fields", got, upd2)

	// Not found, missing parents.
	_, err = s.GetOperation(c, "nope")
	isErr(t, err, store.ErrNotFound, "GetOperation(nope)")
	isErr(t, s.UpdateOperation(c, &store.Operation{ID: "nope", Status: "x"}), store.ErrNotFound, "UpdateOperation(nope)")
	upd2.ServerID = 9999
	isErr(t, s.UpdateOperation(c, &upd2), store.ErrNotFound, "UpdateOperation to missing server")
	got, err = s.GetOperation(c, op.ID)
	must(t, err)
	if got.ServerID != 0 {
		t.Errorf("failed update changed server to %d", got.ServerID)
	}
	// An instance id is not checked: the instance may already be gone.
	gone := store.Operation{UserID: u.ID, ServerID: srv.ID, InstanceID: 9999, Kind: "instance.action", Action: "delete"}
	must(t, s.CreateOperation(c, &gone))
	got, err = s.GetOperation(c, gone.ID)
	must(t, err)
	equal(t, "operation on a missing instance", got, gone)
}

func testOperationFilter(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	mk := func(uid int64, status string, created time.Duration, finished, reported time.Time) store.Operation {
		t.Helper()
		op := store.Operation{UserID: uid, Kind: "instance.add", Status: status, CreatedAt: ts(created),
			FinishedAt: finished, ReportedAt: reported}
		must(t, s.CreateOperation(c, &op))
		return op
	}
	// Created out of order: lists are oldest first by CreatedAt.
	a3 := mk(a.ID, store.OperationSuccess, 3*time.Second, ts(4*time.Second), time.Time{}) // finished, unreported
	a1 := mk(a.ID, store.OperationPending, 1*time.Second, time.Time{}, time.Time{})
	b1 := mk(b.ID, store.OperationRunning, 2*time.Second, time.Time{}, time.Time{})
	a2 := mk(a.ID, store.OperationFailure, 2*time.Second+time.Microsecond, ts(5*time.Second), ts(6*time.Second)) // reported
	b2 := mk(b.ID, store.OperationFailure, 5*time.Second, ts(6*time.Second), time.Time{})                        // finished, unreported
	b0 := mk(b.ID, store.OperationSuccess, 0, ts(time.Second), ts(time.Second))                                  // reported

	ids := func(f store.OperationFilter) []string {
		t.Helper()
		list, err := s.ListOperations(c, f)
		must(t, err)
		var out []string
		for _, v := range list {
			out = append(out, v.ID)
		}
		return out
	}
	equal(t, "all", ids(store.OperationFilter{}), []string{b0.ID, a1.ID, b1.ID, a2.ID, a3.ID, b2.ID})
	equal(t, "user a", ids(store.OperationFilter{UserID: a.ID}), []string{a1.ID, a2.ID, a3.ID})
	equal(t, "user b", ids(store.OperationFilter{UserID: b.ID}), []string{b0.ID, b1.ID, b2.ID})
	equal(t, "missing user", ids(store.OperationFilter{UserID: 9999}), []string(nil))
	equal(t, "pending|running", ids(store.OperationFilter{States: []string{store.OperationPending, store.OperationRunning}}),
		[]string{a1.ID, b1.ID})
	equal(t, "failure", ids(store.OperationFilter{States: []string{store.OperationFailure}}), []string{a2.ID, b2.ID})
	equal(t, "success of a", ids(store.OperationFilter{UserID: a.ID, States: []string{store.OperationSuccess}}), []string{a3.ID})
	equal(t, "unknown state", ids(store.OperationFilter{States: []string{"nope"}}), []string(nil))
	equal(t, "unreported", ids(store.OperationFilter{Unreported: true}), []string{a3.ID, b2.ID})
	equal(t, "unreported of b", ids(store.OperationFilter{UserID: b.ID, Unreported: true}), []string{b2.ID})
	equal(t, "unreported failures", ids(store.OperationFilter{Unreported: true, States: []string{store.OperationFailure}}),
		[]string{b2.ID})

	// Whole rows come back.
	list, err := s.ListOperations(c, store.OperationFilter{UserID: a.ID})
	count(t, "ListOperations(a)", list, err, 3)
	equal(t, "ListOperations(a)", list, []store.Operation{a1, a2, a3})

	// Marking an outcome delivered takes it off the unreported list.
	a3.ReportedAt = ts(7 * time.Second)
	must(t, s.UpdateOperation(c, &a3))
	equal(t, "unreported after report", ids(store.OperationFilter{Unreported: true}), []string{b2.ID})
}

func testOperationCascade(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	s1 := mkServer(t, s, "s1")
	s2 := mkServer(t, s, "s2")
	in := mkInstance(t, s, s1.ID, a.ID, "i1")
	mk := func(uid, sid, iid int64) store.Operation {
		t.Helper()
		op := store.Operation{UserID: uid, ServerID: sid, InstanceID: iid, Kind: "instance.action", Action: "start"}
		must(t, s.CreateOperation(c, &op))
		return op
	}
	a1 := mk(a.ID, s1.ID, in.ID)
	b1 := mk(b.ID, s1.ID, in.ID)
	b2 := mk(b.ID, s2.ID, 0)

	// Deleting the instance row leaves its operations alone.
	must(t, s.DeleteInstance(c, in.ID))
	got, err := s.GetOperation(c, b1.ID)
	must(t, err)
	equal(t, "operation of deleted instance", got, b1)

	// Deleting a server clears it from its operations and keeps them.
	must(t, s.DeleteServer(c, s1.ID))
	for _, want := range []store.Operation{a1, b1} {
		got, err := s.GetOperation(c, want.ID)
		must(t, err)
		want.ServerID = 0
		equal(t, "operation of deleted server", got, want)
	}
	got, err = s.GetOperation(c, b2.ID)
	must(t, err)
	equal(t, "operation on other server", got, b2)

	// Deleting a user deletes their operations, and only those.
	must(t, s.DeleteUser(c, a.ID))
	_, err = s.GetOperation(c, a1.ID)
	isErr(t, err, store.ErrNotFound, "operation of deleted user")
	list, err := s.ListOperations(c, store.OperationFilter{UserID: a.ID})
	count(t, "ListOperations(deleted user)", list, err, 0)
	list, err = s.ListOperations(c, store.OperationFilter{})
	count(t, "operations left", list, err, 2)
	if list[0].UserID != b.ID || list[1].UserID != b.ID {
		t.Errorf("wrong operations left: %+v", list)
	}
}

func testSettings(t *testing.T, s store.Store) {
	c := ctx(t)
	_, err := s.GetSetting(c, "lxd.client")
	isErr(t, err, store.ErrNotFound, "GetSetting(unset)")

	must(t, s.PutSetting(c, "lxd.client", "cert-1"))
	v, err := s.GetSetting(c, "lxd.client")
	must(t, err)
	equal(t, "GetSetting", v, "cert-1")
	must(t, s.PutSetting(c, "lxd.client", "cert-2\nwith ü"))
	v, err = s.GetSetting(c, "lxd.client")
	must(t, err)
	equal(t, "GetSetting after overwrite", v, "cert-2\nwith ü")
	must(t, s.PutSetting(c, "empty", ""))
	v, err = s.GetSetting(c, "empty")
	must(t, err)
	equal(t, "empty value", v, "")

	// CreateSetting only sets an unset name.
	must(t, s.CreateSetting(c, "lxd.key", "k1"))
	v, err = s.GetSetting(c, "lxd.key")
	must(t, err)
	equal(t, "CreateSetting", v, "k1")
	isErr(t, s.CreateSetting(c, "lxd.key", "k2"), store.ErrConflict, "CreateSetting(set)")
	isErr(t, s.CreateSetting(c, "empty", "x"), store.ErrConflict, "CreateSetting(set to empty)")
	v, err = s.GetSetting(c, "lxd.key")
	must(t, err)
	equal(t, "value after failed CreateSetting", v, "k1")
	// Put still overwrites a created value; names are separate.
	must(t, s.PutSetting(c, "lxd.key", "k3"))
	v, err = s.GetSetting(c, "lxd.key")
	must(t, err)
	equal(t, "PutSetting over created", v, "k3")
	v, err = s.GetSetting(c, "lxd.client")
	must(t, err)
	equal(t, "other setting", v, "cert-2\nwith ü")
	_, err = s.GetSetting(c, "LXD.CLIENT")
	isErr(t, err, store.ErrNotFound, "names are case-sensitive")

	// A lost CreateSetting race inside a transaction leaves it usable.
	err = s.InTx(c, func(tx store.Store) error {
		if err := tx.CreateSetting(c, "lxd.key", "k4"); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("CreateSetting in tx: %v", err)
		}
		return tx.PutSetting(c, "after", "ok")
	})
	must(t, err)
	v, err = s.GetSetting(c, "after")
	must(t, err)
	equal(t, "write after conflict in tx", v, "ok")
}

func testCreateSettingConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	const n = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		winners  []string
		failures []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			val := fmt.Sprint("v", i)
			err := s.CreateSetting(c, "identity", val)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, val)
			case !errors.Is(err, store.ErrConflict):
				failures = append(failures, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 || len(failures) > 0 {
		t.Fatalf("%d of %d concurrent CreateSetting calls won (want 1); unexpected errors: %v", len(winners), n, failures)
	}
	v, err := s.GetSetting(c, "identity")
	must(t, err)
	equal(t, "stored value is the winner's", v, winners[0])
}

func testInfraForeignKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	const missing = 9999
	u := mkUser(t, s, "alice")
	srv := mkServer(t, s, "s")
	checks := []struct {
		what string
		err  error
	}{
		{"instance on missing server", s.CreateInstance(c, &store.Instance{ServerID: missing, Name: "i"})},
		{"instance of missing owner", s.CreateInstance(c, &store.Instance{ServerID: srv.ID, OwnerID: missing, Name: "i"})},
		{"operation of missing user", s.CreateOperation(c, &store.Operation{UserID: missing, Kind: "instance.add"})},
		{"operation on missing server", s.CreateOperation(c, &store.Operation{UserID: u.ID, ServerID: missing, Kind: "instance.add"})},
	}
	for _, ch := range checks {
		isErr(t, ch.err, store.ErrNotFound, ch.what)
	}
	_, err := s.EnsureInstance(c, missing, "i")
	isErr(t, err, store.ErrNotFound, "EnsureInstance on missing server")
	// The messages name the parent.
	err = s.CreateInstance(c, &store.Instance{ServerID: missing, Name: "i"})
	if want := fmt.Sprintf("server %d", missing); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	err = s.CreateOperation(c, &store.Operation{UserID: missing, Kind: "instance.add"})
	if want := fmt.Sprintf("user %d", missing); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}

	in := mkInstance(t, s, srv.ID, u.ID, "i")
	in.OwnerID = missing
	isErr(t, s.UpdateInstance(c, &in), store.ErrNotFound, "UpdateInstance to missing owner")
	got, err := s.GetInstance(c, in.ID)
	must(t, err)
	if got.OwnerID != u.ID {
		t.Errorf("failed update changed the owner to %d", got.OwnerID)
	}
	all, err := s.ListInstances(c, 0)
	count(t, "instances after failed creates", all, err, 1)
	ops, err := s.ListOperations(c, store.OperationFilter{})
	count(t, "operations after failed creates", ops, err, 0)
}

func testInfraInTxRollback(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	srv := mkServer(t, s, "s")
	var opID string
	boom := errors.New("boom")
	err := s.InTx(c, func(tx store.Store) error {
		in, err := tx.EnsureInstance(c, srv.ID, "i")
		if err != nil {
			return err
		}
		op := store.Operation{UserID: u.ID, ServerID: srv.ID, InstanceID: in.ID, Kind: "instance.add"}
		if err := tx.CreateOperation(c, &op); err != nil {
			return err
		}
		opID = op.ID
		if err := tx.PutSetting(c, "k", "v"); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		if _, err := tx.GetInstanceByName(c, srv.ID, "i"); err != nil {
			return err
		}
		if _, err := tx.GetSetting(c, "k"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want the fn's error", err)
	}
	all, err := s.ListInstances(c, 0)
	count(t, "instances after rollback", all, err, 0)
	_, err = s.GetOperation(c, opID)
	isErr(t, err, store.ErrNotFound, "operation after rollback")
	_, err = s.GetSetting(c, "k")
	isErr(t, err, store.ErrNotFound, "setting after rollback")
}
