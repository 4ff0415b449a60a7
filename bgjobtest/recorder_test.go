package bgjobtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

func countType(typ bgjob.EventType, n int) func([]bgjob.Event) bool {
	return func(evs []bgjob.Event) bool {
		c := 0
		for _, ev := range evs {
			if ev.Type == typ {
				c++
			}
		}
		return c >= n
	}
}

func TestRecorderRecordsEveryEventInOrder(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r)
	var handles []*bgjob.Handle
	for i := range 3 {
		handles = append(handles, start(t, r, fmt.Sprint("job-", i), Succeed(i+1)))
	}
	require.NoError(t, rec.WaitFor(ctx, countType(bgjob.EventWorkerStopped, 3)))

	evs := rec.Events()
	var last uint64
	for _, ev := range evs {
		require.NotEqual(t, bgjob.EventLagged, ev.Type, "a Lossless recording loses nothing")
		assert.Greater(t, ev.Seq, last, "in delivery order")
		last = ev.Seq
	}
	total := 0
	for _, h := range handles {
		job := rec.Job(h.ID())
		total += len(job)
		types := rec.Types(h.ID())
		require.Len(t, types, len(job))
		for i, ev := range job {
			assert.Equal(t, h.ID(), ev.JobID)
			assert.Equal(t, ev.Type, types[i])
		}
		assert.Equal(t, []bgjob.EventType{bgjob.EventInfo, bgjob.EventWorkerStarted}, types[:2])
		assert.Equal(t, []bgjob.EventType{bgjob.EventComplete, bgjob.EventWorkerStopped}, types[len(types)-2:])
	}
	assert.Equal(t, len(evs), total, "every event is one job's")
	assert.Empty(t, rec.Job(uuid.New()))
	assert.Empty(t, rec.Types(uuid.New()))
}

func TestRecorderHandsOutCopies(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r)
	h := start(t, r, "metrics", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		return p.Metric("loss", 0.5)
	}))
	require.NoError(t, rec.WaitJob(ctx, h.ID(), countType(bgjob.EventWorkerStopped, 1)))

	evs := rec.Job(h.ID())
	complete := evs[len(evs)-2]
	require.Equal(t, bgjob.EventComplete, complete.Type)
	require.Len(t, complete.Metrics, 1)
	complete.Metrics[0].Value = 99
	evs[0].Type = bgjob.EventLog
	again := rec.Job(h.ID())
	assert.Equal(t, 0.5, again[len(again)-2].Metrics[0].Value, "the metrics are the caller's own")
	assert.Equal(t, bgjob.EventInfo, again[0].Type)
	all := rec.Events()
	all[0].Type = bgjob.EventLog
	assert.Equal(t, bgjob.EventInfo, rec.Events()[0].Type)
}

func TestRecordIsLosslessUnlessTold(t *testing.T) {
	r := newRunner(t)
	assert.Equal(t, bgjob.Lossless, Record(t, r).sub.Policy())
	assert.Equal(t, bgjob.Lagging, Record(t, r, bgjob.WithPolicy(bgjob.Lagging)).sub.Policy(),
		"the caller's options apply after the default")
}

func TestRecordFailsTheTestWhenSubscribeFails(t *testing.T) {
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	ft := newFakeTB(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Record(ft, r)
		t.Error("Record went on after a failed Subscribe")
	}()
	<-done
	assert.Contains(t, ft.failures(), bgjob.ErrRunnerClosed.Error())
}

func TestRecorderGoroutineEndsWithTheTest(t *testing.T) {
	r := newRunner(t)
	var rec *Recorder
	t.Run("inner", func(t *testing.T) {
		rec = Record(t, r)
		start(t, r, "job", Succeed(1))
	})
	select {
	case <-rec.done:
	default:
		t.Fatal("the recording goroutine outlived its test")
	}
	// What was recorded stays readable.
	require.NoError(t, rec.WaitFor(t.Context(), func([]bgjob.Event) bool { return true }))
}

func TestRecorderEndsWithTheRunner(t *testing.T) {
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	rec := Record(t, r)
	h := start(t, r, "job", Succeed(2))
	require.NoError(t, r.Shutdown(testCtx(t)))

	// The channel closes after the last event: a wait for more ends at
	// once, whatever its context.
	err = rec.WaitFor(context.Background(), countType(bgjob.EventComplete, 2))
	require.ErrorIs(t, err, ErrEnded)
	assert.Contains(t, err.Error(), "worker_stopped job/", "the error lists the events seen")
	err = rec.WaitJob(context.Background(), h.ID(), countType(bgjob.EventPaused, 1))
	require.ErrorIs(t, err, ErrEnded)
	assert.Contains(t, err.Error(), "job "+h.ID().String()[:8])
	assert.NoError(t, rec.WaitJob(context.Background(), h.ID(), countType(bgjob.EventWorkerStopped, 1)))
}

func TestWaitForCanceledContext(t *testing.T) {
	r := newRunner(t)
	rec := Record(t, r)
	h := start(t, r, "hangs", HangUntilCanceled())
	defer h.Cancel(nil)
	require.NoError(t, rec.WaitJob(testCtx(t), h.ID(), countType(bgjob.EventWorkerStarted, 1)))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := rec.WaitFor(ctx, countType(bgjob.EventComplete, 1))
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "worker_started hangs/", "the error lists the events seen")
	err = rec.WaitJob(ctx, h.ID(), countType(bgjob.EventComplete, 1))
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "info hangs/")

	assert.NoError(t, rec.WaitFor(ctx, countType(bgjob.EventInfo, 1)), "a condition that holds needs no time")
	var nilCtx context.Context
	assert.ErrorIs(t, rec.WaitFor(nilCtx, countType(bgjob.EventInfo, 1)), bgjob.ErrNilContext)
	assert.ErrorIs(t, rec.WaitJob(nilCtx, h.ID(), countType(bgjob.EventInfo, 1)), bgjob.ErrNilContext)
}

func TestWaitForInSynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithMaxRunning(1))
		require.NoError(t, err)
		rec := Record(t, r)
		g := NewGate(2)
		first := start(t, r, "first", g.Job())
		second := start(t, r, "second", Succeed(1))

		// The second job waits for the first: a wait for its start
		// blocks until the gate opens, on the bubble's clock.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		began := time.Now()
		err = rec.WaitJob(ctx, second.ID(), countType(bgjob.EventWorkerStarted, 1))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Minute, time.Since(began), "the wait blocked on its context only")
		assert.Contains(t, err.Error(), "queued second/")

		g.Release(2)
		require.NoError(t, rec.WaitFor(t.Context(), countType(bgjob.EventWorkerStopped, 2)))
		assert.Equal(t, time.Minute, time.Since(began), "no time passes while events flow")
		assert.True(t, AssertLifecycle(t.Context(), t, rec, first.ID()))
		assert.True(t, AssertLifecycle(t.Context(), t, rec, second.ID()))
		require.NoError(t, r.Shutdown(t.Context()))
	})
}

func TestWaitForSeesEveryNewEvent(t *testing.T) {
	// Many jobs end while a wait is under way: it wakes at each event and
	// sees the last.
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r)
	const jobs = 50
	errc := make(chan error, 1)
	go func() { errc <- rec.WaitFor(ctx, countType(bgjob.EventWorkerStopped, jobs)) }()
	for i := range jobs {
		start(t, r, fmt.Sprint("job-", i), Succeed(1))
	}
	require.NoError(t, <-errc)
	require.False(t, errors.Is(ctx.Err(), context.DeadlineExceeded))
}
