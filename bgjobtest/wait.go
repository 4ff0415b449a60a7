package bgjobtest

import (
	"context"
	"fmt"

	"github.com/bgjob/bgjob"
)

// WaitStatus waits until the status of the job h, a job of r, satisfies
// pred, and returns nil; if ctx ends first, an error wrapping ctx's error
// that shows the job's status; if the job ends in a status that does not
// satisfy pred, an error wrapping [ErrEnded]; for a nil ctx,
// bgjob.ErrNilContext.
//
// It never sleeps and never polls: it subscribes to the job (WithJob) and
// checks h.Status() once at first and again at each of the job's events,
// so it works inside a testing/synctest bubble when the Runner was made in
// it. pred is called on the caller's goroutine. A change that publishes
// no event — pausing and canceling, which Handle.Pause and Handle.Cancel
// set before they return — is seen at the first check or at the job's
// next event; progress that publishes no event yet is seen at the next
// progress interval (bgjob.WithProgressInterval).
//
// If Subscribe fails — r has shut down, or r no
// longer knows the job (see bgjob.WithHistoryLimit) — WaitStatus checks
// the status at first and when the job ends.
func WaitStatus(ctx context.Context, r *bgjob.Runner, h *bgjob.Handle, pred func(bgjob.JobStatus) bool) error {
	if ctx == nil {
		return bgjob.ErrNilContext
	}
	var events <-chan bgjob.Event
	// The default policy, Lagging, never holds up the Runner's Start: a
	// lost event is followed by an EventLagged, which is a wake-up too.
	if sub, err := r.Subscribe(bgjob.WithJob(h.ID())); err == nil {
		defer sub.Close()
		events = sub.Events()
	}
	// Subscribe before the first check: a change after the check is then
	// an event this loop receives.
	st := h.Status()
	for {
		if pred(st) {
			return nil
		}
		if st.State.Terminal() {
			return fmt.Errorf("%w: job %s ended %s", ErrEnded, jobLabel(h.Name(), h.ID()), formatStatus(st))
		}
		select {
		case _, ok := <-events:
			if !ok {
				events = nil // after worker_stopped: Done is closed, or about to be
			}
			// The Runner updates a job's status before it publishes the
			// event that tells of it: the status read below shows it.
		case <-h.Done():
		case <-ctx.Done():
			return fmt.Errorf("bgjobtest: gave up waiting for job %s: %w; it is %s",
				jobLabel(h.Name(), h.ID()), ctx.Err(), formatStatus(h.Status()))
		}
		st = h.Status()
	}
}
