package bgjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// A subscriber that never reads while a job reports millions of updates:
// the job finishes, the subscriber holds a handful of events, and once it
// reads it gets every lifecycle event and the job's last progress.
func TestStalledSubscriberDuringMillionsOfUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const steps = 3_000_000
		r, err := bgjob.NewRunner(bgjob.WithProgressInterval(10 * time.Millisecond))
		require.NoError(t, err)
		stalled, err := r.Subscribe(bgjob.WithBuffer(1))
		require.NoError(t, err)

		h, err := r.Start(t.Context(), "hot-loop", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(steps)
			// Off the progress interval's beat, so that every interval
			// sees a change.
			time.Sleep(5 * time.Millisecond)
			for i := int64(1); i <= steps; i++ {
				p.SetStep(i)
				if i%10_000 == 0 {
					p.SetMessage(fmt.Sprint("batch ", i/10_000))
					time.Sleep(10 * time.Millisecond) // lets the Runner publish
				}
			}
			return nil
		}))
		require.NoError(t, err)
		require.NoError(t, h.Wait(t.Context()), "the job finishes although nobody reads")

		st := stalled.Stats()
		assert.LessOrEqual(t, st.MaxPending, 4, "at most one event per lifecycle step and one progress wait")
		// 300 publications, one every interval: the first waits, each
		// later one replaces the one before.
		assert.Equal(t, uint64(299), st.Coalesced, "the publications replaced each other")
		assert.Zero(t, st.Lost)

		require.NoError(t, r.Shutdown(context.Background()))
		evs := checkLifecycles(t, collect(stalled.Events()), 1)[h.ID()]
		last := evs[len(evs)-3]
		require.Equal(t, bgjob.EventProgress, last.Type)
		assert.Equal(t, int64(steps), last.Step, "the last progress before complete is delivered")
		assert.Equal(t, "batch 300", last.Message)
		assert.Equal(t, uint64(len(evs)), stalled.Stats().Delivered)
	})
}

// A lossless subscriber that does not read while a hundred thousand short
// jobs run one after another: Start waits for it, and it loses nothing.
func TestLosslessStalledSubscriberHundredThousandJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const jobs, backlog = 100_000, 1000
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		audit, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBacklog(backlog), bgjob.WithBuffer(16))
		require.NoError(t, err)

		var started int
		producerDone := make(chan error, 1)
		go func() {
			for started < jobs {
				h, err := r.Start(context.Background(), "short", bgjob.JobFunc(succeed))
				if err != nil {
					producerDone <- err
					return
				}
				started++
				<-h.Done()
			}
			producerDone <- nil
		}()

		synctest.Wait() // everything is blocked: the producer waits in Start
		assert.Less(t, started, jobs, "Start waits for the lossless subscriber")
		assert.GreaterOrEqual(t, audit.Stats().Pending, backlog)
		// A job admitted just under the bound adds its four events.
		assert.LessOrEqual(t, audit.Stats().MaxPending, backlog+3, "the backlog bound holds")

		// A Start with a deadline gives up when the deadline passes.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = r.Start(ctx, "impatient", bgjob.JobFunc(succeed))
		cancel()
		assert.ErrorIs(t, err, context.DeadlineExceeded)

		var evs []bgjob.Event
		read := make(chan struct{})
		go func() {
			evs = collect(audit.Events())
			close(read)
		}()
		require.NoError(t, <-producerDone)
		require.NoError(t, r.Shutdown(context.Background()))
		<-read

		checkLifecycles(t, evs, jobs)
		st := audit.Stats()
		assert.Zero(t, st.Lost)
		assert.Equal(t, uint64(4*jobs), st.Delivered)
		assert.LessOrEqual(t, st.MaxPending, backlog+3)
	})
}

