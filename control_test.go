package bgjob_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// blocker returns a job that waits for release (or its cancellation).
func blocker(release <-chan struct{}) bgjob.JobFunc {
	return func(ctx context.Context, p *bgjob.Progress) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// collectAsync reads ch into a slice until it is closed; wait returns it.
func collectAsync(ch <-chan bgjob.Event) (wait func() []bgjob.Event) {
	var evs []bgjob.Event
	done := make(chan struct{})
	go func() {
		evs = collect(ch)
		close(done)
	}()
	return func() []bgjob.Event {
		<-done
		return evs
	}
}

func TestConcurrencyLimitQueuesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithMaxRunning(2))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		releases := make([]chan struct{}, 6)
		var handles []*bgjob.Handle
		for i := range releases {
			releases[i] = make(chan struct{})
			h, err := r.Start(t.Context(), fmt.Sprint("job-", i), blocker(releases[i]))
			require.NoError(t, err)
			handles = append(handles, h)
		}
		synctest.Wait()
		st := r.GetStatus()
		assert.Equal(t, 2, st.Counts[bgjob.StateRunning])
		assert.Equal(t, 4, st.Counts[bgjob.StateQueued])
		for _, h := range handles[2:] {
			js := h.Status()
			assert.Equal(t, bgjob.StateQueued, js.State)
			assert.False(t, js.HasWorker)
		}

		time.Sleep(3 * time.Second)
		assert.Equal(t, 3*time.Second, handles[5].Status().QueueWait, "the wait so far")
		// Release the jobs one by one: each end lets the next queued job in.
		for i, release := range releases {
			close(release)
			synctest.Wait()
			if i+2 < len(handles) {
				assert.True(t, handles[i+2].Status().Running(), "job-%d runs once job-%d ended", i+2, i)
			}
			if i+3 < len(handles) {
				assert.Equal(t, bgjob.StateQueued, handles[i+3].Status().State)
			}
		}
		require.NoError(t, r.Shutdown(context.Background()))
		byJob := checkLifecycles(t, events(), 6)
		for i, h := range handles {
			evs := byJob[h.ID()]
			if i < 2 {
				assert.Equal(t, bgjob.EventWorkerStarted, evs[1].Type, "started at once")
				continue
			}
			require.Equal(t, bgjob.EventQueued, evs[1].Type)
			assert.Equal(t, i-1, evs[1].QueuePosition)
			assert.Equal(t, 3*time.Second, evs[len(evs)-2].QueueWait, "complete reports the wait")
			assert.Equal(t, bgjob.StateSucceeded, h.Status().State)
		}
	})
}

func TestPriorityGoesFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithMaxRunning(1))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		release := make(chan struct{})
		_, err = r.Start(t.Context(), "first", blocker(release))
		require.NoError(t, err)
		for _, give := range []struct {
			name     string
			priority int
		}{{"low", -1}, {"normal-a", 0}, {"urgent", 10}, {"normal-b", 0}} {
			_, err := r.Start(t.Context(), give.name, blocker(release), bgjob.WithPriority(give.priority))
			require.NoError(t, err)
		}
		close(release)
		require.NoError(t, r.Shutdown(context.Background()))
		var order []string
		positions := map[string]int{}
		for _, ev := range events() {
			switch ev.Type {
			case bgjob.EventWorkerStarted:
				order = append(order, ev.JobName)
			case bgjob.EventQueued:
				positions[ev.JobName] = ev.QueuePosition
			}
		}
		assert.Equal(t, []string{"first", "urgent", "normal-a", "normal-b", "low"}, order)
		assert.Equal(t, map[string]int{"low": 1, "normal-a": 1, "urgent": 1, "normal-b": 3}, positions,
			"the place in the queue when queued")
	})
}

func TestQueueBound(t *testing.T) {
	r := newRunner(t, bgjob.WithMaxRunning(1), bgjob.WithMaxQueued(1))
	release := make(chan struct{})
	defer close(release)
	start(t, r, "running", blocker(release))
	start(t, r, "queued", blocker(release))
	_, err := r.Start(context.Background(), "refused", blocker(release))
	assert.ErrorIs(t, err, bgjob.ErrQueueFull)
	assert.Len(t, r.GetStatus().Jobs, 2, "a refused job leaves no trace")
}

func TestCancelQueuedJobNeverStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithMaxRunning(1))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		release := make(chan struct{})
		_, err = r.Start(t.Context(), "running", blocker(release))
		require.NoError(t, err)
		ran := false
		queued, err := r.Start(t.Context(), "queued", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
			ran = true
			return nil
		}))
		require.NoError(t, err)
		time.Sleep(time.Minute)
		errReason := errors.New("no longer needed")
		require.NoError(t, queued.Cancel(errReason))
		<-queued.Done()
		st := queued.Status()
		assert.Equal(t, bgjob.StateCanceled, st.State)
		assert.False(t, st.HasWorker)
		assert.Equal(t, time.Minute, st.QueueWait)
		assert.ErrorIs(t, queued.Wait(t.Context()), errReason)
		assert.ErrorIs(t, queued.Cancel(nil), bgjob.ErrJobDone)

		close(release)
		require.NoError(t, r.Shutdown(context.Background()))
		assert.False(t, ran, "a job canceled in the queue never runs")
		evs := checkLifecycles(t, events(), 2)[queued.ID()]
		types := []bgjob.EventType{}
		for _, ev := range evs {
			types = append(types, ev.Type)
		}
		assert.Equal(t, []bgjob.EventType{bgjob.EventInfo, bgjob.EventQueued, bgjob.EventComplete, bgjob.EventWorkerStopped}, types)
		assert.ErrorIs(t, evs[2].Err, errReason)
	})
}

func TestCancelingUntilTheJobReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		h, err := r.Start(t.Context(), "slow to stop", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			<-ctx.Done()
			time.Sleep(2 * time.Second) // saving a checkpoint
			return ctx.Err()
		}))
		require.NoError(t, err)
		synctest.Wait()
		require.NoError(t, h.Cancel(nil))
		assert.Equal(t, bgjob.StateCanceling, h.Status().State)
		time.Sleep(time.Second)
		assert.Equal(t, bgjob.StateCanceling, h.Status().State)
		assert.ErrorIs(t, h.Pause(), bgjob.ErrNotRunning)
		assert.ErrorIs(t, h.Wait(t.Context()), bgjob.ErrCanceled)
		assert.Equal(t, bgjob.StateCanceled, h.Status().State)
	})
}

func TestAbandonedJobDoesNotHoldShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithCancelGrace(5 * time.Second))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		stuck := make(chan struct{})
		h, err := r.Start(t.Context(), "ignores cancel", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			<-stuck // never looks at ctx
			return nil
		}))
		require.NoError(t, err)
		ok, err := r.Start(t.Context(), "honours cancel", blocker(nil))
		require.NoError(t, err)
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = r.Shutdown(ctx)
		var se *bgjob.ShutdownError
		assert.ErrorAs(t, err, &se)
		synctest.Wait()
		assert.Equal(t, bgjob.StateCanceled, ok.Status().State)
		assert.Equal(t, bgjob.StateCanceling, h.Status().State)

		time.Sleep(6 * time.Second) // the grace ran out at 6s
		assert.Equal(t, bgjob.StateAbandoned, h.Status().State)
		assert.True(t, h.Status().Alive, "abandoned, but honestly still running")
		require.NoError(t, r.Shutdown(context.Background()), "shutdown no longer waits for it")
		evs := events() // the channel closed without the abandoned job's end
		var types []bgjob.EventType
		for _, ev := range evs {
			if ev.JobID == h.ID() {
				types = append(types, ev.Type)
			}
		}
		assert.Equal(t, []bgjob.EventType{bgjob.EventInfo, bgjob.EventWorkerStarted, bgjob.EventAbandoned}, types)

		close(stuck) // let it go, so the test leaks nothing
		<-h.Done()
		assert.Equal(t, bgjob.StateSucceeded, h.Status().State, "it finished its work after all")
	})
}

func TestPauseAndResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		h, err := r.Start(t.Context(), "pausable", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(20)
			for range 20 {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				time.Sleep(100 * time.Millisecond) // one batch
				p.Add(1)
			}
			return nil
		}))
		require.NoError(t, err)

		time.Sleep(550 * time.Millisecond)
		require.NoError(t, h.Pause())
		require.NoError(t, h.Pause(), "pausing twice is a no-op")
		assert.Equal(t, bgjob.StatePausing, h.Status().State, "still running its batch")
		time.Sleep(100 * time.Millisecond)
		st := h.Status()
		assert.Equal(t, bgjob.StatePaused, st.State, "parked at the checkpoint")
		assert.Equal(t, int64(6), st.Step)

		time.Sleep(10 * time.Second)
		st = h.Status()
		assert.Equal(t, int64(6), st.Step, "no work while paused")
		assert.Equal(t, 600*time.Millisecond, st.Duration, "paused time is not run time")
		assert.Equal(t, 10*time.Second+50*time.Millisecond, st.Paused)
		assert.Zero(t, st.ETA.Seconds()-st.ETA.Seconds())

		require.NoError(t, h.Resume())
		require.NoError(t, h.Wait(t.Context()))
		st = h.Status()
		assert.Equal(t, 2*time.Second, st.Duration)
		assert.Equal(t, 10*time.Second+50*time.Millisecond, st.Paused)
		assert.ErrorIs(t, h.Pause(), bgjob.ErrNotRunning)
		assert.ErrorIs(t, h.Resume(), bgjob.ErrNotRunning)

		require.NoError(t, r.Shutdown(context.Background()))
		evs := checkLifecycles(t, events(), 1)[h.ID()]
		var paused, resumed *bgjob.Event
		for i := range evs {
			switch evs[i].Type {
			case bgjob.EventPaused:
				paused = &evs[i]
			case bgjob.EventResumed:
				resumed = &evs[i]
			}
		}
		require.NotNil(t, paused)
		require.NotNil(t, resumed)
		assert.Equal(t, bgjob.StatePaused, paused.State)
		assert.Equal(t, 10*time.Second+50*time.Millisecond, resumed.Paused)
		complete := evs[len(evs)-2]
		assert.Equal(t, 10*time.Second+50*time.Millisecond, complete.Paused)
		assert.Equal(t, 2*time.Second, complete.Duration)
	})
}

func TestResumeBeforeTheCheckpointWithdrawsThePause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		h, err := r.Start(t.Context(), "j", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			time.Sleep(time.Second)
			return p.Checkpoint()
		}))
		require.NoError(t, err)
		synctest.Wait()
		require.ErrorIs(t, h.Resume(), bgjob.ErrNotPaused)
		require.NoError(t, h.Pause())
		require.NoError(t, h.Resume())
		assert.Equal(t, bgjob.StateRunning, h.Status().State)
		require.NoError(t, h.Wait(t.Context()))
		require.NoError(t, r.Shutdown(context.Background()))
		for _, ev := range events() {
			assert.NotContains(t, []bgjob.EventType{bgjob.EventPaused, bgjob.EventResumed}, ev.Type)
		}
	})
}

func TestCancelWhilePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		h, err := r.Start(t.Context(), "j", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			for {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				time.Sleep(10 * time.Millisecond)
			}
		}))
		require.NoError(t, err)
		require.NoError(t, h.Pause())
		time.Sleep(time.Second)
		require.Equal(t, bgjob.StatePaused, h.Status().State)
		errReason := errors.New("operator stop")
		require.NoError(t, h.Cancel(errReason))
		assert.ErrorIs(t, h.Wait(t.Context()), errReason)
		st := h.Status()
		assert.Equal(t, bgjob.StateCanceled, st.State)
		assert.Equal(t, time.Second, st.Paused)
		require.NoError(t, r.Shutdown(context.Background()))
		evs := checkLifecycles(t, events(), 1)[h.ID()]
		for _, ev := range evs {
			assert.NotEqual(t, bgjob.EventResumed, ev.Type, "a canceled pause does not resume")
		}
	})
}

func TestTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithDefaultTimeout(time.Hour))
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		short, err := r.Start(t.Context(), "short", blocker(nil), bgjob.WithTimeout(2*time.Second))
		require.NoError(t, err)
		byDefault, err := r.Start(t.Context(), "default", blocker(nil))
		require.NoError(t, err)
		release := make(chan struct{})
		unlimited, err := r.Start(t.Context(), "unlimited", blocker(release), bgjob.WithTimeout(0))
		require.NoError(t, err)

		err = short.Wait(t.Context())
		assert.ErrorIs(t, err, bgjob.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, bgjob.StateCanceled, short.Status().State)
		assert.Equal(t, 2*time.Second, short.Status().Duration)

		assert.ErrorIs(t, byDefault.Wait(t.Context()), bgjob.ErrTimeout)
		assert.Equal(t, time.Hour, byDefault.Status().Duration)

		time.Sleep(10 * time.Hour)
		assert.Equal(t, bgjob.StateRunning, unlimited.Status().State)
		close(release)
		assert.NoError(t, unlimited.Wait(t.Context()))
	})
}

