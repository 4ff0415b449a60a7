package bgjobtest

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

func TestGatePauseResume(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r)
	g := NewGate(5)
	h := start(t, r, "train", g.Job())

	g.Release(2)
	<-g.Reached(3)
	assert.Equal(t, int64(2), h.Status().Step, "two steps done, waiting before the third")
	require.NoError(t, h.Pause())
	assert.True(t, AssertState(t, h, bgjob.StatePausing), "waiting at the gate, not at a checkpoint")
	g.Release(3)
	require.NoError(t, WaitStatus(ctx, r, h, isState(bgjob.StatePaused)))
	st := h.Status()
	assert.Equal(t, int64(2), st.Step, "parked before step 3")
	assert.Equal(t, int64(5), st.Total)

	require.NoError(t, h.Resume())
	<-g.Reached(4)
	assert.True(t, AssertState(t, h, bgjob.StateRunning))
	assert.Equal(t, int64(3), h.Status().Step)
	g.Release(5)
	<-g.Reached(6)
	assert.True(t, AssertEnded(ctx, t, h, bgjob.StateSucceeded))
	assert.Equal(t, int64(5), h.Status().Step)
	assert.True(t, AssertLifecycle(ctx, t, rec, h.ID()))
	// The paused event may have folded into the resumed one; the resumed
	// one, the job's newest state, is always delivered.
	assert.Contains(t, rec.Types(h.ID()), bgjob.EventResumed)
}

func TestGateCancel(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r)

	t.Run("at the gate", func(t *testing.T) {
		g := NewGate(3)
		h := start(t, r, "at-gate", g.Job())
		g.Release(1)
		<-g.Reached(2)
		require.NoError(t, h.Cancel(nil))
		assert.True(t, AssertErrorIs(ctx, t, h, bgjob.ErrCanceled))
		assert.True(t, AssertEnded(ctx, t, h, bgjob.StateCanceled))
		assert.Equal(t, int64(1), h.Status().Step)
		assert.True(t, AssertLifecycle(ctx, t, rec, h.ID()))
	})
	t.Run("while paused", func(t *testing.T) {
		g := NewGate(3)
		h := start(t, r, "paused", g.Job())
		<-g.Reached(1)
		require.NoError(t, h.Pause())
		g.Release(1)
		require.NoError(t, WaitStatus(ctx, r, h, isState(bgjob.StatePaused)))
		require.NoError(t, h.Cancel(nil))
		// The step is not asserted: Cancel wakes a parked job before it
		// cancels the job's context, so the checkpoint may return nil and
		// the job do step 1 before it stops at the next gate.
		assert.True(t, AssertEnded(ctx, t, h, bgjob.StateCanceled))
		assert.True(t, AssertErrorIs(ctx, t, h, bgjob.ErrCanceled))
		assert.True(t, AssertLifecycle(ctx, t, rec, h.ID()))
	})
}

func TestGateSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		g := NewGate(3)
		assert.Equal(t, 3, g.Steps())
		h := start(t, r, "steps", g.Job())
		reached := func() int {
			n := 0
			for i := 1; i <= g.Steps()+1; i++ {
				select {
				case <-g.Reached(i):
					n = i
				default:
				}
			}
			return n
		}
		synctest.Wait()
		assert.Equal(t, 1, reached(), "waiting before step 1")
		g.Release(2)
		synctest.Wait()
		assert.Equal(t, 3, reached(), "two steps done, waiting before step 3")
		g.Release(1) // fewer than released: nothing happens
		synctest.Wait()
		assert.Equal(t, 3, reached())
		assert.Equal(t, int64(2), h.Status().Step)
		g.Release(100) // more than there are: all
		synctest.Wait()
		assert.Equal(t, 4, reached(), "every step done")
		assert.True(t, AssertEnded(t.Context(), t, h, bgjob.StateSucceeded))
		require.NoError(t, r.Shutdown(t.Context()))
	})
}

func TestGateOfNoSteps(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	g := NewGate(0)
	h := start(t, r, "none", g.Job())
	<-g.Reached(1)
	assert.True(t, AssertEnded(ctx, t, h, bgjob.StateSucceeded))
}

func TestGateMisuse(t *testing.T) {
	assert.PanicsWithValue(t, "bgjobtest: NewGate(-1): negative steps", func() { NewGate(-1) })
	g := NewGate(2)
	assert.PanicsWithValue(t, "bgjobtest: Gate.Reached(0): want 1 to 3", func() { g.Reached(0) })
	assert.PanicsWithValue(t, "bgjobtest: Gate.Reached(4): want 1 to 3", func() { g.Reached(4) })
}
