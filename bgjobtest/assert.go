package bgjobtest

import (
	"context"
	"errors"
	"testing"

	"github.com/bgjob/bgjob"
)

// AssertState asserts that the job's state is want now. It does not wait:
// to see a state the job reaches on its own, wait for it first with
// [WaitStatus], or use [AssertEnded] for the end of the job.
func AssertState(t testing.TB, h *bgjob.Handle, want bgjob.State) bool {
	t.Helper()
	if st := h.Status(); st.State != want {
		t.Errorf("bgjobtest: job %s is %s, want %s", jobLabel(h.Name(), h.ID()), formatStatus(st), want)
		return false
	}
	return true
}

// AssertEnded waits for the job to end and asserts that it ended in the
// terminal state want (succeeded, failed or canceled). It fails if ctx ends
// first, or if want is not a terminal state.
func AssertEnded(ctx context.Context, t testing.TB, h *bgjob.Handle, want bgjob.State) bool {
	t.Helper()
	if !want.Terminal() {
		t.Errorf("bgjobtest: AssertEnded: %s is not a state a job ends in", want)
		return false
	}
	st, ok := waitEnd(ctx, t, h)
	if !ok {
		return false
	}
	if st.State != want {
		t.Errorf("bgjobtest: job %s ended %s, want %s", jobLabel(h.Name(), h.ID()), formatStatus(st), want)
		return false
	}
	return true
}

// AssertErrorIs waits for the job to end and asserts that its error — nil
// if it succeeded, its own error or a *bgjob.PanicError if it failed, the
// cause given to Cancel if it was canceled (see bgjob.Handle.Wait) —
// matches target by errors.Is. A nil target asserts that the job succeeded.
// It fails if ctx ends first.
func AssertErrorIs(ctx context.Context, t testing.TB, h *bgjob.Handle, target error) bool {
	t.Helper()
	st, ok := waitEnd(ctx, t, h)
	if !ok {
		return false
	}
	if !errors.Is(st.Err, target) {
		t.Errorf("bgjobtest: job %s ended %s, want an error matching %v", jobLabel(h.Name(), h.ID()), formatStatus(st), target)
		return false
	}
	return true
}

// waitEnd waits for the job to end and returns its final status, or fails
// the test and reports false if ctx ends first.
func waitEnd(ctx context.Context, t testing.TB, h *bgjob.Handle) (bgjob.JobStatus, bool) {
	t.Helper()
	if ctx == nil {
		t.Errorf("bgjobtest: nil context")
		return bgjob.JobStatus{}, false
	}
	select {
	case <-h.Done():
		return h.Status(), true
	case <-ctx.Done():
		t.Errorf("bgjobtest: job %s did not end: %v; it is %s", jobLabel(h.Name(), h.ID()), ctx.Err(), formatStatus(h.Status()))
		return bgjob.JobStatus{}, false
	}
}