func stallingJob(ctx context.Context, p *bgjob.Progress) error {
	p.SetTotal(3)
	p.Add(1)
	time.Sleep(3050 * time.Millisecond) // hung on something, off the interval's beat
	p.Add(1)
	time.Sleep(500 * time.Millisecond)
	p.Add(1)
	return nil
}

func TestStallDetection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		h, err := r.Start(t.Context(), "staller", bgjob.JobFunc(stallingJob))
		require.NoError(t, err)

		time.Sleep(1500 * time.Millisecond)
		assert.True(t, h.Status().Stalled)
		time.Sleep(2 * time.Second)
		assert.False(t, h.Status().Stalled, "progress clears the mark")
		require.NoError(t, h.Wait(t.Context()))
		require.NoError(t, r.Shutdown(context.Background()))

		evs := checkLifecycles(t, events(), 1)[h.ID()]
		var stalled, unstalled []bgjob.Event
		for _, ev := range evs {
			switch ev.Type {
			case bgjob.EventStalled:
				stalled = append(stalled, ev)
			case bgjob.EventUnstalled:
				unstalled = append(unstalled, ev)
			}
		}
		require.Len(t, stalled, 1)
		require.Len(t, unstalled, 1)
		assert.Equal(t, "no progress for 1.0s", stalled[0].Message)
		assert.True(t, stalled[0].Stalled, "the event says the job is stalled")
		assert.False(t, unstalled[0].Stalled)
		assert.Contains(t, stalled[0].Stack, "stallingJob", "the stacks show where the job is")
		assert.Regexp(t, `stallingJob  \S+control_test\.go:\d+`, stalled[0].Stack, "as function and file:line")
		assert.NotContains(t, stalled[0].Stack, "0x", "without addresses")
		// Progress is seen at the interval after it happens (100ms), and a
		// stall one timeout after that.
		assert.Equal(t, 1100*time.Millisecond, stalled[0].Time.Sub(evs[1].Time))
		assert.Equal(t, 3*time.Second+100*time.Millisecond, unstalled[0].Time.Sub(evs[1].Time), "cleared at the next interval")
	})
}

func TestPausedJobDoesNotStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		h, err := r.Start(t.Context(), "j", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			for i := range 10 {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				time.Sleep(100 * time.Millisecond)
				p.SetStep(int64(i))
			}
			return nil
		}))
		require.NoError(t, err)
		require.NoError(t, h.Pause())
		time.Sleep(time.Minute)
		assert.False(t, h.Status().Stalled)
		require.NoError(t, h.Resume())
		require.NoError(t, h.Wait(t.Context()))
		require.NoError(t, r.Shutdown(context.Background()))
		for _, ev := range events() {
			assert.NotEqual(t, bgjob.EventStalled, ev.Type)
		}
	})
}

func TestControlOfUnknownAndFinishedJobs(t *testing.T) {
	r := newRunner(t, bgjob.WithMaxRunning(1))
	release := make(chan struct{})
	running := start(t, r, "running", blocker(release))
	queued := start(t, r, "queued", blocker(release))
	assert.ErrorIs(t, queued.Pause(), bgjob.ErrNotRunning)
	assert.ErrorIs(t, queued.Resume(), bgjob.ErrNotRunning)
	_, err := r.Job(uuid.New())
	assert.ErrorIs(t, err, bgjob.ErrUnknownJob)
	close(release)
	waitJob(t, running)
	waitJob(t, queued)
	h, err := r.Job(running.ID())
	require.NoError(t, err, "a finished job is still found by id")
	assert.ErrorIs(t, h.Pause(), bgjob.ErrNotRunning)
	assert.ErrorIs(t, h.Resume(), bgjob.ErrNotRunning)
	assert.ErrorIs(t, h.Cancel(nil), bgjob.ErrJobDone)
}

