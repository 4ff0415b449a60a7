package bgjob_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// newRunner returns a Runner that the test shuts down when it ends.
func newRunner(t *testing.T, opts ...bgjob.Option) *bgjob.Runner {
	t.Helper()
	r, err := bgjob.NewRunner(opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		assert.NoError(t, r.Shutdown(ctx))
	})
	return r
}

// events subscribes to r with opts and returns the channel; the test
// closes the subscription when it ends.
func events(t *testing.T, r *bgjob.Runner, opts ...bgjob.SubscribeOption) <-chan bgjob.Event {
	t.Helper()
	sub, err := r.Subscribe(opts...)
	require.NoError(t, err)
	t.Cleanup(sub.Close)
	return sub.Events()
}

// start starts fn and fails the test if Start fails.
func start(t *testing.T, r *bgjob.Runner, name string, fn bgjob.JobFunc, opts ...bgjob.JobOption) *bgjob.Handle {
	t.Helper()
	h, err := r.Start(context.Background(), name, fn, opts...)
	require.NoError(t, err)
	return h
}

func succeed(context.Context, *bgjob.Progress) error { return nil }

// waitJob waits for h and returns its error.
func waitJob(t *testing.T, h *bgjob.Handle) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-h.Done():
	case <-ctx.Done():
		t.Fatalf("job %s did not end", h.Name())
	}
	return h.Wait(ctx)
}

// collect reads ch until it is closed.
func collect(ch <-chan bgjob.Event) []bgjob.Event {
	var evs []bgjob.Event
	for ev := range ch {
		evs = append(evs, ev)
	}
	return evs
}

// checkLifecycles checks that evs hold, for each of wantJobs jobs, the
// lifecycle in order: info, then queued if the job waited, then
// worker_started (absent only for a job canceled while queued), then any
// number of progress, paused, resumed, stalled, unstalled and abandoned,
// then complete and worker_stopped, each exactly once; and that sequence
// numbers grow. It returns the events by job.
func checkLifecycles(t *testing.T, evs []bgjob.Event, wantJobs int) map[uuid.UUID][]bgjob.Event {
	t.Helper()
	byJob := make(map[uuid.UUID][]bgjob.Event)
	var lastSeq uint64
	for _, ev := range evs {
		require.NotEqual(t, bgjob.EventLagged, ev.Type, "unexpected lag: %+v", ev)
		require.Greater(t, ev.Seq, lastSeq, "sequence numbers must grow")
		lastSeq = ev.Seq
		byJob[ev.JobID] = append(byJob[ev.JobID], ev)
	}
	require.Len(t, byJob, wantJobs)
	for id, jevs := range byJob {
		types := make([]string, len(jevs))
		for i, ev := range jevs {
			types[i] = ev.Type.String()
		}
		require.True(t, lifecycle.MatchString(strings.Join(types, " ")), "job %s: %s", id, strings.Join(types, " "))
	}
	return byJob
}

var lifecycle = regexp.MustCompile(`^info (queued )?(` +
	`worker_started( (progress|paused|resumed|stalled|unstalled|abandoned))* complete worker_stopped` +
	`|complete worker_stopped)$`)