// A lagging subscriber that does not read while a hundred thousand short
// jobs run: nobody waits, its memory stays bounded, and the lagged events
// name exactly the events it lost.
func TestLaggingStalledSubscriberHundredThousandJobs(t *testing.T) {
	const jobs, backlog, buffer = 100_000, 1000, 16
	r := newRunner(t)
	sub, err := r.Subscribe(bgjob.WithBacklog(backlog), bgjob.WithBuffer(buffer))
	require.NoError(t, err)

	for range jobs {
		h := start(t, r, "short", succeed)
		<-h.Done()
	}
	require.NoError(t, r.Shutdown(context.Background()))
	evs := collect(sub.Events())

	st := sub.Stats()
	assert.LessOrEqual(t, st.MaxPending, backlog+1, "the backlog bound holds, plus one lag notice")
	assert.Equal(t, uint64(len(evs)), st.Delivered)

	// Every sequence number from 1 to the last is either received or named
	// by exactly one lagged event, and the lagged events add up to Lost.
	const total = 4 * jobs
	covered := make([]int, total+1)
	var lost uint64
	lags := 0
	for _, ev := range evs {
		if ev.Type == bgjob.EventLagged {
			lags++
			lost += ev.Lost()
			for s := ev.LagFirst; s <= ev.LagLast; s++ {
				covered[s]++
			}
			continue
		}
		covered[ev.Seq]++
	}
	for s := 1; s <= total; s++ {
		require.Equal(t, 1, covered[s], "seq %d", s)
	}
	assert.Equal(t, st.Lost, lost)
	assert.Equal(t, uint64(lags), st.Lags)
	assert.Positive(t, lost)
	// The events it did receive are the first ones: the reader lost only
	// what came after its backlog filled.
	assert.Equal(t, uint64(1), evs[0].Seq)
}

// Each job's events stay in lifecycle order for a lagging subscriber too:
// what it receives of a job is a subsequence of the lifecycle.
func TestLaggingKeepsPerJobOrder(t *testing.T) {
	r := newRunner(t)
	sub, err := r.Subscribe(bgjob.WithBacklog(10), bgjob.WithBuffer(0))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				h, err := r.Start(context.Background(), "j", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
					p.SetPercent(40)
					return nil
				}))
				if err == nil {
					<-h.Done()
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, r.Shutdown(context.Background()))
	rank := map[bgjob.EventType]int{bgjob.EventInfo: 1, bgjob.EventWorkerStarted: 2, bgjob.EventProgress: 3, bgjob.EventComplete: 4, bgjob.EventWorkerStopped: 5}
	last := map[[16]byte]int{}
	for ev := range sub.Events() {
		if ev.Type == bgjob.EventLagged {
			continue
		}
		require.Greater(t, rank[ev.Type], last[ev.JobID], "job %s: %s out of order", ev.JobID, ev.Type)
		last[ev.JobID] = rank[ev.Type]
	}
}

// Sixty-four subscribers each receive every event, whatever the others do.
func TestFanOut(t *testing.T) {
	r := newRunner(t)
	subs := make([]*bgjob.Subscription, 64)
	for i := range subs {
		var err error
		subs[i], err = r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
		require.NoError(t, err)
	}
	stalled, err := r.Subscribe(bgjob.WithBacklog(5)) // never read, lagging
	require.NoError(t, err)

	results := make([][]bgjob.Event, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { results[i] = collect(s.Events()) })
	}
	for i := range 50 {
		start(t, r, fmt.Sprint("fan-", i), func(ctx context.Context, p *bgjob.Progress) error {
			p.Report(100, "all done")
			return nil
		})
	}
	require.NoError(t, r.Shutdown(context.Background()))
	wg.Wait()
	for i := range subs {
		checkLifecycles(t, results[i], 50)
		assert.Equal(t, len(results[0]), len(results[i]))
	}
	assert.Positive(t, stalled.Stats().Lost)
	stalled.Close()
}