func TestControlOptionsBadInput(t *testing.T) {
	for _, give := range []bgjob.Option{
		bgjob.WithMaxRunning(0), bgjob.WithMaxRunning(-3), bgjob.WithMaxQueued(0),
		bgjob.WithDefaultTimeout(-time.Second), bgjob.WithCancelGrace(-1), bgjob.WithStallTimeout(-1),
	} {
		_, err := bgjob.NewRunner(give)
		assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
	}
	r := newRunner(t)
	_, err := r.Start(context.Background(), "x", bgjob.JobFunc(succeed), bgjob.WithTimeout(-1))
	assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
}

// Pause, resume, cancel, timeouts and jobs finishing on their own, all at
// once from many goroutines: every job still ends, exactly once, with its
// lifecycle in order, and nothing leaks.
func TestControlRaces(t *testing.T) {
	const jobs = 200
	r := newRunner(t, bgjob.WithMaxRunning(16), bgjob.WithCancelGrace(time.Minute))
	sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	events := collectAsync(sub.Events())
	handles := make([]*bgjob.Handle, jobs)
	for i := range handles {
		var opts []bgjob.JobOption
		if i%5 == 0 {
			opts = append(opts, bgjob.WithTimeout(time.Duration(i%7)*time.Millisecond))
		}
		handles[i] = start(t, r, fmt.Sprint("race-", i), func(ctx context.Context, p *bgjob.Progress) error {
			for step := range 300 {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				p.SetStep(int64(step))
				runtime.Gosched() // let the controllers in
			}
			return nil
		}, opts...)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range jobs * 3 {
				h := handles[(i*7+g*13)%jobs]
				switch (i + g) % 4 {
				case 0:
					_ = h.Pause()
				case 1, 2:
					_ = h.Resume()
				case 3:
					if i%9 == 0 {
						_ = h.Cancel(errors.New("race"))
					}
				}
			}
		})
	}
	wg.Wait()
	for _, h := range handles { // whatever the goroutines left paused
		_ = h.Resume()
	}
	for _, h := range handles {
		waitJob(t, h)
		st := h.Status()
		require.True(t, st.State.Terminal(), "%s ends in %s", st.Name, st.State)
		require.False(t, st.Alive)
	}
	require.NoError(t, r.Shutdown(context.Background()))
	checkLifecycles(t, events(), jobs)
}

func TestAbandonedJobGivesBackItsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithMaxRunning(1), bgjob.WithCancelGrace(time.Second))
		require.NoError(t, err)
		stuck := make(chan struct{})
		deaf, err := r.Start(t.Context(), "deaf", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
			<-stuck
			return nil
		}))
		require.NoError(t, err)
		next, err := r.Start(t.Context(), "next", bgjob.JobFunc(succeed))
		require.NoError(t, err)
		synctest.Wait()
		require.NoError(t, deaf.Cancel(nil))
		time.Sleep(2 * time.Second)
		assert.Equal(t, bgjob.StateAbandoned, deaf.Status().State)
		require.NoError(t, next.Wait(t.Context()), "the queued job runs in the abandoned one's slot")
		require.NoError(t, r.Shutdown(context.Background()))
		close(stuck)
		<-deaf.Done()
	})
}

func TestGraceStartsWithTheWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithCancelGrace(time.Second))
		require.NoError(t, err)
		events := collectAsync(events(t, r))
		release := make(chan struct{})
		h, err := r.Start(t.Context(), "deaf", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
			<-release
			return nil
		}))
		require.NoError(t, err)
		require.NoError(t, h.Cancel(nil)) // before its goroutine ran
		time.Sleep(2 * time.Second)
		assert.Equal(t, bgjob.StateAbandoned, h.Status().State)
		close(release)
		<-h.Done()
		require.NoError(t, r.Shutdown(context.Background()))
		checkLifecycles(t, events(), 1) // abandoned comes after worker_started
	})
}

// A job that returns just as it is abandoned must leave the Runner's
// accounts straight, or Shutdown would wait for ever.
func TestAbandonRacingTheJobsReturn(t *testing.T) {
	r, err := bgjob.NewRunner(bgjob.WithCancelGrace(time.Microsecond))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				var h *bgjob.Handle
				ready := make(chan struct{})
				h, err := r.Start(context.Background(), "j", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
					<-ready
					<-ctx.Done()
					for h.Status().State != bgjob.StateAbandoned {
						runtime.Gosched()
					}
					return ctx.Err()
				}))
				if !assert.NoError(t, err) {
					return
				}
				close(ready)
				assert.NoError(t, h.Cancel(nil))
				<-h.Done()
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, r.Shutdown(ctx))
	assert.False(t, r.GetStatus().AnyRunning)
}