func TestLifecycleOfOneJob(t *testing.T) {
	r := newRunner(t)
	events := events(t, r)
	h := start(t, r, "resnet-finetune", func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(4)
		for range 4 {
			p.Add(1)
		}
		p.SetMessage("done")
		return nil
	})
	require.NoError(t, waitJob(t, h))
	require.NoError(t, r.Shutdown(context.Background()))
	evs := collect(events)
	jevs := checkLifecycles(t, evs, 1)[h.ID()]

	info, started, complete, stopped := jevs[0], jevs[1], jevs[len(jevs)-2], jevs[len(jevs)-1]
	for _, ev := range jevs {
		assert.Equal(t, h.ID(), ev.JobID)
		assert.Equal(t, "resnet-finetune", ev.JobName)
		assert.Equal(t, "resnet-finetune", ev.WorkerName)
		assert.Equal(t, info.WorkerID, ev.WorkerID)
		assert.NotZero(t, ev.WorkerID)
		assert.Equal(t, h.Status().ProcessID, ev.ProcessID)
		assert.False(t, ev.Time.IsZero())
	}
	// As the original design's thread: once started, info says so.
	assert.True(t, info.Alive, "a job given a worker at once is alive in its info")
	assert.Equal(t, bgjob.StateRunning, info.State)
	for _, ev := range []bgjob.Event{info, started} {
		assert.Zero(t, ev.Step, "%s is out before the job's code runs", ev.Type)
		assert.Zero(t, ev.Percent)
	}
	assert.True(t, started.Alive)
	assert.Equal(t, bgjob.StateRunning, started.State)
	assert.False(t, started.StartTime.IsZero())

	last := jevs[len(jevs)-3]
	require.Equal(t, bgjob.EventProgress, last.Type, "the last progress precedes complete")
	assert.Equal(t, int64(4), last.Step)
	assert.Equal(t, 100.0, last.Percent)
	assert.Equal(t, "done", last.Message)

	assert.True(t, complete.Success())
	assert.Equal(t, bgjob.StateSucceeded, complete.State)
	assert.NoError(t, complete.Err)
	assert.Equal(t, int64(4), complete.Step)
	assert.False(t, stopped.Alive)
	assert.Equal(t, complete.Duration, stopped.Duration)

	st := h.Status()
	assert.Equal(t, bgjob.StateSucceeded, st.State)
	assert.True(t, st.HasWorker)
	assert.False(t, st.Alive)
	assert.Equal(t, complete.Duration, st.Duration)
	assert.Equal(t, st.EndTime.Sub(st.StartTime), st.Duration)
}

func TestOutcomes(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		give      bgjob.JobFunc
		wantState bgjob.State
		wantErr   error
	}{
		{name: "success", give: succeed, wantState: bgjob.StateSucceeded},
		{
			name:      "error",
			give:      func(context.Context, *bgjob.Progress) error { return errBoom },
			wantState: bgjob.StateFailed,
			wantErr:   errBoom,
		},
		{
			name:      "panic with an error",
			give:      func(context.Context, *bgjob.Progress) error { panic(errBoom) },
			wantState: bgjob.StateFailed,
			wantErr:   errBoom, // PanicError unwraps to the value
		},
		{
			name: "goexit",
			give: func(context.Context, *bgjob.Progress) error {
				runtime.Goexit()
				return nil
			},
			wantState: bgjob.StateFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			events := events(t, r)
			h := start(t, r, tt.name, tt.give)
			err := waitJob(t, h)
			require.NoError(t, r.Shutdown(context.Background()))

			st := h.Status()
			assert.Equal(t, tt.wantState, st.State)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				assert.ErrorIs(t, st.Err, tt.wantErr)
			}
			if tt.wantState == bgjob.StateSucceeded {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
			evs := checkLifecycles(t, collect(events), 1)[h.ID()]
			complete := evs[len(evs)-2]
			assert.Equal(t, tt.wantState, complete.State)
			assert.Equal(t, st.Err, complete.Err)
		})
	}
}

func TestPanicKeepsValueAndStackAndRunnerGoesOn(t *testing.T) {
	r := newRunner(t)
	h := start(t, r, "panics", func(context.Context, *bgjob.Progress) error {
		explode()
		return nil
	})
	err := waitJob(t, h)
	var pe *bgjob.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "kaboom", pe.Value)
	assert.Contains(t, string(pe.Stack), "explode", "the stack is the panicking goroutine's")
	assert.True(t, strings.HasPrefix(string(pe.Stack), "goroutine "), "the stack keeps its header")
	assert.NotContains(t, string(pe.Stack), "runtime/debug.Stack", "the stack starts at the panic")
	frames := strings.SplitN(string(pe.Stack), "\n", 3)
	assert.Contains(t, frames[1], "explode", "the first frame is the panicking function")
	assert.Contains(t, h.Status().Stack, "explode")
	assert.Contains(t, err.Error(), "kaboom")

	// The Runner is unharmed.
	h2 := start(t, r, "after", succeed)
	assert.NoError(t, waitJob(t, h2))
}

