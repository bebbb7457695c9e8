package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/deskhub/deskhub/internal/account"
	"strconv"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/events"
	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/store"
)

// stopTimeout is how long a clean stop or restart may take before LXD gives up (the -force actions
// kill at once).
const stopTimeout = 30

// startOp records an operation and runs it in the background.
func (s *Service) startOp(ctx context.Context, c account.Caller, op store.Operation, spec opSpec) (ResourceView[vmm.OperationAttributes], error) {
	b, _ := json.Marshal(spec)
	op.UserID, op.Spec, op.Status = c.UserID, string(b), store.OperationPending
	now := time.Now().UTC()
	op.CreatedAt, op.UpdatedAt = now, now
	if err := s.st.CreateOperation(ctx, &op); err != nil {
		return ResourceView[vmm.OperationAttributes]{}, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runOp(op, true)
	}()
	return ResourceView[vmm.OperationAttributes]{ID: op.ID, Attrs: vmm.OperationAttributes{OperationID: op.ID, RequestID: op.RequestID,
		Status: op.Status, Provider: vmm.ProviderLXD}}, nil
}

// resumeOperations takes up the operations a previous run left unfinished: each is checked against
// the server and its outcome reported.
func (s *Service) resumeOperations(ctx context.Context) error {
	ops, err := s.st.ListOperations(ctx, store.OperationFilter{States: []string{store.OperationPending, store.OperationRunning}})
	if err != nil {
		return err
	}
	for _, op := range ops {
		s.log.Info("resuming operation", "operation", op.ID, "kind", op.Kind, "action", op.Action, "instance", op.InstanceName)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runOp(op, false)
		}()
	}
	return nil
}