func TestQueuePositionWithManyQueued(t *testing.T) {
	r := newRunner(t, bgjob.WithMaxRunning(1))
	events := events(t, r)
	release := make(chan struct{})
	const n = 2000
	priority := func(i int) int { return i % 3 }
	var handles []*bgjob.Handle
	for i := range n {
		handles = append(handles, start(t, r, fmt.Sprint("j-", i), blocker(release), bgjob.WithPriority(priority(i))))
	}
	close(release)
	for _, h := range handles {
		waitJob(t, h)
	}
	require.NoError(t, r.Shutdown(context.Background()))
	got := map[string]int{}
	for ev := range events {
		if ev.Type == bgjob.EventQueued {
			got[ev.JobName] = ev.QueuePosition
		}
	}
	// Job 0 runs; each later one is queued behind every queued job of its
	// priority or higher.
	require.Len(t, got, n-1)
	for i := 1; i < n; i++ {
		want := 0
		for k := 1; k <= i; k++ {
			if priority(k) >= priority(i) {
				want++
			}
		}
		require.Equal(t, want, got[fmt.Sprint("j-", i)], "j-%d", i)
	}
}

// The full dump behind a stall's readable stacks: the job's goroutines in
// the runtime's profile form, labels and addresses included.
func TestHandleStacksIsTheFullDump(t *testing.T) {
	r := newRunner(t)
	release := make(chan struct{})
	h := start(t, r, "parked", blocker(release))
	for h.Status().State != bgjob.StateRunning {
		runtime.Gosched()
	}
	var dump string
	require.Eventually(t, func() bool {
		var err error
		dump, err = h.Stacks()
		return err == nil && strings.Contains(dump, "blocker")
	}, time.Minute, time.Millisecond)
	assert.Contains(t, dump, bgjob.LabelJobID)
	assert.Contains(t, dump, h.ID().String())
	assert.Contains(t, dump, "0x")
	close(release)
	waitJob(t, h)
}

// Whoever has received an event never reads an older status: the status
// changes before the event that tells of it is published.
func TestStatusIsNeverOlderThanAnEventReceived(t *testing.T) {
	r := newRunner(t)
	events := events(t, r, bgjob.WithPolicy(bgjob.Lossless), bgjob.WithTypes(bgjob.EventPaused, bgjob.EventResumed, bgjob.EventComplete, bgjob.EventWorkerStopped))
	h := start(t, r, "toggled", func(ctx context.Context, p *bgjob.Progress) error {
		for {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			runtime.Gosched()
		}
	})
	for range 300 {
		require.NoError(t, h.Pause())
		ev := <-events
		require.Equal(t, bgjob.EventPaused, ev.Type)
		require.Equal(t, bgjob.StatePaused, h.Status().State, "received paused, read %s", h.Status().State)
		require.NoError(t, h.Resume())
		ev = <-events
		require.Equal(t, bgjob.EventResumed, ev.Type)
		require.NotEqual(t, bgjob.StatePaused, h.Status().State)
	}
	require.NoError(t, h.Cancel(nil))
	ev := <-events
	require.Equal(t, bgjob.EventComplete, ev.Type)
	assert.Equal(t, bgjob.StateCanceled, h.Status().State)
	ev = <-events
	require.Equal(t, bgjob.EventWorkerStopped, ev.Type)
	assert.False(t, h.Status().Alive)
}

// A job canceled while parked at a checkpoint sees the cancellation at
// that checkpoint: it takes no step more.
func TestCancelWhileParkedTakesNoStepMore(t *testing.T) {
	for range 50 {
		r := newRunner(t)
		var steps atomic.Int64
		h := start(t, r, "parked", func(ctx context.Context, p *bgjob.Progress) error {
			for {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				steps.Add(1)
				runtime.Gosched()
			}
		})
		require.NoError(t, h.Pause())
		for h.Status().State != bgjob.StatePaused {
			runtime.Gosched()
		}
		before := steps.Load()
		require.NoError(t, h.Cancel(nil))
		require.ErrorIs(t, h.Wait(context.Background()), bgjob.ErrCanceled)
		assert.Equal(t, before, steps.Load())
	}
}