func explode() { panic("kaboom") }

func TestCancelWithCause(t *testing.T) {
	r := newRunner(t)
	events := events(t, r)
	errReason := errors.New("user pressed stop")
	running := make(chan struct{})
	var seenCause error
	h := start(t, r, "cancel-me", func(ctx context.Context, p *bgjob.Progress) error {
		close(running)
		<-ctx.Done()
		seenCause = context.Cause(ctx)
		return ctx.Err()
	})
	<-running
	require.NoError(t, h.Cancel(errReason))
	require.NoError(t, h.Cancel(errors.New("second reason")), "cancel twice is a no-op")
	err := waitJob(t, h)
	assert.ErrorIs(t, err, errReason)
	assert.Equal(t, errReason, seenCause, "the job sees the cause")
	assert.Equal(t, bgjob.StateCanceled, h.Status().State)
	assert.ErrorIs(t, h.Cancel(errReason), bgjob.ErrJobDone)

	require.NoError(t, r.Shutdown(context.Background()))
	evs := checkLifecycles(t, collect(events), 1)[h.ID()]
	complete := evs[len(evs)-2]
	assert.Equal(t, bgjob.StateCanceled, complete.State)
	assert.ErrorIs(t, complete.Err, errReason)
	assert.False(t, complete.Success())
}

func TestCancelOutcomes(t *testing.T) {
	errOwn := errors.New("stopped early")
	tests := []struct {
		name      string
		giveCause error
		giveRet   func(ctx context.Context) error
		wantState bgjob.State
		wantIs    []error
	}{
		{"nil cause", nil, func(ctx context.Context) error { return ctx.Err() }, bgjob.StateCanceled, []error{bgjob.ErrCanceled}},
		{"job's own error kept", errOwn, func(context.Context) error { return errors.New("flush failed") }, bgjob.StateCanceled, []error{errOwn}},
		{"returned nil after cancel", errOwn, func(context.Context) error { return nil }, bgjob.StateSucceeded, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			running := make(chan struct{})
			h := start(t, r, "job", func(ctx context.Context, p *bgjob.Progress) error {
				close(running)
				<-ctx.Done()
				return tt.giveRet(ctx)
			})
			<-running
			require.NoError(t, h.Cancel(tt.giveCause))
			err := waitJob(t, h)
			assert.Equal(t, tt.wantState, h.Status().State)
			for _, want := range tt.wantIs {
				assert.ErrorIs(t, err, want)
			}
		})
	}
}

func TestJobContextOutlivesStartContext(t *testing.T) {
	r := newRunner(t)
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "trace-42"))
	got := make(chan any, 1)
	release := make(chan struct{})
	h, err := r.Start(ctx, "detached", bgjob.JobFunc(func(jctx context.Context, p *bgjob.Progress) error {
		<-release
		got <- jctx.Value(key{})
		return jctx.Err()
	}))
	require.NoError(t, err)
	cancel() // the request that started the job is over
	close(release)
	require.NoError(t, waitJob(t, h))
	assert.Equal(t, "trace-42", <-got)
}

func TestManyJobsAtOnce(t *testing.T) {
	const n = 2000
	r := newRunner(t)
	sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	handles := make([]*bgjob.Handle, n)
	for i := range n {
		handles[i] = start(t, r, fmt.Sprintf("job-%d", i), func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(10)
			started.Done()
			<-release
			p.SetStep(10)
			if i%7 == 0 {
				return errors.New("unlucky")
			}
			return nil
		})
	}
	started.Wait()
	st := r.GetStatus()
	assert.True(t, st.AnyRunning)
	assert.Equal(t, n, st.Counts[bgjob.StateRunning])
	assert.Len(t, st.Jobs, n)
	ids := make(map[int64]bool)
	for _, js := range st.Jobs {
		assert.True(t, js.Alive)
		assert.False(t, ids[js.WorkerID], "worker ids are unique")
		ids[js.WorkerID] = true
	}

	close(release)
	var wg sync.WaitGroup
	var evs []bgjob.Event
	wg.Go(func() { evs = collect(sub.Events()) })
	for _, h := range handles {
		waitJob(t, h)
	}
	require.NoError(t, r.Shutdown(context.Background()))
	wg.Wait()
	checkLifecycles(t, evs, n)

	st = r.GetStatus()
	assert.False(t, st.AnyRunning)
	assert.Equal(t, n/7+1, st.Counts[bgjob.StateFailed])
	assert.Equal(t, n-(n/7+1), st.Counts[bgjob.StateSucceeded])
	assert.True(t, st.Closed)
}

func TestShutdownWaitsForRunningJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		events := events(t, r)
		h, err := r.Start(t.Context(), "slow", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			time.Sleep(5 * time.Second)
			return nil
		}))
		require.NoError(t, err)
		begin := time.Now()
		require.NoError(t, r.Shutdown(context.Background()))
		assert.Equal(t, 5*time.Second, time.Since(begin))
		assert.Equal(t, bgjob.StateSucceeded, h.Status().State)
		checkLifecycles(t, collect(events), 1)

		_, err = r.Start(t.Context(), "late", bgjob.JobFunc(succeed))
		assert.ErrorIs(t, err, bgjob.ErrRunnerClosed)
		require.NoError(t, r.Shutdown(context.Background()), "Shutdown twice")
	})
}

func TestShutdownDeadlineCancelsJobsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		events := events(t, r)
		// One job honours cancellation after a second of cleanup, one
		// finishes on its own before the deadline.
		stubborn, err := r.Start(t.Context(), "stubborn", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			<-ctx.Done()
			time.Sleep(time.Second)
			return ctx.Err()
		}))
		require.NoError(t, err)
		quick, err := r.Start(t.Context(), "quick", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			time.Sleep(time.Second)
			return nil
		}))
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		err = r.Shutdown(ctx)
		var se *bgjob.ShutdownError
		require.ErrorAs(t, err, &se)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		require.Len(t, se.Jobs, 1)
		assert.Equal(t, stubborn.ID(), se.Jobs[0].ID)
		assert.Contains(t, err.Error(), "stubborn")
		assert.Equal(t, bgjob.StateSucceeded, quick.Status().State)

		// The channel still delivers the stubborn job's end, then closes.
		evs := checkLifecycles(t, collect(events), 2)
		jevs := evs[stubborn.ID()]
		complete := jevs[len(jevs)-2]
		assert.Equal(t, bgjob.StateCanceled, complete.State)
		assert.ErrorIs(t, complete.Err, bgjob.ErrShutdown)

		// A second Shutdown now finds everything stopped.
		require.NoError(t, r.Shutdown(context.Background()))
		_, err = r.Subscribe()
		assert.ErrorIs(t, err, bgjob.ErrRunnerClosed)
		// The handle still answers after shutdown.
		assert.Equal(t, bgjob.StateCanceled, stubborn.Status().State)
		assert.ErrorIs(t, stubborn.Cancel(nil), bgjob.ErrJobDone)
		assert.ErrorIs(t, stubborn.Wait(context.Background()), bgjob.ErrShutdown)
	})
}

func TestSubscribeAfterShutdownFails(t *testing.T) {
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	sub, err := r.Subscribe()
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(context.Background()))
	_, open := <-sub.Events()
	assert.False(t, open, "closed after its last event")
	_, err = r.Subscribe()
	assert.ErrorIs(t, err, bgjob.ErrRunnerClosed)
}

