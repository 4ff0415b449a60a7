package bgjobtest

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

func TestScriptedJobs(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		give      bgjob.Job
		wantState bgjob.State
		wantErr   error
		wantStep  int64
	}{
		{name: "succeed", give: Succeed(4), wantState: bgjob.StateSucceeded, wantStep: 4},
		{name: "succeed in no steps", give: Succeed(0), wantState: bgjob.StateSucceeded},
		{name: "fail", give: Fail(errBoom), wantState: bgjob.StateFailed, wantErr: errBoom},
		{name: "panic", give: Panic(errBoom), wantState: bgjob.StateFailed, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			r := newRunner(t)
			rec := Record(t, r)
			h := start(t, r, tt.name, tt.give)
			assert.True(t, AssertEnded(ctx, t, h, tt.wantState))
			assert.True(t, AssertErrorIs(ctx, t, h, tt.wantErr))
			assert.True(t, AssertLifecycle(ctx, t, rec, h.ID()))
			st := h.Status()
			assert.Equal(t, tt.wantStep, st.Step)
			assert.Equal(t, tt.wantStep, st.Total)
		})
	}
}

func TestPanicKeepsItsValue(t *testing.T) {
	r := newRunner(t)
	h := start(t, r, "panics", Panic("oops"))
	var perr *bgjob.PanicError
	require.ErrorAs(t, h.Wait(testCtx(t)), &perr)
	assert.Equal(t, "oops", perr.Value)
}

func TestFailNeedsAnError(t *testing.T) {
	assert.PanicsWithValue(t, "bgjobtest: Fail needs an error", func() { Fail(nil) })
}

func TestHangUntilCanceled(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r)
	h := start(t, r, "hangs", HangUntilCanceled())
	require.NoError(t, h.Pause())
	assert.True(t, AssertState(t, h, bgjob.StatePausing), "it never reaches a checkpoint")
	errStop := errors.New("stop")
	require.NoError(t, h.Cancel(errStop))
	assert.True(t, AssertEnded(ctx, t, h, bgjob.StateCanceled))
	assert.True(t, AssertErrorIs(ctx, t, h, errStop))
	assert.True(t, AssertLifecycle(ctx, t, rec, h.ID()))
}

func TestIgnoreCancelIsAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithCancelGrace(time.Second))
		require.NoError(t, err)
		rec := Record(t, r)
		release := make(chan struct{})
		h := start(t, r, "stubborn", IgnoreCancel(release))
		canceled := time.Now()
		require.NoError(t, h.Cancel(nil))
		require.NoError(t, WaitStatus(t.Context(), r, h, isState(bgjob.StateAbandoned)))
		assert.Equal(t, time.Second, time.Since(canceled), "abandoned when the grace is over")
		assert.True(t, h.Status().Alive, "still running")

		close(release)
		assert.True(t, AssertEnded(t.Context(), t, h, bgjob.StateSucceeded), "it returned nil: it finished its work")
		assert.True(t, AssertLifecycle(t.Context(), t, rec, h.ID()))
		assert.Equal(t, []bgjob.EventType{
			bgjob.EventInfo, bgjob.EventWorkerStarted, bgjob.EventAbandoned, bgjob.EventComplete, bgjob.EventWorkerStopped,
		}, rec.Types(h.ID()))
		require.NoError(t, r.Shutdown(t.Context()))
	})
}
