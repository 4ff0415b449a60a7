package bgjobtest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// eventsOf makes the events of one job from their types, with growing
// sequence numbers.
func eventsOf(id uuid.UUID, types ...bgjob.EventType) []bgjob.Event {
	evs := make([]bgjob.Event, len(types))
	for i, typ := range types {
		evs[i] = bgjob.Event{Type: typ, Seq: uint64(i + 1), JobID: id, JobName: "job"}
	}
	return evs
}

func TestCheckLifecycle(t *testing.T) {
	const (
		info     = bgjob.EventInfo
		queued   = bgjob.EventQueued
		started  = bgjob.EventWorkerStarted
		progress = bgjob.EventProgress
		paused   = bgjob.EventPaused
		resumed  = bgjob.EventResumed
		stalled  = bgjob.EventStalled
		unstall  = bgjob.EventUnstalled
		log      = bgjob.EventLog
		abandon  = bgjob.EventAbandoned
		complete = bgjob.EventComplete
		stopped  = bgjob.EventWorkerStopped
	)
	tests := []struct {
		name string
		give []bgjob.EventType
		want string // empty: no error
	}{
		{name: "shortest", give: []bgjob.EventType{info, started, complete, stopped}},
		{name: "queued", give: []bgjob.EventType{info, queued, started, progress, complete, stopped}},
		{name: "canceled while queued", give: []bgjob.EventType{info, queued, complete, stopped}},
		{name: "canceled before it started", give: []bgjob.EventType{info, complete, stopped}},
		{
			name: "everything between",
			give: []bgjob.EventType{info, started, progress, paused, log, resumed, stalled, unstall, abandon, progress, log, complete, stopped},
		},
		{name: "no events", give: nil, want: "no events"},
		{name: "no info", give: []bgjob.EventType{started, complete, stopped}, want: "first event is worker_started, want info"},
		{name: "missing complete", give: []bgjob.EventType{info, started, progress, stopped}, want: "event 4 of 4 is worker_stopped after progress, want complete"},
		{name: "ends early", give: []bgjob.EventType{info, started, progress}, want: "events end after progress, want complete"},
		{name: "missing worker_stopped", give: []bgjob.EventType{info, started, complete}, want: "events end after complete, want worker_stopped next"},
		{name: "info twice", give: []bgjob.EventType{info, info, started, complete, stopped}, want: "event 2 of 5 is info after info, want queued or worker_started or complete"},
		{name: "started twice", give: []bgjob.EventType{info, started, started, complete, stopped}, want: "event 3 of 5 is worker_started after worker_started"},
		{name: "queued after start", give: []bgjob.EventType{info, started, queued, complete, stopped}, want: "event 3 of 5 is queued after worker_started"},
		{name: "progress while queued", give: []bgjob.EventType{info, queued, progress, complete, stopped}, want: "is progress after queued, want worker_started or complete"},
		{name: "abandoned twice", give: []bgjob.EventType{info, started, abandon, abandon, complete, stopped}, want: "event 4 of 6 is a second abandoned"},
		{name: "after worker_stopped", give: []bgjob.EventType{info, started, complete, stopped, log}, want: "event 5 of 5 is log after worker_stopped, want none"},
		{name: "complete twice", give: []bgjob.EventType{info, started, complete, complete, stopped}, want: "event 4 of 5 is complete after complete, want worker_stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLifecycle(eventsOf(uuid.New(), tt.give...))
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if len(tt.give) > 0 {
				assert.Contains(t, err.Error(), "#1 "+tt.give[0].String(), "the error lists the events")
			}
		})
	}
}

func TestCheckLifecycleOrderAndJobs(t *testing.T) {
	id := uuid.New()
	evs := eventsOf(id, bgjob.EventInfo, bgjob.EventWorkerStarted, bgjob.EventComplete, bgjob.EventWorkerStopped)
	evs[2].Seq = 2
	assert.ErrorContains(t, CheckLifecycle(evs), "sequence numbers do not grow: #2 after #2")

	evs = eventsOf(id, bgjob.EventInfo, bgjob.EventWorkerStarted, bgjob.EventComplete, bgjob.EventWorkerStopped)
	evs[1].JobID = uuid.New()
	assert.ErrorContains(t, CheckLifecycle(evs), "events of two jobs")
}

