package bgjob

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A storm of stalls: a thousand jobs stall at once while one job stays
// healthy. The stacks of all of them come from one goroutine profile, not
// one each, and while that capture takes its time, the healthy job's
// progress is still published at every interval.
func TestStallStormTakesOneProfileAndNeverStarvesProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stuck = 1000
		r, err := NewRunner(WithStallTimeout(time.Second))
		require.NoError(t, err)
		var mu sync.Mutex
		var captures []int // jobs per capture
		r.stacksOf = func(key string, want map[string]bool) (map[string]string, error) {
			mu.Lock()
			captures = append(captures, len(want))
			mu.Unlock()
			time.Sleep(5 * time.Second) // a capture that takes long
			out := make(map[string]string, len(want))
			for id := range want {
				out[id] = "stack of " + id
			}
			return out, nil
		}
		sub, err := r.Subscribe(WithPolicy(Lossless), WithBacklog(1<<20))
		require.NoError(t, err)
		var evs []Event
		read := make(chan struct{})
		go func() { // a reader that keeps up, so that no progress folds
			for ev := range sub.Events() {
				evs = append(evs, ev)
			}
			close(read)
		}()

		release := make(chan struct{})
		for i := range stuck {
			_, err := r.Start(t.Context(), fmt.Sprint("stuck-", i), JobFunc(func(ctx context.Context, p *Progress) error {
				<-release
				return nil
			}))
			require.NoError(t, err)
		}
		healthy, err := r.Start(t.Context(), "healthy", JobFunc(func(ctx context.Context, p *Progress) error {
			// 10s of steady progress, each step halfway between two
			// intervals, so that every interval sees exactly one.
			time.Sleep(50 * time.Millisecond)
			for i := range 100 {
				p.SetStep(int64(i + 1))
				time.Sleep(100 * time.Millisecond)
			}
			return nil
		}))
		require.NoError(t, err)
		require.NoError(t, healthy.Wait(t.Context()))
		time.Sleep(10 * time.Second) // let the last captures finish
		close(release)
		require.NoError(t, r.Shutdown(context.Background()))
		<-read

		var progress []time.Time
		stalled := map[uuid.UUID]bool{}
		for _, ev := range evs {
			switch {
			case ev.Type == EventProgress && ev.JobID == healthy.ID():
				progress = append(progress, ev.Time)
			case ev.Type == EventStalled:
				assert.False(t, stalled[ev.JobID], "one stalled event per stall")
				stalled[ev.JobID] = true
				assert.Equal(t, "stack of "+ev.JobID.String(), ev.Stack)
			}
		}
		assert.Len(t, stalled, stuck, "every stalled job is reported")
		mu.Lock()
		assert.Len(t, captures, 1, "one profile for the whole storm: %v", captures)
		assert.Equal(t, stuck, captures[0])
		mu.Unlock()
		require.GreaterOrEqual(t, len(progress), 99, "one progress event per interval")
		for i := 1; i < len(progress); i++ {
			assert.LessOrEqual(t, progress[i].Sub(progress[i-1]), 200*time.Millisecond,
				"the healthy job's progress keeps its pace during the capture")
		}
	})
}

// Jobs waiting in the queue cost the progress loop nothing: it visits the
// jobs that have a worker, and the maps and the queue give their memory
// back after a burst.
func TestQueuedJobsCostTheLoopNothing(t *testing.T) {
	r, err := NewRunner(WithMaxRunning(1), WithHistoryLimit(0))
	require.NoError(t, err)
	release := make(chan struct{})
	block := JobFunc(func(ctx context.Context, p *Progress) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	const queued = 50_000
	handles := make([]*Handle, 0, queued+1)
	for i := range queued + 1 {
		h, err := r.Start(context.Background(), fmt.Sprint("j", i), block)
		require.NoError(t, err)
		handles = append(handles, h)
	}
	r.mu.Lock()
	assert.Len(t, r.active, 1, "only the running job is visited at each tick")
	assert.Len(t, r.live, queued+1)
	r.mu.Unlock()

	for _, h := range handles[1:] {
		require.NoError(t, h.Cancel(nil))
	}
	close(release)
	<-handles[0].Done()
	r.mu.Lock()
	assert.Zero(t, len(r.live))
	assert.LessOrEqual(t, r.livePeak, 1024, "the live maps were made anew after the burst")
	assert.Zero(t, r.sched.Queued())
	r.mu.Unlock()
	require.NoError(t, r.Shutdown(context.Background()))
}
