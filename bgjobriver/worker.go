package bgjobriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// unknownKindSnooze is how long a job is put back for by a node that does
// not know its kind: long enough that such a node does not keep taking it,
// short enough for a rolling deploy.
const unknownKindSnooze = 10 * time.Second

// worker is the one River worker of every bgjob job: it runs the attempt
// on the node's local Runner, so that there the job has all a local job has.
type worker struct {
	river.WorkerDefaults[jobArgs]
	c *Client
}

var _ river.Worker[jobArgs] = (*worker)(nil)

// Work runs one attempt and turns its end into what River should do next.
func (w *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	return w.c.work(ctx, job.JobRow, job.Args)
}

func (c *Client) work(ctx context.Context, row *rivertype.JobRow, args jobArgs) error {
	var meta jobMeta
	if err := json.Unmarshal(row.Metadata, &meta); err != nil {
		c.cfg.logger.Warn("bgjobriver: unreadable metadata; starting without checkpoint", "job_id", row.ID, "err", err)
		meta = jobMeta{}
	}
	if meta.Cancel != nil {
		// Canceled between River's fetch and now: do not start it.
		return river.JobCancel(meta.Cancel.cause())
	}
	j, ok := c.cfg.jobs[args.JobKind]
	if !ok {
		// A node of another build (a rolling deploy): snoozing puts the
		// job back without using one of its attempts, for a node that
		// knows the kind.
		c.cfg.logger.Warn("bgjobriver: job of a kind this node does not know; put back",
			"job_id", row.ID, "kind", args.JobKind, "after", unknownKindSnooze)
		return river.JobSnooze(unknownKindSnooze)
	}
	a := newAttempt(c, row.ID, row.Attempt, row.MaxAttempts, args.JobKind, args.Input, meta.Checkpoint)
	run := bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.Logger().Info("durable attempt",
			"job_id", a.jobID, "attempt", a.number, "max_attempts", a.maxAttempts,
			"node", c.cfg.id, "resumed", a.resumed)
		return j.Run(ctx, p)
	})
	// River's context may already be canceled (a cancellation that raced
	// the fetch): the job still starts, and gets the cancellation and its
	// cause below, rather than Start failing with River's bare cause.
	h, err := c.runner.Start(context.WithValue(context.WithoutCancel(ctx), attemptKey{}, a), args.Name, run)
	if err != nil {
		return fmt.Errorf("bgjobriver: start on node %s: %w", c.cfg.id, err)
	}
	if meta.Pause {
		_ = h.Pause()
	}
	k := startKeeper(c, a, h, meta.Pause)

	select {
	case <-h.Done():
	case <-ctx.Done():
		// River canceled the attempt: a cancellation it was told of, or the
		// node stopping.
		if errors.Is(context.Cause(ctx), rivertype.ErrJobCancelledRemotely) {
			_ = h.Cancel(c.cancelCause(row.ID))
		} else {
			_ = h.Cancel(ErrNodeStopping)
		}
		<-h.Done()
	}
	k.finish()
	return outcome(ctx, h)
}

// cancelCause reads the cause Client.Cancel left in the row.
func (c *Client) cancelCause(id int64) error {
	qctx, cancel := context.WithTimeout(context.Background(), c.queryTimeout())
	defer cancel()
	var s string
	if err := c.conn.queryRow(qctx, c.dialect.cancelRequest, []any{&s}, id); err == nil {
		if r := parseCancel(s); r != nil {
			return r.cause()
		}
	}
	return &CancelError{Reason: "canceled through River"}
}

// outcome maps the end of a local run to River's next step: nil completes
// the job; a cancellation asked for (from any node, or through the local
// handle) cancels it for good; the node stopping hands it back without
// counting the attempt (River does so for an error that wraps its stop
// cause); any other error is retried by River's policy.
func outcome(ctx context.Context, h *bgjob.Handle) error {
	err := h.Wait(context.Background())
	st := h.Status()
	switch {
	case st.State == bgjob.StateSucceeded:
		return nil
	case st.State != bgjob.StateCanceled:
		return err
	case errors.Is(err, ErrNodeStopping), errors.Is(err, bgjob.ErrShutdown):
		if cause := context.Cause(ctx); cause != nil {
			return fmt.Errorf("%w: %w", ErrNodeStopping, cause)
		}
		return err
	case errors.Is(err, ErrLeaseLost), errors.Is(err, bgjob.ErrTimeout):
		return err
	default:
		return river.JobCancel(err)
	}
}