// Subscriptions with and without filters receive the same events: one
// event is shared by every subscription, and each gets a copy of its own.
func TestEverySubscriptionGetsTheSameEvents(t *testing.T) {
	r := newRunner(t)
	all1, err := r.Subscribe()
	require.NoError(t, err)
	info1, err := r.Subscribe(bgjob.WithTypes(bgjob.EventInfo, bgjob.EventComplete))
	require.NoError(t, err)
	info2, err := r.Subscribe(bgjob.WithTypes(bgjob.EventInfo, bgjob.EventComplete))
	require.NoError(t, err)
	all2, err := r.Subscribe()
	require.NoError(t, err)
	h := start(t, r, "shared", func(ctx context.Context, p *bgjob.Progress) error {
		p.Report(100, "done")
		return nil
	})
	require.NoError(t, r.Shutdown(context.Background()))

	a1, a2 := collect(all1.Events()), collect(all2.Events())
	i1, i2 := collect(info1.Events()), collect(info2.Events())
	require.Len(t, a1, 5)
	assert.Equal(t, a1, a2)
	require.Len(t, i1, 2)
	assert.Equal(t, i1, i2)
	for _, ev := range append(a1, i1...) {
		assert.Equal(t, h.ID(), ev.JobID)
		assert.Equal(t, "shared", ev.JobName)
		assert.NotZero(t, ev.Seq)
	}
	assert.Equal(t, []bgjob.EventType{bgjob.EventInfo, bgjob.EventComplete}, []bgjob.EventType{i1[0].Type, i1[1].Type})
	assert.Equal(t, a1[0].Seq, i1[0].Seq)
}

func TestSubscriptionClose(t *testing.T) {
	r := newRunner(t)
	sub, err := r.Subscribe(bgjob.WithBuffer(0), bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	for range 20 {
		waitJob(t, start(t, r, "j", succeed)) // the pump blocks on the unread channel
	}
	sub.Close()
	sub.Close() // twice is fine
	for range sub.Events() {
		// The channel is closed promptly: at most what was in flight.
	}
	// A closed lossless subscriber no longer holds back Start.
	waitJob(t, start(t, r, "after close", succeed))
}

func TestLosslessStartWaitEndsAtShutdownOrClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBacklog(1), bgjob.WithBuffer(0))
		require.NoError(t, err)
		_, err = r.Start(t.Context(), "fills the backlog", bgjob.JobFunc(succeed))
		require.NoError(t, err)
		synctest.Wait()

		errs := make(chan error)
		go func() {
			_, err := r.Start(context.Background(), "waits", bgjob.JobFunc(succeed))
			errs <- err
		}()
		synctest.Wait()
		sub.Close()
		assert.NoError(t, <-errs, "closing the subscriber lets Start go on")
		synctest.Wait() // that job ends before the next subscriber comes

		sub2, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBacklog(1), bgjob.WithBuffer(0))
		require.NoError(t, err)
		_, err = r.Start(t.Context(), "fills again", bgjob.JobFunc(succeed))
		require.NoError(t, err)
		synctest.Wait()
		go func() {
			_, err := r.Start(context.Background(), "waits", bgjob.JobFunc(succeed))
			errs <- err
		}()
		synctest.Wait()
		go r.Shutdown(context.Background())
		assert.ErrorIs(t, <-errs, bgjob.ErrRunnerClosed)
		collect(sub2.Events())
	})
}

// Progress events are published at most once per interval, while the
// status shows every update at once.
func TestProgressIsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner() // DefaultProgressInterval: 100ms
		require.NoError(t, err)
		events := events(t, r)
		var evs []bgjob.Event
		read := make(chan struct{})
		go func() {
			evs = collect(events)
			close(read)
		}()
		begin := time.Now()
		h, err := r.Start(t.Context(), "steady", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			for i := range 2050 {
				p.SetStep(int64(i + 1))
				time.Sleep(time.Millisecond)
			}
			return nil
		}))
		require.NoError(t, err)

		time.Sleep(1234*time.Millisecond + 500*time.Microsecond)
		assert.Equal(t, int64(1235), h.Status().Step, "the status has no delay")

		require.NoError(t, h.Wait(t.Context()))
		require.NoError(t, r.Shutdown(context.Background()))
		<-read

		var progress []bgjob.Event
		for _, ev := range evs {
			if ev.Type == bgjob.EventProgress {
				progress = append(progress, ev)
			}
		}
		// One per tick from 100ms to 2000ms, then the last one before
		// complete.
		require.Len(t, progress, 21)
		for i, ev := range progress[:20] {
			assert.Equal(t, time.Duration(i+1)*100*time.Millisecond, ev.Time.Sub(begin))
		}
		assert.Equal(t, int64(2050), progress[20].Step)
	})
}

