package bgjobtest

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

func TestWaitStatusSeesEachPause(t *testing.T) {
	// A pause at every step: each wait must see the job parked, however
	// its events and its status race.
	ctx := testCtx(t)
	r := newRunner(t)
	const steps = 100
	g := NewGate(steps)
	h := start(t, r, "stepwise", g.Job())
	for n := 1; n <= steps; n++ {
		<-g.Reached(n)
		require.NoError(t, h.Pause())
		g.Release(n)
		require.NoError(t, WaitStatus(ctx, r, h, isState(bgjob.StatePaused)), "step %d", n)
		require.Equal(t, int64(n-1), h.Status().Step, "parked before step %d", n)
		require.NoError(t, h.Resume())
	}
	assert.True(t, AssertEnded(ctx, t, h, bgjob.StateSucceeded))
}

func TestWaitStatusSeesProgress(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t, bgjob.WithProgressInterval(time.Millisecond))
	g := NewGate(4)
	h := start(t, r, "progress", g.Job())
	g.Release(3)
	require.NoError(t, WaitStatus(ctx, r, h, func(st bgjob.JobStatus) bool { return st.Step == 3 }))
	g.Release(4)
	require.NoError(t, WaitStatus(ctx, r, h, func(st bgjob.JobStatus) bool { return st.State.Terminal() }))
	assert.Equal(t, bgjob.StateSucceeded, h.Status().State)
}

func TestWaitStatusInSynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		h := start(t, r, "slow", HangUntilCanceled(), bgjob.WithTimeout(time.Minute))
		began := time.Now()
		require.NoError(t, WaitStatus(t.Context(), r, h, isState(bgjob.StateCanceled)))
		assert.Equal(t, time.Minute, time.Since(began), "the timeout, on the bubble's clock")
		assert.ErrorIs(t, h.Status().Err, bgjob.ErrTimeout)

		h = start(t, r, "hangs", HangUntilCanceled())
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		err = WaitStatus(ctx, r, h, isState(bgjob.StateSucceeded))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "it is running")
		require.NoError(t, h.Cancel(nil))
		require.NoError(t, r.Shutdown(t.Context()))
	})
}

// The test the package documentation shows, as it is written there.
func TestTimeoutInSynctestBubbleAsDocumented(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _ := bgjob.NewRunner()
		defer r.Shutdown(context.Background())
		began := time.Now()
		h, _ := r.Start(t.Context(), "train", HangUntilCanceled(), bgjob.WithTimeout(time.Hour))
		AssertErrorIs(t.Context(), t, h, bgjob.ErrTimeout)
		assert.Equal(t, time.Hour, time.Since(began), "an hour on the bubble's clock")
	})
}

func TestWaitStatusCanceledContext(t *testing.T) {
	r := newRunner(t)
	h := start(t, r, "hangs", HangUntilCanceled())
	defer h.Cancel(nil)
	err := WaitStatus(canceledCtx(), r, h, isState(bgjob.StateSucceeded))
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "gave up waiting for job hangs/"+h.ID().String()[:8])
	assert.NoError(t, WaitStatus(canceledCtx(), r, h, isState(bgjob.StateRunning)), "a status that holds needs no time")
	var nilCtx context.Context
	assert.ErrorIs(t, WaitStatus(nilCtx, r, h, isState(bgjob.StateRunning)), bgjob.ErrNilContext)
}

func TestWaitStatusEndsWithTheJob(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	g := NewGate(2)
	h := start(t, r, "ends", g.Job())
	errc := make(chan error, 1)
	go func() { errc <- WaitStatus(context.Background(), r, h, isState(bgjob.StatePaused)) }()
	g.Release(2)
	err := <-errc
	require.ErrorIs(t, err, ErrEnded, "a job that ended will not pause: the wait ends at once")
	assert.Contains(t, err.Error(), "ended succeeded step 2/2")

	err = WaitStatus(ctx, r, h, isState(bgjob.StateFailed))
	assert.ErrorIs(t, err, ErrEnded)
	assert.NoError(t, WaitStatus(ctx, r, h, isState(bgjob.StateSucceeded)))
}

func TestWaitStatusWhileAndAfterShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithHistoryLimit(0))
		require.NoError(t, err)
		g := NewGate(1)
		h := start(t, r, "last", g.Job())
		shut := make(chan error, 1)
		go func() { shut <- r.Shutdown(context.Background()) }()
		synctest.Wait() // Shutdown waits for the job

		errc := make(chan error, 1)
		go func() { errc <- WaitStatus(t.Context(), r, h, isState(bgjob.StateSucceeded)) }()
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("WaitStatus returned before the job ended: %v", err)
		default:
		}
		g.Release(1)
		require.NoError(t, <-errc, "the end of the job wakes the wait")
		require.NoError(t, <-shut)

		// The Runner is closed and has forgotten the job: the status
		// still answers.
		_, err = r.Subscribe(bgjob.WithJob(h.ID()))
		require.Error(t, err)
		assert.NoError(t, WaitStatus(t.Context(), r, h, isState(bgjob.StateSucceeded)))
		assert.ErrorIs(t, WaitStatus(t.Context(), r, h, isState(bgjob.StateFailed)), ErrEnded)
	})
}