// runOp drives one operation to its end: submit it to LXD (fresh), then follow LXD's operation. When
// LXD is unreachable it keeps trying until the deadline; when LXD forgot the operation (it restarted),
// the instance's state says whether the work was done. Either way the operation ends, success or
// failure, and the outcome goes to the event stream.
func (s *Service) runOp(op store.Operation, fresh bool) {
	var spec opSpec
	_ = json.Unmarshal([]byte(op.Spec), &spec)
	deadline := op.CreatedAt.Add(s.opts.OpTimeout)
	if !fresh {
		// A resumed operation gets a little time for the server link to come back.
		deadline = maxTime(deadline, time.Now().Add(15*time.Second))
	}
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	err := s.driveOp(ctx, &op, &spec, fresh)
	if s.ctx.Err() != nil {
		return // deskhub is stopping: the next Start resumes it
	}
	s.finishOp(op, err)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// busyRetry is how long an operation waits before asking again when LXD answered that another
// operation holds the instance.
const busyRetry = 250 * time.Millisecond

// errNotDone is the outcome of an operation LXD forgot whose intended state was not reached.
var errNotDone = errors.New("not done")

func (s *Service) driveOp(ctx context.Context, op *store.Operation, spec *opSpec, fresh bool) error {
	if !fresh && op.LXDOperation == "" && op.Kind == "instance.add" && spec.Phase == "start" {
		fresh = true // the instance was made; starting it had not been asked yet
	}
	waited := false // told the log that the instance is busy
	for {
		var err error
		if fresh {
			err = s.submitOp(ctx, op, spec)
		}
		if err == nil {
			err = s.followOp(ctx, op, spec)
		}
		if lxdconn.IsBusy(err) && ctx.Err() == nil {
			// Another operation holds the instance (a stop LXD is still finishing after the instance
			// already shows Stopped, say): it ends soon; ask again until it does or the deadline comes.
			if !waited {
				s.log.Info("the instance is busy with another operation; asking again until it ends", "operation", op.ID,
					"instance", op.InstanceName, "err", err)
				waited = true
			}
			sleepCtx(ctx, busyRetry)
			if ctx.Err() == nil {
				op.LXDOperation = ""
				fresh = true
				continue
			}
		}
		if err != nil && !errors.Is(err, errAlreadyDone) {
			return err
		}
		// instance.add goes on with starting the new instance.
		if op.Kind == "instance.add" && spec.Phase == "create" && spec.Start {
			spec.Phase = "start"
			op.LXDOperation = ""
			fresh = true
			s.saveOp(op, spec)
			continue
		}
		return nil
	}
}

// submitOp hands the work to LXD and records LXD's operation id. LXD refusing it is the operation's
// failure. While LXD does not answer, it tries again (until the deadline), first checking whether an
// earlier attempt did the work after all.
func (s *Service) submitOp(ctx context.Context, op *store.Operation, spec *opSpec) error {
	for {
		cl, err := s.waitClient(ctx, op.ServerID)
		if err != nil {
			return err
		}
		lop, err := s.submit(cl, op, spec)
		if err == nil {
			op.LXDOperation = lop.Get().ID
			op.Status = store.OperationRunning
			s.saveOp(op, spec)
			s.publishOp(*op, "")
			return nil
		}
		if lxdconn.Status(err) != 0 {
			return fmt.Errorf("LXD refused it: %w", err)
		}
		s.log.Warn("submitting an operation: the server does not answer", "operation", op.ID, "err", err)
		sleepCtx(ctx, time.Second)
		if ctx.Err() != nil {
			return fmt.Errorf("the server did not answer within %s: %v", s.opts.OpTimeout, err)
		}
		if done, _, e := s.reached(cl, op, spec); e == nil && done {
			return errAlreadyDone
		}
	}
}

// errAlreadyDone ends submitOp when the instance turned out to be where the operation meant to bring
// it (an attempt whose answer was lost did the work).
var errAlreadyDone = errors.New("already done")

// submit sends the operation's request to LXD.
func (s *Service) submit(cl incus.InstanceServer, op *store.Operation, spec *opSpec) (incus.Operation, error) {
	switch {
	case op.Kind == "instance.add" && spec.Phase == "create":
		src, err := s.imageSource(spec)
		if err != nil {
			return nil, err
		}
		req := api.InstancesPost{Name: op.InstanceName, Type: api.InstanceType(spec.Type), Source: src}
		req.Profiles = spec.Profiles
		req.Config = spec.Config
		return cl.CreateInstance(req)
	case op.Kind == "instance.add" && spec.Phase == "start":
		return cl.UpdateInstanceState(op.InstanceName, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	case op.Action == "delete":
		return cl.DeleteInstance(op.InstanceName)
	}
	action, force := strings.CutSuffix(op.Action, "-force")
	timeout := -1
	if !force && (action == "stop" || action == "restart") {
		timeout = stopTimeout
	}
	return cl.UpdateInstanceState(op.InstanceName, api.InstanceStatePut{Action: action, Timeout: timeout, Force: force}, "")
}

// followOp waits for LXD's operation to end, in short polls that survive LXD going away.
func (s *Service) followOp(ctx context.Context, op *store.Operation, spec *opSpec) error {
	var lastErr error
	for {
		if ctx.Err() != nil {
			if lastErr != nil {
				return fmt.Errorf("gave up after %s: the server did not answer: %v", s.opts.OpTimeout, lastErr)
			}
			return fmt.Errorf("gave up after %s: LXD had not finished", s.opts.OpTimeout)
		}
		cl := s.lxd.Client(op.ServerID)
		if cl == nil {
			lastErr = errors.New("the server is not connected")
			sleepCtx(ctx, time.Second)
			continue
		}
		if op.LXDOperation != "" {
			o, err := lxdconn.WaitOperation(cl, op.LXDOperation, 5)
			switch {
			case err == nil && o.StatusCode.IsFinal():
				s.invalidate(op.ServerID)
				if o.StatusCode == api.Success {
					return nil
				}
				if o.Err != "" {
					return errors.New(o.Err)
				}
				return fmt.Errorf("LXD reports the operation %s", strings.ToLower(o.Status))
			case err == nil:
				continue
			case !lxdconn.IsNotFound(err):
				lastErr = err
				sleepCtx(ctx, time.Second)
				continue
			}
			// LXD no longer knows the operation: it restarted. Fall through to the state check.
		}
		done, state, err := s.reached(cl, op, spec)
		if err != nil {
			lastErr = err
			sleepCtx(ctx, time.Second)
			continue
		}
		s.invalidate(op.ServerID)
		if done {
			return nil
		}
		if op.LXDOperation == "" {
			return fmt.Errorf("deskhub stopped before LXD took the operation, so nothing was done (the instance is %s); try again", state)
		}
		return fmt.Errorf("LXD restarted while the operation ran and did not finish it: the instance is %s", state)
	}
}

// waitOp follows an LXD operation to its end (or ctx's), in short polls.
func waitOp(ctx context.Context, cl incus.InstanceServer, id string) error {
	return lxdconn.Wait(ctx, cl, id, 5)
}

// reached tells whether the instance is where the operation meant to bring it.
func (s *Service) reached(cl incus.InstanceServer, op *store.Operation, spec *opSpec) (bool, string, error) {
	st, _, err := cl.GetInstanceState(op.InstanceName)
	if lxdconn.IsNotFound(err) {
		done := op.Action == "delete"
		return done, "absent", nil
	}
	if err != nil {
		return false, "", err
	}
	want := ""
	switch {
	case op.Kind == "instance.add" && spec.Phase == "create":
		return true, st.Status, nil
	case op.Kind == "instance.add", op.Action == "start", op.Action == "unfreeze", strings.HasPrefix(op.Action, "restart"):
		want = "Running"
	case strings.HasPrefix(op.Action, "stop"):
		want = "Stopped"
	case op.Action == "freeze":
		want = "Frozen"
	case op.Action == "delete":
		want = "absent"
	}
	return st.Status == want, st.Status, nil
}

// waitClient waits (until ctx ends) for a client of the server.
func (s *Service) waitClient(ctx context.Context, serverID int64) (incus.InstanceServer, error) {
	for {
		if cl := s.lxd.Client(serverID); cl != nil {
			return cl, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("the server was not reachable within %s", s.opts.OpTimeout)
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// saveOp stores the operation's progress.
func (s *Service) saveOp(op *store.Operation, spec *opSpec) {
	b, _ := json.Marshal(spec)
	op.Spec = string(b)
	op.UpdatedAt = time.Now().UTC()
	if err := s.st.UpdateOperation(context.Background(), op); err != nil {
		s.log.Warn("recording an operation", "operation", op.ID, "err", err)
	}
}

// finishOp records the outcome, gives a new instance its owner, and reports it on the event stream.
func (s *Service) finishOp(op store.Operation, err error) {
	ctx := context.Background()
	now := time.Now().UTC()
	op.FinishedAt, op.UpdatedAt = now, now
	if err != nil {
		op.Status, op.Error = store.OperationFailure, err.Error()
	} else {
		op.Status, op.Error = store.OperationSuccess, ""
	}
	if err == nil && op.Kind == "instance.add" {
		if in, e := s.st.EnsureInstance(ctx, op.ServerID, op.InstanceName); e == nil {
			in.OwnerID = op.UserID
			if e := s.st.UpdateInstance(ctx, &in); e != nil {
				s.log.Warn("recording an instance's owner", "instance", op.InstanceName, "err", e)
			}
			op.InstanceID = in.ID
		}
	}
	if err == nil && op.Action == "delete" && op.InstanceID != 0 {
		if e := s.st.DeleteInstance(ctx, op.InstanceID); e != nil && !errors.Is(e, store.ErrNotFound) {
			s.log.Warn("forgetting a deleted instance", "instance", op.InstanceName, "err", e)
		}
	}
	s.log.Info("operation finished", "operation", op.ID, "kind", op.Kind, "action", op.Action, "instance", op.InstanceName,
		"status", op.Status, "err", op.Error)
	// The outcome is recorded before it is told: a client acting on the event (server.delete after its
	// last operation, say) must find the operation finished.
	if e := s.st.UpdateOperation(ctx, &op); e != nil {
		s.log.Warn("recording an operation's outcome", "operation", op.ID, "err", e)
	}
	if s.publishOp(op, "") > 0 {
		op.ReportedAt = now
		if e := s.st.UpdateOperation(ctx, &op); e != nil {
			s.log.Warn("recording that an operation's outcome was reported", "operation", op.ID, "err", e)
		}
	}
}

// opEvent is the stream's message about an operation.
func opEvent(op store.Operation) vmm.Event {
	data, _ := json.Marshal(map[string]any{"operation_id": op.ID, "kind": op.Kind, "action": op.Action,
		"instance_name": op.InstanceName, "instance_id": op.InstanceID, "server_id": op.ServerID})
	ev := vmm.Event{Type: "operation", RequestID: op.RequestID, Status: op.Status, Error: op.Error, Resource: vmm.TypeInstance,
		Data: data, Provider: vmm.ProviderLXD, Time: op.UpdatedAt}
	if op.InstanceID != 0 {
		ev.ResourceID = strconv.FormatInt(op.InstanceID, 10)
	}
	return ev
}

// publishOp sends the operation's state to its user's streams (stream "" = all of them).
func (s *Service) publishOp(op store.Operation, stream string) int {
	ev := opEvent(op)
	if stream != "" {
		if s.hub.SendTo(stream, ev) {
			return 1
		}
		return 0
	}
	return s.hub.Publish(ev, events.Audience{Users: []int64{op.UserID}})
}

// Replay sends a newly bound stream the outcomes of the user's operations that no stream received
// (they ended while no stream of the user was open, e.g. across a restart).
func (s *Service) Replay(ctx context.Context, stream string, userID int64) error {
	ops, err := s.st.ListOperations(ctx, store.OperationFilter{UserID: userID, Unreported: true})
	if err != nil {
		return err
	}
	for _, op := range ops {
		if s.publishOp(op, stream) == 0 {
			break
		}
		op.ReportedAt = time.Now().UTC()
		if err := s.st.UpdateOperation(ctx, &op); err != nil {
			return err
		}
	}
	return nil
}