func TestProgressClamps(t *testing.T) {
	tests := []struct {
		name        string
		give        func(p *bgjob.Progress)
		wantPercent float64
		wantStep    int64
		wantTotal   int64
	}{
		{"percent", func(p *bgjob.Progress) { p.SetPercent(42.5) }, 42.5, 0, 0},
		{"NaN keeps the last value", func(p *bgjob.Progress) { p.SetPercent(30); p.SetPercent(math.NaN()) }, 30, 0, 0},
		{"+Inf", func(p *bgjob.Progress) { p.SetPercent(math.Inf(1)) }, 100, 0, 0},
		{"-Inf", func(p *bgjob.Progress) { p.SetPercent(math.Inf(-1)) }, 0, 0, 0},
		{"negative percent", func(p *bgjob.Progress) { p.SetPercent(-3) }, 0, 0, 0},
		{"percent over 100", func(p *bgjob.Progress) { p.SetPercent(250) }, 100, 0, 0},
		{"step of total", func(p *bgjob.Progress) { p.SetTotal(8); p.SetStep(2) }, 25, 2, 8},
		{"step beyond total", func(p *bgjob.Progress) { p.SetTotal(8); p.SetStep(11) }, 100, 8, 8},
		{"negative total is unknown", func(p *bgjob.Progress) { p.SetTotal(-8); p.SetStep(3) }, 0, 3, 0},
		{"negative step", func(p *bgjob.Progress) { p.SetTotal(8); p.Add(-5) }, 0, 0, 8},
		{"total wins over percent", func(p *bgjob.Progress) { p.SetTotal(4); p.Add(1); p.SetPercent(90) }, 25, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			h := start(t, r, "clamp", func(ctx context.Context, p *bgjob.Progress) error {
				tt.give(p)
				return nil
			})
			require.NoError(t, waitJob(t, h))
			st := h.Status()
			assert.Equal(t, tt.wantPercent, st.Percent)
			assert.Equal(t, tt.wantStep, st.Step)
			assert.Equal(t, tt.wantTotal, st.Total)
		})
	}
}

func TestProgressAfterJobReturnedChangesNothing(t *testing.T) {
	r := newRunner(t)
	events := events(t, r)
	var kept *bgjob.Progress
	h := start(t, r, "leaks its reporter", func(ctx context.Context, p *bgjob.Progress) error {
		kept = p
		p.Report(60, "before return")
		return nil
	})
	require.NoError(t, waitJob(t, h))
	kept.Report(90, "after return")
	kept.SetTotal(10)
	kept.SetStep(7)
	kept.Add(1)
	st := h.Status()
	assert.Equal(t, 60.0, st.Percent)
	assert.Equal(t, "before return", st.Message)
	require.NoError(t, r.Shutdown(context.Background()))
	checkLifecycles(t, collect(events), 1)
}

func TestEventsBeforeFirstCallAreNotDelivered(t *testing.T) {
	r := newRunner(t)
	waitJob(t, start(t, r, "unseen", succeed))
	events := events(t, r)
	h := start(t, r, "seen", succeed)
	waitJob(t, h)
	require.NoError(t, r.Shutdown(context.Background()))
	evs := checkLifecycles(t, collect(events), 1)
	assert.Contains(t, evs, h.ID())
}