func TestCheckLifecycleNamesTheLostRange(t *testing.T) {
	id := uuid.New()
	evs := eventsOf(id, bgjob.EventInfo, bgjob.EventWorkerStarted)
	evs = append(evs,
		bgjob.Event{Type: bgjob.EventLagged, LagFirst: 3, LagLast: 7, LagJobs: []uuid.UUID{id}, LagMore: true},
		bgjob.Event{Type: bgjob.EventWorkerStopped, Seq: 9, JobID: id})
	err := CheckLifecycle(evs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the subscription lagged")
	assert.Contains(t, err.Error(), "events 3..7 lost (jobs "+id.String()[:8]+" and more)")
	assert.Contains(t, err.Error(), "job job/"+id.String()[:8])
}

func TestAssertLifecycleHolds(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		give bgjob.Job
	}{
		{name: "succeeds", give: Succeed(5)},
		{name: "fails", give: Fail(errBoom)},
		{name: "panics", give: Panic(errBoom)},
		{name: "logs", give: bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.Logger().Info("hello", slog.Int("epoch", 1))
			return nil
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			rec := Record(t, r)
			h := start(t, r, tt.name, tt.give)
			// No wait first: AssertLifecycle waits for worker_stopped.
			assert.True(t, AssertLifecycle(testCtx(t), t, rec, h.ID()))
		})
	}
}

func TestAssertLifecycleOfAJobCanceledWhileQueued(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t, bgjob.WithMaxRunning(1))
	rec := Record(t, r)
	running := start(t, r, "running", HangUntilCanceled())
	queued := start(t, r, "queued", Succeed(1))
	require.NoError(t, queued.Cancel(nil))
	require.NoError(t, running.Cancel(nil))

	assert.True(t, AssertLifecycle(ctx, t, rec, queued.ID()))
	assert.True(t, AssertLifecycle(ctx, t, rec, running.ID()))
	assert.Equal(t, []bgjob.EventType{bgjob.EventInfo, bgjob.EventQueued, bgjob.EventComplete, bgjob.EventWorkerStopped},
		rec.Types(queued.ID()))
}

func TestAssertLifecycleFailsWithoutComplete(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r, bgjob.WithTypes(bgjob.EventInfo, bgjob.EventWorkerStarted, bgjob.EventWorkerStopped))
	h := start(t, r, "incomplete", Succeed(1))

	ft := newFakeTB(t)
	assert.False(t, AssertLifecycle(ctx, ft, rec, h.ID()))
	msg := ft.failures()
	assert.Contains(t, msg, "job incomplete/"+h.ID().String()[:8])
	assert.Contains(t, msg, "event 3 of 3 is worker_stopped after worker_started, want complete")
	assert.Contains(t, msg, "worker_stopped incomplete/", "the message lists the events")
}

func TestAssertLifecycleFailsWhenTheJobDoesNotEnd(t *testing.T) {
	r := newRunner(t)
	rec := Record(t, r)
	h := start(t, r, "hangs", HangUntilCanceled())
	defer h.Cancel(nil)
	require.NoError(t, rec.WaitJob(testCtx(t), h.ID(), countType(bgjob.EventWorkerStarted, 1)))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ft := newFakeTB(t)
	assert.False(t, AssertLifecycle(ctx, ft, rec, h.ID()))
	msg := ft.failures()
	assert.Contains(t, msg, "events end after worker_started, want complete")
	assert.Contains(t, msg, "stopped waiting for worker_stopped: bgjobtest: gave up waiting for job "+h.ID().String()[:8]+": context canceled)")
	assert.Equal(t, 1, ft.failed())
}

func TestAssertLifecycleFailsOnLag(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	rec := Record(t, r, bgjob.WithPolicy(bgjob.Lagging), bgjob.WithBuffer(0), bgjob.WithBacklog(1))

	// Holding the Recorder's lock stops its goroutine at the first event
	// it receives; with no buffer and a backlog of one, what follows is
	// lost, and the subscription says so once the reader catches up.
	rec.mu.Lock()
	var handles []*bgjob.Handle
	for range 3 {
		handles = append(handles, start(t, r, "lost", Succeed(1)))
	}
	for _, h := range handles {
		<-h.Done()
	}
	rec.mu.Unlock()

	last := handles[len(handles)-1]
	ft := newFakeTB(t)
	assert.False(t, AssertLifecycle(ctx, ft, rec, last.ID()))
	msg := ft.failures()
	assert.Contains(t, msg, "the subscription lagged, so the lifecycle cannot be checked: events ")
	assert.Contains(t, msg, "lost (jobs ")
	assert.Contains(t, msg, last.ID().String()[:8])
	assert.Contains(t, msg, "bgjobtest: job "+last.ID().String()[:8]+": ", "the job is named even when none of its events came")
	assert.True(t, strings.Contains(msg, "\tlagged: events "), "the lag is listed among the events: %s", msg)
}