// The original design's thread.start() returns once the thread runs, and
// the status read right after it says so; Start does the same whenever a
// worker slot is free. Only a job that waits for a slot reads queued.
func TestStartReturnsARunningJob(t *testing.T) {
	r := newRunner(t, bgjob.WithMaxRunning(1))
	events := events(t, r)
	release := make(chan struct{})
	h := start(t, r, "TrainingWorkerThread", blocker(release))
	st := h.Status()
	assert.Equal(t, bgjob.StateRunning, st.State)
	assert.True(t, st.Alive)
	assert.True(t, st.HasWorker)
	assert.True(t, st.Running())
	assert.Equal(t, "TrainingWorkerThread", st.WorkerName)
	assert.True(t, r.GetStatus().AnyRunning)

	waiting := start(t, r, "waiting", succeed)
	assert.Equal(t, bgjob.StateQueued, waiting.Status().State)
	assert.False(t, waiting.Status().Alive)
	close(release)
	waitJob(t, h)
	waitJob(t, waiting)
	require.NoError(t, r.Shutdown(context.Background()))
	infos := map[string]bgjob.Event{}
	for _, ev := range collect(events) {
		if ev.Type == bgjob.EventInfo {
			infos[ev.JobName] = ev
		}
	}
	assert.Equal(t, bgjob.StateRunning, infos["TrainingWorkerThread"].State)
	assert.True(t, infos["TrainingWorkerThread"].Alive)
	assert.Equal(t, bgjob.StateQueued, infos["waiting"].State, "info says queued only for a job that waits")
	assert.False(t, infos["waiting"].Alive)
}

func TestDurationAndStatusWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner() // estimates every 100ms
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		// Steps land at 150ms, 250ms, …: never at the instant of an
		// estimate.
		h, err := r.Start(t.Context(), "timed", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(100)
			time.Sleep(50 * time.Millisecond)
			for range 100 {
				time.Sleep(100 * time.Millisecond)
				p.Add(1)
			}
			return nil
		}))
		require.NoError(t, err)

		time.Sleep(2025 * time.Millisecond)
		st := h.Status()
		assert.Equal(t, bgjob.StateRunning, st.State)
		assert.Equal(t, int64(19), st.Step, "progress is live")
		assert.Equal(t, 19.0, st.Percent)
		assert.Equal(t, 2025*time.Millisecond, st.Duration, "duration is live")
		// The rate is smoothed over recent progress, estimated at each
		// interval: one step per interval after the first, ten a second;
		// the ETA is what is left at that rate.
		assert.InDelta(t, 10, st.Rate, 0.01)
		assert.InDelta(t, float64(81*time.Second/10), float64(st.ETA), float64(100*time.Millisecond))

		time.Sleep(100 * time.Millisecond)
		st = h.Status()
		assert.Equal(t, int64(20), st.Step)
		assert.InDelta(t, 10, st.Rate, 0.01)

		require.NoError(t, h.Wait(t.Context()))
		st = h.Status()
		assert.Equal(t, 10050*time.Millisecond, st.Duration)
		assert.Equal(t, time.Duration(0), st.ETA)
		assert.InDelta(t, 100/10.05, st.Rate, 1e-9, "the final rate is over the whole run")
	})
}

func TestStatusNeverShowsRunningAfterComplete(t *testing.T) {
	r := newRunner(t)
	sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	const n = 200
	for i := range n {
		start(t, r, fmt.Sprint("j", i), func(ctx context.Context, p *bgjob.Progress) error {
			p.SetPercent(50)
			return nil
		})
	}
	seen := 0
	for ev := range sub.Events() {
		switch ev.Type {
		case bgjob.EventComplete:
			h, err := r.Job(ev.JobID)
			require.NoError(t, err)
			st := h.Status()
			assert.True(t, st.State.Terminal(), "complete was published, status says %s", st.State)
		case bgjob.EventWorkerStopped:
			h, err := r.Job(ev.JobID)
			require.NoError(t, err)
			assert.False(t, h.Status().Alive)
			if seen++; seen == n {
				go r.Shutdown(context.Background())
			}
		}
	}
}

func TestWorkerIdentity(t *testing.T) {
	r := newRunner(t)
	release := make(chan struct{})
	running := make(chan struct{})
	h := start(t, r, "labelled job", func(ctx context.Context, p *bgjob.Progress) error {
		close(running)
		<-release
		return nil
	})
	<-running
	defer func() {
		close(release)
		waitJob(t, h)
	}()

	// The worker goroutine carries the job's pprof labels, so a goroutine
	// dump shows which job it runs.
	var dump strings.Builder
	require.NoError(t, pprof.Lookup("goroutine").WriteTo(&dump, 1))
	assert.Contains(t, dump.String(), fmt.Sprintf("%q:%q", bgjob.LabelJobID, h.ID().String()))
	assert.Contains(t, dump.String(), fmt.Sprintf("%q:%q", bgjob.LabelJobName, "labelled job"))

	st := h.Status()
	assert.True(t, st.Alive)
	assert.NotZero(t, st.ProcessID)
	assert.Equal(t, "labelled job", st.WorkerName)
	assert.Zero(t, st.OSThreadID, "only LockOSThread reports the OS thread")
}

func TestLockOSThreadReportsThreadAndCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread id and CPU time are reported on Linux")
	}
	r := newRunner(t)
	events := events(t, r)
	h := start(t, r, "pinned", func(ctx context.Context, p *bgjob.Progress) error {
		// Burn measurable CPU on the locked thread.
		x := 1.0
		for i := range 20_000_000 {
			x = x*1.0000001 + float64(i&1)
		}
		p.SetMessage(fmt.Sprint(x > 0))
		return nil
	}, bgjob.LockOSThread())
	require.NoError(t, waitJob(t, h))
	st := h.Status()
	assert.NotZero(t, st.OSThreadID)
	assert.Positive(t, st.ThreadCPU)
	require.NoError(t, r.Shutdown(context.Background()))
	for _, ev := range collect(events) {
		if ev.Type == bgjob.EventInfo {
			assert.Equal(t, st.OSThreadID, ev.OSThreadID, "info names the thread, as the original design did")
			continue
		}
		assert.Equal(t, st.OSThreadID, ev.OSThreadID, "%s carries the thread id", ev.Type)
		if ev.Type == bgjob.EventComplete {
			assert.Equal(t, st.ThreadCPU, ev.ThreadCPU)
		}
	}
}

func TestHistoryIsBounded(t *testing.T) {
	r := newRunner(t, bgjob.WithHistoryLimit(3))
	var last *bgjob.Handle
	var first *bgjob.Handle
	for i := range 10 {
		last = start(t, r, fmt.Sprint("run-", i), succeed)
		if first == nil {
			first = last
		}
		waitJob(t, last)
	}
	st := r.GetStatus()
	assert.Empty(t, st.Jobs, "the status lists live jobs only")
	assert.Equal(t, 10, st.Counts[bgjob.StateSucceeded], "counts cover the whole life")
	var names []string
	for rec := range r.History(bgjob.HistoryFilter{}) {
		names = append(names, rec.Name)
	}
	assert.Equal(t, []string{"run-9", "run-8", "run-7"}, names)
	_, err := r.Job(first.ID())
	assert.ErrorIs(t, err, bgjob.ErrUnknownJob)
	h, err := r.Job(last.ID())
	require.NoError(t, err)
	assert.Equal(t, "run-9", h.Status().Name)
	// The handle keeps its own job whatever the history holds.
	assert.Equal(t, bgjob.StateSucceeded, first.Status().State)
}