func TestEventTypesAndStates(t *testing.T) {
	for _, tt := range []struct {
		give bgjob.EventType
		want string
	}{
		{bgjob.EventInfo, "info"},
		{bgjob.EventQueued, "queued"},
		{bgjob.EventWorkerStarted, "worker_started"},
		{bgjob.EventPaused, "paused"},
		{bgjob.EventResumed, "resumed"},
		{bgjob.EventStalled, "stalled"},
		{bgjob.EventUnstalled, "unstalled"},
		{bgjob.EventLog, "log"},
		{bgjob.EventAbandoned, "abandoned"},
		{bgjob.EventProgress, "progress"},
		{bgjob.EventComplete, "complete"},
		{bgjob.EventWorkerStopped, "worker_stopped"},
		{bgjob.EventLagged, "lagged"},
	} {
		assert.Equal(t, tt.want, tt.give.String())
		b, err := tt.give.MarshalText()
		require.NoError(t, err)
		var back bgjob.EventType
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, tt.give, back)
	}
	var zero bgjob.EventType
	_, err := zero.MarshalText()
	assert.Error(t, err, "the zero type is not valid")
	assert.Equal(t, "EventType(0)", zero.String())
	assert.Error(t, zero.UnmarshalText([]byte("bogus")))

	for _, s := range []bgjob.State{bgjob.StateQueued, bgjob.StateRunning, bgjob.StatePausing, bgjob.StatePaused,
		bgjob.StateCanceling, bgjob.StateAbandoned, bgjob.StateSucceeded, bgjob.StateFailed, bgjob.StateCanceled} {
		b, err := s.MarshalText()
		require.NoError(t, err)
		var back bgjob.State
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, s, back)
	}
	var zs bgjob.State
	_, err = zs.MarshalText()
	assert.Error(t, err)
	assert.Equal(t, "lossless", bgjob.Lossless.String())
	assert.Equal(t, "lagging", bgjob.Lagging.String())
}

func TestEventJSON(t *testing.T) {
	r := newRunner(t)
	events := events(t, r)
	h := start(t, r, "json", func(ctx context.Context, p *bgjob.Progress) error {
		p.Report(50, "half")
		panic("bad batch")
	})
	waitJob(t, h)
	require.NoError(t, r.Shutdown(context.Background()))
	evs := checkLifecycles(t, collect(events), 1)[h.ID()]

	complete := evs[len(evs)-2]
	b, err := json.Marshal(complete)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, key := range []string{"type", "seq", "timestamp", "job_id", "name", "process_id", "thread_id", "thread_name", "is_alive", "state", "message", "percent", "start_time", "success", "duration_seconds", "error", "traceback"} {
		assert.Contains(t, m, key)
	}
	assert.Equal(t, "complete", m["type"])
	assert.Equal(t, false, m["success"])
	assert.Equal(t, "failed", m["state"])
	assert.Equal(t, 50.0, m["percent"])
	assert.Equal(t, "bgjob: job panicked: bad batch", m["error"])

	var back bgjob.Event
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, complete.Type, back.Type)
	assert.Equal(t, complete.Seq, back.Seq)
	assert.Equal(t, complete.JobID, back.JobID)
	assert.Equal(t, complete.Stack, back.Stack)
	assert.Equal(t, complete.Err.Error(), back.Err.Error())
	assert.InDelta(t, complete.Duration.Seconds(), back.Duration.Seconds(), 1e-6)
	assert.True(t, complete.Time.Equal(back.Time))

	// Only complete carries success.
	b, err = json.Marshal(evs[0])
	require.NoError(t, err)
	assert.NotContains(t, string(b), "success")

	// A status encodes too.
	b, err = json.Marshal(h.Status())
	require.NoError(t, err)
	assert.Contains(t, string(b), `"state":"failed"`)
	assert.Contains(t, string(b), `"error":"bgjob: job panicked: bad batch"`)
	assert.Contains(t, string(b), `"duration_seconds":`)
}

func TestFormatText(t *testing.T) {
	started := time.Date(2025, 10, 21, 15, 30, 0, 123456000, time.Local)
	base := bgjob.Event{JobName: "resnet-finetune", WorkerID: 7, WorkerName: "resnet-finetune", ProcessID: 52341, StartTime: started}
	with := func(f func(*bgjob.Event)) bgjob.Event {
		ev := base
		f(&ev)
		return ev
	}
	tests := []struct {
		give bgjob.Event
		want string
	}{
		// The original design's info block: started in background, with
		// the process, the worker and whether it is alive.
		{with(func(e *bgjob.Event) { e.Type, e.State, e.Alive = bgjob.EventInfo, bgjob.StateRunning, true }),
			"resnet-finetune started in background\n   Process ID: 52341\n   Worker ID: 7\n   Worker Name: resnet-finetune\n   Alive: true"},
		{with(func(e *bgjob.Event) { e.Type, e.State = bgjob.EventInfo, bgjob.StateQueued }),
			"resnet-finetune accepted in background, waiting for a worker\n   Process ID: 52341\n   Worker ID: 7\n   Worker Name: resnet-finetune\n   Alive: false"},
		// worker_started shows its start time, as isoformat does.
		{with(func(e *bgjob.Event) { e.Type, e.Alive = bgjob.EventWorkerStarted, true }),
			"resnet-finetune worker started\n   Worker ID: 7\n   Start Time: 2025-10-21T15:30:00.123456"},
		{with(func(e *bgjob.Event) {
			e.Type = bgjob.EventProgress
			e.Percent = 10
			e.Message = "Loading and preparing data..."
		}),
			"[worker 7] Loading and preparing data... (10%)"},
		{with(func(e *bgjob.Event) {
			e.Type = bgjob.EventProgress
			e.Percent, e.Step, e.Total, e.ETA, e.Message = 37.5, 3, 8, 50*time.Second, "epoch 3 loss 0.4120"
		}), "[worker 7] epoch 3 loss 0.4120 (37.5%, 3/8, ETA 50.0s)"},
		{with(func(e *bgjob.Event) {
			e.Type, e.State, e.Duration = bgjob.EventComplete, bgjob.StateSucceeded, 45*time.Minute+18*time.Second
		}), "resnet-finetune completed successfully (Duration: 45.3min)"},
		{with(func(e *bgjob.Event) {
			e.Type, e.State, e.Duration, e.Err = bgjob.EventComplete, bgjob.StateFailed, 3200*time.Millisecond, errors.New("disk full")
		}), "resnet-finetune failed after 3.2s: disk full"},
		{with(func(e *bgjob.Event) {
			e.Type, e.State, e.Duration, e.Err = bgjob.EventComplete, bgjob.StateFailed, 10*time.Millisecond, errors.New("bgjob: job panicked: x")
			e.Stack = "goroutine 9 [running]:\nmain.train()\n"
		}), "resnet-finetune failed after 10ms: bgjob: job panicked: x\n   goroutine 9 [running]:\n   main.train()"},
		{with(func(e *bgjob.Event) {
			e.Type, e.State, e.Duration, e.Err = bgjob.EventComplete, bgjob.StateCanceled, 2*time.Hour+30*time.Minute, errors.New("user stop")
		}), "resnet-finetune canceled after 2.5h: user stop"},
		{with(func(e *bgjob.Event) { e.Type = bgjob.EventWorkerStopped }), "resnet-finetune worker 7 stopped"},
		{with(func(e *bgjob.Event) { e.Type, e.StartTime = bgjob.EventWorkerStopped, time.Time{} }), "resnet-finetune never got a worker"},
		{with(func(e *bgjob.Event) {
			e.Type, e.State, e.Err, e.StartTime = bgjob.EventComplete, bgjob.StateCanceled, errors.New("superseded"), time.Time{}
		}), "resnet-finetune canceled before it started: superseded"},
		{bgjob.Event{Type: bgjob.EventLagged, LagFirst: 120, LagLast: 135, LagJobs: make([]uuid.UUID, 2)},
			"missed events seq 120 to 135 of 2 job(s): the reader fell behind"},
		{bgjob.Event{Type: bgjob.EventLagged, LagFirst: 1, LagLast: 900, LagJobs: make([]uuid.UUID, bgjob.MaxLagJobs), LagMore: true},
			"missed events seq 1 to 900 of 64 job(s) and more: the reader fell behind"},
		{with(func(e *bgjob.Event) { e.Type, e.QueuePosition = bgjob.EventQueued, 2 }), "resnet-finetune queued (position 2)"},
		{with(func(e *bgjob.Event) { e.Type = bgjob.EventPaused }), "[worker 7] paused"},
		{with(func(e *bgjob.Event) { e.Type, e.Paused = bgjob.EventResumed, 90*time.Second }), "[worker 7] resumed after 1.5min paused"},
		{with(func(e *bgjob.Event) {
			e.Type, e.Message, e.Stack = bgjob.EventStalled, "no progress for 5.0min", "1 @ 0x1\n#\t0x1\tmain.load+0x1\t/src/load.go:9\n"
		}), "[worker 7] stalled: no progress for 5.0min\n   1 @ 0x1\n   #\t0x1\tmain.load+0x1\t/src/load.go:9"},
		{with(func(e *bgjob.Event) { e.Type = bgjob.EventUnstalled }), "[worker 7] progressing again"},
		{with(func(e *bgjob.Event) {
			e.Type, e.Level, e.Message, e.Attrs = bgjob.EventLog, slog.LevelWarn, "slow epoch", []bgjob.LogAttr{{Key: "epoch", Value: slog.IntValue(3)}}
		}), "[worker 7] WARN slow epoch epoch=3"},
		{with(func(e *bgjob.Event) {
			e.Type, e.Message = bgjob.EventAbandoned, "still running 30.0s after it was canceled"
		}), "resnet-finetune abandoned: still running 30.0s after it was canceled"},
		{with(func(e *bgjob.Event) {
			e.Type, e.Alive, e.QueueWait = bgjob.EventWorkerStarted, true, 1200*time.Millisecond
		}),
			"resnet-finetune worker started\n   Worker ID: 7\n   Queue Wait: 1.2s\n   Start Time: 2025-10-21T15:30:00.123456"},
	}
	for _, tt := range tests {
		t.Run(tt.give.Type.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, bgjob.FormatText(tt.give))
		})
	}
	// JSON names for the control events.
	b, err := json.Marshal(with(func(e *bgjob.Event) {
		e.Type, e.QueuePosition, e.QueueWait, e.Paused = bgjob.EventComplete, 3, 2*time.Second, time.Second
	}))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"queue_position":3`)
	assert.Contains(t, string(b), `"queue_wait_seconds":2`)
	assert.Contains(t, string(b), `"paused_seconds":1`)
	assert.True(t, slices.Contains([]string{"850ms"}, bgjob.FormatDuration(850*time.Millisecond)))
}

// A job's strings stay on their line: a trailing newline goes, other
// control characters are written escaped, so that no job forges a line or
// drives the terminal.
func TestFormatTextKeepsJobStringsOnTheirLine(t *testing.T) {
	for _, tt := range []struct {
		give bgjob.Event
		want string
	}{
		{
			give: bgjob.Event{Type: bgjob.EventComplete, State: bgjob.StateFailed, JobName: "j", Err: errors.New("exit status 1\n")},
			want: "j failed after 0ms: exit status 1",
		},
		{
			give: bgjob.Event{Type: bgjob.EventProgress, WorkerID: 3, Message: "epoch 1\n   Process ID: 1", Percent: 10},
			want: `[worker 3] epoch 1\n   Process ID: 1 (10%)`,
		},
		{
			give: bgjob.Event{Type: bgjob.EventWorkerStopped, JobName: "\x1b[2Jevil\xff", WorkerID: 1, StartTime: time.Unix(1, 0)},
			want: `\x1b[2Jevil\xff worker 1 stopped`,
		},
	} {
		assert.Equal(t, tt.want, bgjob.FormatText(tt.give))
	}
}

// nilPointerError's Error method panics on a nil receiver, as a job's own
// error type may.
type nilPointerError struct{ msg string }

func (e *nilPointerError) Error() string { return e.msg }

// A job that returns an error whose Error method panics fails as usual,
// and its status, its events' JSON and their text name the error instead
// of panicking.
func TestErrorThatPanicsIsNamed(t *testing.T) {
	r := newRunner(t)
	ch := events(t, r, bgjob.WithPolicy(bgjob.Lossless))
	h := start(t, r, "typed-nil", func(context.Context, *bgjob.Progress) error {
		var e *nilPointerError
		return e
	})
	require.Error(t, waitJob(t, h))
	st := h.Status()
	require.Equal(t, bgjob.StateFailed, st.State)
	b, err := json.Marshal(st)
	require.NoError(t, err)
	assert.Contains(t, string(b), "its Error method panicked")
	for ev := range ch {
		if ev.Type == bgjob.EventComplete {
			assert.Contains(t, bgjob.FormatText(ev), "*bgjob_test.nilPointerError (its Error method panicked")
			_, err := json.Marshal(ev)
			require.NoError(t, err)
			_ = ev.LogAttrs()
			break
		}
	}
}