func TestBadInput(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		give    func() error
		wantErr error
	}{
		{"nil job", func() error { _, err := r.Start(ctx, "x", nil); return err }, bgjob.ErrNilJob},
		{"nil JobFunc", func() error { _, err := r.Start(ctx, "x", bgjob.JobFunc(nil)); return err }, bgjob.ErrNilJob},
		{"empty name", func() error { _, err := r.Start(ctx, "", bgjob.JobFunc(succeed)); return err }, bgjob.ErrInvalidName},
		{"long name", func() error {
			_, err := r.Start(ctx, strings.Repeat("n", bgjob.MaxNameLen+1), bgjob.JobFunc(succeed))
			return err
		}, bgjob.ErrInvalidName},
		{"invalid UTF-8 name", func() error { _, err := r.Start(ctx, "bad\xff", bgjob.JobFunc(succeed)); return err }, bgjob.ErrInvalidName},
		{"control character in name", func() error { _, err := r.Start(ctx, "a\nb", bgjob.JobFunc(succeed)); return err }, bgjob.ErrInvalidName},
		{"canceled start context", func() error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := r.Start(cctx, "x", bgjob.JobFunc(succeed))
			return err
		}, context.Canceled},
		{"zero progress interval", func() error { _, err := bgjob.NewRunner(bgjob.WithProgressInterval(0)); return err }, bgjob.ErrInvalidOption},
		{"negative history", func() error { _, err := bgjob.NewRunner(bgjob.WithHistoryLimit(-1)); return err }, bgjob.ErrInvalidOption},
		{"negative buffer", func() error { _, err := r.Subscribe(bgjob.WithBuffer(-1)); return err }, bgjob.ErrInvalidOption},
		{"huge buffer", func() error { _, err := r.Subscribe(bgjob.WithBuffer(1 << 50)); return err }, bgjob.ErrInvalidOption},
		{"nil job id", func() error { _, err := r.Subscribe(bgjob.WithJob(uuid.Nil)); return err }, bgjob.ErrInvalidOption},
		{"unknown job id", func() error { _, err := r.Subscribe(bgjob.WithJob(uuid.New())); return err }, bgjob.ErrUnknownJob},
		{"lagged is not subscribed to", func() error { _, err := r.Subscribe(bgjob.WithTypes(bgjob.EventLagged)); return err }, bgjob.ErrInvalidOption},
		{"unknown event type", func() error { _, err := r.Subscribe(bgjob.WithTypes(0)); return err }, bgjob.ErrInvalidOption},
		{"nil store", func() error { _, err := bgjob.NewRunner(bgjob.WithHistoryStore(nil)); return err }, bgjob.ErrInvalidOption},
		{"nil start context", func() error {
			var nilCtx context.Context
			_, err := r.Start(nilCtx, "x", bgjob.JobFunc(succeed))
			return err
		}, bgjob.ErrNilContext},
		{"zero backlog", func() error { _, err := r.Subscribe(bgjob.WithBacklog(0)); return err }, bgjob.ErrInvalidOption},
		{"unknown policy", func() error { _, err := r.Subscribe(bgjob.WithPolicy(0)); return err }, bgjob.ErrInvalidOption},
		{"nil wait context", func() error {
			var nilCtx context.Context
			h := start(t, r, "waited", succeed)
			return h.Wait(nilCtx)
		}, bgjob.ErrNilContext},
		{"nil shutdown context", func() error {
			var nilCtx context.Context
			return r.Shutdown(nilCtx)
		}, bgjob.ErrNilContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ErrorIs(t, tt.give(), tt.wantErr)
		})
	}
	// Nothing above left a job behind.
	require.Eventually(t, func() bool { return len(r.GetStatus().Jobs) == 0 }, time.Minute, time.Millisecond)

	// A name of exactly the limit is fine.
	h := start(t, r, strings.Repeat("n", bgjob.MaxNameLen), succeed)
	assert.NoError(t, waitJob(t, h))
}

func TestClosingAnUnreadSubscriptionReleasesIt(t *testing.T) {
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	sub, err := r.Subscribe()
	require.NoError(t, err)
	for range 200 {
		waitJob(t, start(t, r, "unread", succeed))
	}
	sub.Close()
	sub.Close() // twice: harmless
	require.NoError(t, r.Shutdown(context.Background()))
	for range sub.Events() {
	}
	_, err = r.Subscribe()
	assert.ErrorIs(t, err, bgjob.ErrRunnerClosed)
}

func TestETAFarFromTheEndIsUnknownNotNegative(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		h, err := r.Start(t.Context(), "enormous", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(1e12)
			p.SetStep(1)
			<-ctx.Done()
			return ctx.Err()
		}))
		require.NoError(t, err)
		time.Sleep(time.Hour)
		st := h.Status()
		assert.Zero(t, st.ETA)
		assert.Positive(t, st.Rate)
		h.Cancel(nil)
		h.Wait(t.Context())
	})
}

func TestUnknownJob(t *testing.T) {
	r := newRunner(t)
	_, err := r.Job(uuid.New())
	assert.ErrorIs(t, err, bgjob.ErrUnknownJob)
}

func TestWaitHonoursContext(t *testing.T) {
	r := newRunner(t)
	release := make(chan struct{})
	running := make(chan struct{})
	h := start(t, r, "long", func(ctx context.Context, p *bgjob.Progress) error {
		close(running)
		<-release
		return nil
	})
	<-running
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, h.Wait(ctx), context.Canceled)
	assert.True(t, h.Status().Running())
	close(release)
	assert.NoError(t, waitJob(t, h))
}

func TestShutdownErrorFormat(t *testing.T) {
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	err := &bgjob.ShutdownError{Err: context.DeadlineExceeded, Jobs: []bgjob.JobStatus{{ID: id, Name: "train"}}}
	assert.Equal(t, "bgjob: shutdown: context deadline exceeded; 1 job(s) still running: train (6ba7b810)", err.Error())
}

// The counts of a status never step back while jobs end: a job that has
// just ended is counted by its listed status until it is among the
// finished.
func TestCountsNeverStepBack(t *testing.T) {
	r := newRunner(t)
	const n = 2000
	stop := make(chan struct{})
	var violations []string
	var reader sync.WaitGroup
	reader.Go(func() {
		var last bgjob.RunnerStatus
		for {
			select {
			case <-stop:
				return
			default:
			}
			st := r.GetStatus()
			total, lastTotal := 0, 0
			for _, c := range st.Counts {
				total += c
			}
			for _, c := range last.Counts {
				lastTotal += c
			}
			if total < lastTotal {
				violations = append(violations, fmt.Sprintf("jobs counted went from %d to %d", lastTotal, total))
			}
			for _, s := range []bgjob.State{bgjob.StateSucceeded, bgjob.StateFailed} {
				if st.Counts[s] < last.Counts[s] {
					violations = append(violations, fmt.Sprintf("%s went from %d to %d", s, last.Counts[s], st.Counts[s]))
				}
			}
			last = st
		}
	})
	fail := errors.New("fail")
	for i := range n {
		h, err := r.Start(context.Background(), "count", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
			if i%2 == 0 {
				return fail
			}
			return nil
		}))
		require.NoError(t, err)
		if i%100 == 99 {
			<-h.Done()
		}
	}
	require.NoError(t, r.Shutdown(context.Background()))
	close(stop)
	reader.Wait()
	assert.Empty(t, violations)
	st := r.GetStatus()
	assert.Equal(t, n/2, st.Counts[bgjob.StateSucceeded])
	assert.Equal(t, n/2, st.Counts[bgjob.StateFailed])
}

// Totals sum the runs by outcome: run time without pauses, queue waits and
// paused time, to the nanosecond of the bubble's clock.
func TestTotalsSumTheRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(t, bgjob.WithMaxRunning(1))
		first := start(t, r, "first", func(ctx context.Context, p *bgjob.Progress) error {
			time.Sleep(3 * time.Second)
			return nil
		})
		second := start(t, r, "second", func(ctx context.Context, p *bgjob.Progress) error {
			time.Sleep(2 * time.Second)
			return errors.New("broken") // after 3 s in the queue
		})
		third := start(t, r, "third", func(ctx context.Context, p *bgjob.Progress) error {
			time.Sleep(time.Second)
			if err := p.Checkpoint(); err != nil { // paused here for 4 s
				return err
			}
			time.Sleep(time.Second)
			return nil
		})
		require.NoError(t, waitJob(t, first))
		require.Error(t, waitJob(t, second))
		time.Sleep(500 * time.Millisecond) // third runs its first second
		require.NoError(t, third.Pause())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, bgjob.StatePaused, third.Status().State)
		time.Sleep(3500 * time.Millisecond)
		require.NoError(t, third.Resume())
		require.NoError(t, waitJob(t, third))
		synctest.Wait()

		st := r.GetStatus()
		assert.Equal(t, bgjob.RunTotals{Jobs: 2, Duration: 5 * time.Second, QueueWait: 5 * time.Second, Paused: 4 * time.Second},
			st.Totals[bgjob.StateSucceeded])
		assert.Equal(t, bgjob.RunTotals{Jobs: 1, Duration: 2 * time.Second, QueueWait: 3 * time.Second},
			st.Totals[bgjob.StateFailed])
		assert.NotContains(t, st.Totals, bgjob.StateCanceled)
	})
}
