package bgjob

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/delivery"
	"github.com/bgjob/bgjob/internal/lifecycle"
	"github.com/bgjob/bgjob/internal/metrics"
	"github.com/bgjob/bgjob/internal/ring"
	"github.com/bgjob/bgjob/internal/sched"
	"github.com/bgjob/bgjob/internal/stacks"
	"github.com/bgjob/bgjob/internal/timeline"
)

// Job is work the Runner runs in the background.
//
// Run should return when ctx is canceled, with ctx's error or one wrapping
// it; the job is then reported as canceled, with the cause given to
// Handle.Cancel (context.Cause). A job that returns nil is reported as
// succeeded even if it was canceled on the way: it finished its work.
// A panic in Run is recovered and reported as a failure with a
// *PanicError holding the panic value and the stack.
//
// Run's goroutine may run other jobs after it returns: a job that locks
// its OS thread (runtime.LockOSThread) must unlock it before returning,
// or be started with the LockOSThread option, whose thread ends with it.
type Job interface {
	Run(ctx context.Context, p *Progress) error
}

// JobFunc adapts a function to the Job interface.
type JobFunc func(ctx context.Context, p *Progress) error

// Run calls f(ctx, p).
func (f JobFunc) Run(ctx context.Context, p *Progress) error { return f(ctx, p) }

var _ Job = JobFunc(nil)

// The pprof labels set on every job's goroutine, so that a goroutine dump
// (/debug/pprof/goroutine?debug=1) or a CPU profile shows which job runs
// where.
const (
	LabelJobID   = "bgjob_job_id"
	LabelJobName = "bgjob_job_name"
)

// errGoexit is the error of a job that called runtime.Goexit.
var errGoexit = errors.New("bgjob: job called runtime.Goexit")

// job is the Runner's record of one job.
//
// Ownership: everything that changes after Start is guarded by mu, and
// every event of the job is published while mu is held, so the job's
// events come out in the order of its transitions. Readers of the status
// take no lock: mu's holder publishes an immutable snapshot at each
// change (snap), and the progress values are atomics, with the message
// under msgMu, a leaf lock. The few fields the Runner's scheduling needs
// are guarded by Runner.mu. docs/design.md gives the lock order.
type job struct {
	r        *Runner
	id       uuid.UUID
	name     string
	workerID int64
	fn       Job
	timeout  time.Duration
	priority int
	// ctx is the job's own context, made by Start. It is kept here, where
	// a context usually should not be, because a queued job has no
	// goroutine to hold it until it leaves the queue.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the job retired: all is published and recorded

	// handle, progress and the job's parent context are handed out by
	// pointer; keeping them here saves an allocation each per job.
	handle   Handle
	progress Progress
	parent   detachedContext

	// The hot progress values, written by the job without a lock. They
	// are not padded onto a cache line of their own: the fields around
	// them are written by the job's own goroutine or rarely (a padding of
	// 128 bytes would put every job in the next allocation size class,
	// see TestJobFitsItsSizeClass), and BenchmarkProgressUpdate holds the
	// store at the cost of a plain atomic store.
	step    atomic.Int64
	total   atomic.Int64
	percent atomic.Uint64 // math.Float64bits
	// pauseRequested is what Checkpoint looks at on the hot path; it is
	// written under mu.
	pauseRequested atomic.Bool

	// msgMu guards the message. It is a leaf: nothing is locked while it
	// is held, and it is held only to copy or compare a string. messageSet
	// counts SetMessage calls (written under msgMu, read without it);
	// settledSet, settledText and messageVersion are the last message the
	// Runner copied (see settleMessageLocked); they are written only with
	// both mu and msgMu held, so either lock is enough to read them.
	// settled publishes them to status readers so that, while no
	// SetMessage came since, they read the message without a lock.
	msgMu          sync.Mutex
	message        string
	messageSet     atomic.Uint64
	settledSet     uint64
	settledText    string
	messageVersion uint64
	settled        atomic.Pointer[settledMessage]

	// metricMu guards the job's metrics, made on first use. A leaf, held
	// for one record or one copy; hasMetrics tells status readers,
	// without it, whether there is anything to copy.
	metricMu   sync.Mutex
	metrics    *metrics.Set
	hasMetrics atomic.Bool

	// snap is the status as of the job's last change.
	snap atomic.Pointer[snapshot]

	// Guarded by Runner.mu: the job's place in the queue, whether it holds
	// a worker slot, and whether the Runner stopped waiting for it.
	ticket    sched.Ticket[*job]
	holdsSlot bool
	abandoned bool
	// lockThread is set by Start and never changed; it sits here, beside
	// two other bools, to keep the job within its allocation size class
	// (TestJobFitsItsSizeClass).
	lockThread bool

	mu  sync.Mutex // guards the fields below and orders the job's events
	m   lifecycle.Machine
	cur snapshot // what snap will show at the next commit
	// fresh holds memory for the next snapshots, each written once before
	// it is published and never again: the first two live in the job
	// (first), and the last two are allocated together, so that a short
	// job's four commits cost one allocation.
	fresh []snapshot
	first [2]snapshot
	// stopped tells that worker_stopped was published: nothing more will
	// come for this job.
	stopped bool
	// wake is closed by Resume or a cancel; non-nil while a pause is
	// requested or held.
	wake chan struct{}
	// lastChange is when the progress loop last saw progress change, and
	// tickMark the progress it saw then; published is the progress last
	// published, so that only changes are.
	lastChange time.Time
	tickMark   progressValues
	published  progressValues
	// stallPublished tells that subscribers were told of the stall, and so
	// must be told of its end.
	stallPublished bool
	estimator      rateEstimator
	timeline       *timeline.Timeline[TimelinePoint] // from the worker's start
	// timelineMessage is the message as of the newest progress point.
	timelineMessage string
	logs            ring.Queue[LogRecord]
	log             *slog.Logger // made on first use
	// idText is the id's text, kept for the job's pprof label.
	idText     [36]byte
	timer      *time.Timer // the timeout, while the job runs
	graceTimer *time.Timer // see WithCancelGrace
}

// snapshot is the part of a job's status that changes at its transitions.
// Once published it never changes.
type snapshot struct {
	state       State
	hasWorker   bool
	alive       bool
	stalled     bool
	osThreadID  int
	queuedAt    time.Time
	startTime   time.Time
	endTime     time.Time
	queueWait   time.Duration
	pausedTotal time.Duration
	pausedSince time.Time // non-zero while paused
	rate        float64
	eta         time.Duration
	err         error
	stack       string
	threadCPU   time.Duration
	final       progressValues // the progress frozen at the end
}

// commitLocked publishes the job's current state to status readers.
func (j *job) commitLocked() {
	var c *snapshot
	if len(j.fresh) > 0 {
		c, j.fresh = &j.fresh[0], j.fresh[1:]
	} else {
		c = new(snapshot)
	}
	*c = j.cur
	c.state = State(j.m.State())
	j.snap.Store(c)
}

// running returns how long the job has run as of now, not counting pauses.
func (s *snapshot) running(now time.Time) time.Duration {
	if s.startTime.IsZero() {
		return 0
	}
	if !s.endTime.IsZero() {
		now = s.endTime
	}
	d := now.Sub(s.startTime) - s.pausedTotal
	if !s.pausedSince.IsZero() {
		d -= now.Sub(s.pausedSince)
	}
	return d
}

// runningNow is running as of now, read from the monotonic clock alone
// (time.Since), which costs half a time.Now: a status read is on the
// path of every poll.
func (s *snapshot) runningNow() time.Duration {
	if s.startTime.IsZero() {
		return 0
	}
	if !s.endTime.IsZero() {
		return s.running(s.endTime)
	}
	d := time.Since(s.startTime) - s.pausedTotal
	if !s.pausedSince.IsZero() {
		d -= time.Since(s.pausedSince)
	}
	return d
}

// pausedNow returns the time spent paused as of now.
func (s *snapshot) pausedNow() time.Duration {
	if s.pausedSince.IsZero() {
		return s.pausedTotal
	}
	return s.pausedTotal + time.Since(s.pausedSince)
}

// status returns the job's status now. It takes no lock but, while the
// job sets its message faster than the progress interval, the message's.
func (j *job) status() (st JobStatus) {
	s := j.snap.Load()
	if s.state.Terminal() {
		j.fillStatus(&st, s, &s.final)
		return st
	}
	var p progressValues
	j.liveProgress(&p)
	j.fillStatus(&st, s, &p)
	return st
}

// statusOf is the status given by a snapshot and progress values.
func (j *job) statusOf(s *snapshot, p progressValues) (st JobStatus) {
	j.fillStatus(&st, s, &p)
	return st
}

// fillStatus fills st, a zero status, from a snapshot and progress values,
// field by field: a status is a few hundred bytes, and a composite literal
// would be built aside and copied, which is most of what a read costs.
func (j *job) fillStatus(st *JobStatus, s *snapshot, p *progressValues) {
	st.ID = j.id
	st.Name = j.name
	st.State = s.state
	st.HasWorker = s.hasWorker
	st.Alive = s.alive
	st.WorkerID = j.workerID
	st.WorkerName = j.name
	st.ProcessID = j.r.pid
	st.OSThreadID = s.osThreadID
	st.ThreadCPU = s.threadCPU
	st.Percent = p.percent
	st.Step = p.step
	st.Total = p.total
	st.Message = p.message
	st.Rate = s.rate
	st.ETA = s.eta
	st.Priority = j.priority
	st.QueueWait = s.queueWait
	st.StartTime = s.startTime
	st.EndTime = s.endTime
	st.Duration = s.runningNow()
	st.Paused = s.pausedNow()
	st.Stalled = s.stalled
	st.Err = s.err
	st.Stack = s.stack
	if s.state == StateQueued && !s.queuedAt.IsZero() {
		st.QueueWait = time.Since(s.queuedAt)
	}
	if s.alive && s.osThreadID != 0 {
		st.ThreadCPU = threadCPUTime(s.osThreadID)
	}
	if j.hasMetrics.Load() {
		st.Metrics, st.MetricsDropped = j.latestMetrics()
	}
}

// progressLocked returns the job's progress: live while it works, frozen
// once it ended.
func (j *job) progressLocked() progressValues {
	if j.m.State().Terminal() {
		return j.cur.final
	}
	j.settleMessageLocked() // what an event carries is the Runner's own
	return j.readProgress()
}

// eventLocked returns an event of type t for the job, with the job's
// identity, state and progress as of now. An event is built on the
// publisher's stack: the hub copies it to the heap only for subscribers
// that must keep it (see delivery.Hub.Publish).
func (j *job) eventLocked(t EventType, now time.Time) (ev Event) {
	j.fillEventLocked(&ev, t, now)
	return ev
}

// publishNewLocked publishes an event of type t as of now.
func (j *job) publishNewLocked(t EventType, now time.Time) {
	var ev Event
	j.fillEventLocked(&ev, t, now)
	j.publishLocked(&ev)
}

// fillEventLocked makes *ev, a zero event not yet published, what
// eventLocked returns.
func (j *job) fillEventLocked(ev *Event, t EventType, now time.Time) {
	// Field by field, as in fillStatus: a composite literal would be built
	// in this frame and copied, and this runs on the job's goroutine,
	// whose stack starts small.
	p := j.progressLocked()
	ev.Type = t
	ev.Time = now
	ev.JobID = j.id
	ev.JobName = j.name
	ev.WorkerID = j.workerID
	ev.WorkerName = j.name
	ev.ProcessID = j.r.pid
	ev.OSThreadID = j.cur.osThreadID
	ev.Alive = j.cur.alive
	ev.State = State(j.m.State())
	ev.Stalled = j.cur.stalled
	ev.Percent = p.percent
	ev.Step = p.step
	ev.Total = p.total
	ev.Message = p.message
	ev.Rate = j.cur.rate
	ev.ETA = j.cur.eta
	ev.QueueWait = j.cur.queueWait
	ev.StartTime = j.cur.startTime
	ev.Duration = j.cur.running(now)
	if p.metricVersion != 0 && (t.class() == delivery.Foldable || t == EventComplete) {
		// The events that carry a job's progress carry its metrics too.
		ev.Metrics, _ = j.latestMetrics()
	}
}

// publishLocked publishes ev to the Runner's subscribers.
func (j *job) publishLocked(ev *Event) {
	j.r.hub.Publish(j.id, delivery.Topic(ev.Type), ev.Type.class(), ev)
}

// observedLocked reports whether anyone listens, so that a job nobody
// watches builds no events.
func (j *job) observedLocked() bool { return j.r.hub.Observed() }

// dispatchLocked gives the job its worker: it starts the job's goroutine
// and publishes worker_started (after info, for a job that was never
// queued, so that info already says it runs). It reports false, and does
// nothing, when the job left the queue otherwise (it was canceled).
func (j *job) dispatchLocked(withInfo bool) bool {
	if _, ok := j.m.Apply(lifecycle.Dispatch); !ok {
		return false
	}
	now := time.Now()
	j.cur.hasWorker, j.cur.alive = true, true
	j.cur.startTime, j.lastChange = now, now
	if !j.cur.queuedAt.IsZero() {
		j.cur.queueWait = now.Sub(j.cur.queuedAt)
	}
	if j.timeout > 0 {
		j.timer = time.AfterFunc(j.timeout, func() { _ = j.cancelWith(ErrTimeout) })
	}
	// The events are published before the job's code can run, so that
	// info and worker_started show the job as it was given its worker
	// (no progress yet), whatever the job does first.
	var ready chan int
	if j.lockThread {
		// The goroutine tells its thread, then waits for the events to
		// be out, so that info and worker_started can name the thread.
		ready = make(chan int)
		go j.run(ready)
		j.cur.osThreadID = <-ready
	}
	// The status changes before the events that tell of it are published,
	// so that no one who received an event reads an older status.
	j.commitLocked()
	if j.observedLocked() {
		if withInfo {
			j.publishNewLocked(EventInfo, now)
		}
		j.publishNewLocked(EventWorkerStarted, now)
	}
	if ready != nil {
		close(ready)
	} else if !j.r.workers.hand(j, now) {
		go j.r.workers.work(j)
	}
	j.r.activate(j)
	return true
}

// idString returns the job id's text without allocating: the text lives
// in the job, written by Start before anyone else sees the job and never
// changed.
func (j *job) idString() string {
	return unsafe.String(&j.idText[0], len(j.idText))
}

// hexUUID writes id in its canonical text form.
func hexUUID(dst *[36]byte, id uuid.UUID) {
	hex.Encode(dst[0:8], id[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], id[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], id[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], id[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], id[10:])
}

// run is the job's goroutine: it runs the job under its pprof labels and
// publishes complete and worker_stopped however the job ends, even by
// runtime.Goexit. worker_started was published by whoever started it.
func (j *job) run(ready chan int) {
	if ready != nil {
		// Never unlocked: the thread ends with the goroutine, so whatever
		// the job did to it cannot leak into other goroutines.
		runtime.LockOSThread()
		ready <- osThreadID()
		<-ready // closed once worker_started is out
	}
	var e ending
	defer j.end(&e)
	j.call(&e)
}

// ending is how a job's Run ended.
type ending struct {
	err      error
	panicErr *PanicError
	returned bool
	canceled bool // the context was canceled before Run returned
}

// end publishes the job's end, however Run ended: returned, panicked or
// by runtime.Goexit.
func (j *job) end(e *ending) {
	if !e.returned && e.panicErr == nil {
		e.err = errGoexit
	}
	j.finish(e.err, e.panicErr, e.canceled)
	j.stop()
}

// call runs the job under its pprof labels. It is a function of its own,
// never inlined, so that when Run has returned its frames are off the
// stack and the job's end runs in a shallow one: a job's goroutine starts
// with a small stack, and outgrowing it costs a copy of the whole stack.
//
//go:noinline
func (j *job) call(e *ending) {
	pprof.Do(j.ctx, pprof.Labels(LabelJobID, j.idString(), LabelJobName, j.name), func(ctx context.Context) {
		defer func() {
			e.canceled = ctx.Err() != nil
			if v := recover(); v != nil {
				e.panicErr = &PanicError{Value: v, Stack: boundStack(panicStack(debug.Stack()))}
			}
		}()
		e.err = j.fn.Run(ctx, &j.progress)
		e.returned = true
	})
}

// finish decides the job's outcome, freezes its status and publishes the
// last progress (if not yet published) and complete.
func (j *job) finish(err error, panicErr *PanicError, canceled bool) {
	var cause error
	if canceled {
		cause = context.Cause(j.ctx)
	}
	state, err := outcome(cause, err, panicErr)

	j.mu.Lock()
	defer j.mu.Unlock()
	j.fresh = make([]snapshot, 2) // for this commit and stop's
	now := time.Now()
	j.endPauseLocked(now)
	j.cur.endTime = now
	j.settleMessageLocked()
	last := j.readProgress()
	j.cur.rate = averageRate(last, j.cur.running(now))
	j.cur.eta = 0
	stopTimers(j.timer, j.graceTimer)

	if j.observedLocked() {
		if j.stallPublished && last.changed(&j.tickMark) {
			// It made progress and ended before the next interval saw it.
			j.publishNewLocked(EventUnstalled, now)
		}
		if last.changed(&j.published) {
			j.publishNewLocked(EventProgress, now)
			j.published = last
		}
	}
	if j.timeline != nil && j.timeline.Len() > 0 {
		// A timeline ends where the job did. A job too short to have one
		// keeps none: its last progress is in its status.
		j.addProgressPointLocked(now, last, true)
	}
	// The state turns terminal before complete is published, so that no
	// one who has seen complete can read the job as running.
	j.m.Apply(returnInput(state))
	j.cur.final = last
	j.cur.err = err
	j.cur.stalled = false
	if panicErr != nil {
		j.cur.stack = string(panicErr.Stack)
	}
	if j.cur.osThreadID != 0 {
		j.cur.threadCPU = threadCPUTime(j.cur.osThreadID)
	}
	j.commitLocked()
	if j.observedLocked() {
		j.publishCompleteLocked(now, err)
	}
}

// publishCompleteLocked publishes the complete event of a job that ended
// with err. It is a function of its own so that its event is on the stack
// only while it is published.
func (j *job) publishCompleteLocked(now time.Time, err error) {
	var ev Event
	j.fillEventLocked(&ev, EventComplete, now)
	ev.ThreadCPU, ev.Err, ev.Stack, ev.Paused = j.cur.threadCPU, err, j.cur.stack, j.cur.pausedTotal
	j.publishLocked(&ev)
}

func returnInput(s State) lifecycle.Input {
	switch s {
	case StateSucceeded:
		return lifecycle.ReturnOK
	case StateCanceled:
		return lifecycle.ReturnCanceled
	default:
		return lifecycle.ReturnErr
	}
}

// stop records that the worker is gone, publishes worker_stopped and
// retires the job.
func (j *job) stop() {
	j.mu.Lock()
	j.cur.alive = false
	j.stopped = true
	j.commitLocked()
	if j.observedLocked() {
		j.publishNewLocked(EventWorkerStopped, time.Now())
	}
	j.mu.Unlock()
	j.cancel(nil) // release the context's resources
	j.r.retire(j)
	close(j.done)
}

// cancelWith cancels the job with cause. A queued job ends here, without
// ever getting a goroutine; a running one has its context canceled and is
// canceling until it returns.
func (j *job) cancelWith(cause error) error {
	j.mu.Lock()
	switch st := j.m.State(); {
	case st.Terminal():
		j.mu.Unlock()
		return ErrJobDone
	case st == lifecycle.Canceling || st == lifecycle.Abandoned:
		j.mu.Unlock()
		return nil // the first cause stands
	case st == lifecycle.Queued:
		j.r.unqueue(j)
		j.m.Apply(lifecycle.Cancel)
		now := time.Now()
		j.cur.endTime = now
		j.cur.queueWait = now.Sub(j.cur.queuedAt)
		j.cur.final = j.progressLocked()
		j.cur.err = cause
		j.stopped = true
		j.commitLocked()
		if j.observedLocked() {
			ev := j.eventLocked(EventComplete, now)
			ev.Err = cause
			j.publishLocked(&ev)
			j.publishNewLocked(EventWorkerStopped, now)
		}
		j.mu.Unlock()
		j.cancel(cause)
		j.r.retire(j)
		close(j.done)
		return nil
	}
	j.m.Apply(lifecycle.Cancel)
	now := time.Now()
	// The context is canceled before a parked checkpoint wakes, so that
	// it returns the context's error rather than letting one more step run.
	j.cancel(cause)
	j.pauseRequested.Store(false) // a checkpoint must not park any more
	j.endPauseLocked(now)
	if grace := j.r.cfg.cancelGrace; grace > 0 {
		j.graceTimer = time.AfterFunc(grace, j.abandonNow)
	}
	j.commitLocked()
	j.mu.Unlock()
	return nil
}

// endPauseLocked ends a pause or a pause request: the parked goroutines
// wake and the time paused is counted.
func (j *job) endPauseLocked(now time.Time) {
	if j.wake != nil {
		close(j.wake)
		j.wake = nil
	}
	if !j.cur.pausedSince.IsZero() {
		j.cur.pausedTotal += now.Sub(j.cur.pausedSince)
		j.cur.pausedSince = time.Time{}
		j.lastChange = now // time paused is not time stalled
	}
}

// abandonNow runs when a canceled job has not returned within the grace
// period: the job is reported abandoned and Shutdown stops waiting for it.
func (j *job) abandonNow() {
	j.mu.Lock()
	if _, ok := j.m.Apply(lifecycle.GraceOver); !ok {
		j.mu.Unlock() // it returned meanwhile
		return
	}
	j.commitLocked()
	if j.observedLocked() {
		ev := j.eventLocked(EventAbandoned, time.Now())
		ev.Message = "still running " + FormatDuration(j.r.cfg.cancelGrace) + " after it was canceled"
		j.publishLocked(&ev)
	}
	j.mu.Unlock()
	j.r.abandon(j)
}

// pause asks a running job to park at its next checkpoint.
func (j *job) pause() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.m.Apply(lifecycle.Pause); !ok {
		return ErrNotRunning
	}
	if j.wake == nil {
		j.wake = make(chan struct{})
	}
	j.pauseRequested.Store(true)
	j.commitLocked()
	return nil
}

// resume lets a paused job go on, or withdraws a pause request the job
// has not reached a checkpoint for yet.
func (j *job) resume() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	before := j.m.State()
	emit, ok := j.m.Apply(lifecycle.Resume)
	if !ok {
		if before == lifecycle.Running {
			return ErrNotPaused
		}
		return ErrNotRunning
	}
	now := time.Now()
	pause := now.Sub(j.cur.pausedSince)
	// The resumed event and point are read before anything wakes the job,
	// so that they show where it paused, not a step it took after.
	var p progressValues
	var ev Event // its Type is set when there is one to publish
	if emit == lifecycle.EmitResumed {
		p = j.readProgress()
		if j.observedLocked() {
			ev = j.eventLocked(EventResumed, now)
			ev.Paused = pause
		}
	}
	j.pauseRequested.Store(false)
	j.endPauseLocked(now)
	j.commitLocked()
	if emit == lifecycle.EmitResumed {
		j.addStateLocked(now, TimelineResumed, p)
		if ev.Type != 0 {
			j.publishLocked(&ev)
		}
	}
	return nil
}

// park waits at a checkpoint while the job is asked to pause.
func (j *job) park() {
	j.mu.Lock()
	switch j.m.State() {
	case lifecycle.Pausing:
		j.m.Apply(lifecycle.Park)
		now := time.Now()
		j.cur.pausedSince = now
		j.addStateLocked(now, TimelinePaused, j.readProgress())
		j.commitLocked()
		if j.observedLocked() {
			j.publishNewLocked(EventPaused, now)
		}
	case lifecycle.Paused:
		// Another goroutine of the job parked first; wait with it.
	default:
		j.mu.Unlock() // resumed or canceled meanwhile
		return
	}
	wake := j.wake
	j.mu.Unlock()
	select {
	case <-wake:
	case <-j.ctx.Done():
	}
}

// tick updates the job's rate and ETA, detects a stall, and publishes the
// job's progress if it changed since it was last published and someone
// listens. The Runner's progress loop calls it at every interval with the
// time of that interval; it reports whether the job just stalled, so that
// the loop captures its stacks.
func (j *job) tick(now time.Time) (stalled bool) {
	var unstalled bool
	j.mu.Lock()
	defer j.mu.Unlock()
	state := j.m.State()
	if !state.Working() {
		return false
	}
	j.settleMessageLocked()
	p := j.readProgress()
	var span time.Duration
	if j.cur.stalled {
		span = j.r.cfg.progressInterval // the hang is not run time for the rate
	}
	j.estimator.observe(p, j.cur.running(now), span)
	rate, eta := j.estimator.rate, j.estimator.eta(p)
	changed := rate != j.cur.rate || eta != j.cur.eta
	j.cur.rate, j.cur.eta = rate, eta
	switch limit := j.r.cfg.stallTimeout; {
	case p.changed(&j.tickMark):
		j.tickMark, j.lastChange = p, now
		if j.cur.stalled {
			j.cur.stalled, changed, unstalled = false, true, j.stallPublished
			j.addStateLocked(now, TimelineUnstalled, p)
			j.stallPublished = false
		}
		j.addProgressPointLocked(now, p, false)
	case limit > 0 && !j.cur.stalled && state != lifecycle.Paused && now.Sub(j.lastChange) >= limit:
		j.cur.stalled, changed, stalled = true, true, true
		j.addStateLocked(now, TimelineStalled, p)
	}
	if changed {
		j.commitLocked() // before the events that tell of it
	}
	if unstalled && j.observedLocked() {
		j.publishNewLocked(EventUnstalled, now)
	}
	if p.changed(&j.published) && j.observedLocked() {
		j.publishNewLocked(EventProgress, now)
		j.published = p
	}
	return stalled
}

// addProgressPointLocked adds p to the timeline if a point is due (or
// always, with force). A point carries the message only when it changed
// since the last point recorded.
func (j *job) addProgressPointLocked(now time.Time, p progressValues, force bool) {
	pt := TimelinePoint{Time: now, Kind: TimelineProgress, Percent: p.percent, Step: p.step}
	if p.message != j.timelineMessage {
		pt.Message = boundText(p.message, maxTimelineMessage)
	}
	if force {
		j.timelineOf().AddForce(classProgress, now, pt)
	} else if !j.timelineOf().Add(classProgress, now, pt) {
		return
	}
	j.timelineMessage = p.message
}

// publishStalled publishes EventStalled with the stacks of the job's
// goroutines, captured by the Runner with none of the job's locks held. If
// the job moved on meanwhile (it made progress, or ended), the stall is no
// news and is not published; EventUnstalled is published only after a
// published EventStalled.
func (j *job) publishStalled(now time.Time, stack string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.cur.stalled || !j.m.State().Working() || j.stallPublished {
		return
	}
	j.stallPublished = true
	if j.observedLocked() {
		ev := j.eventLocked(EventStalled, now)
		ev.Message = "no progress for " + FormatDuration(now.Sub(j.lastChange))
		ev.Stack = stack
		j.publishLocked(&ev)
	}
}

// recordThreadCPU adds to the timeline of a working job that has its own
// OS thread a resource sample with that thread's CPU time; other jobs
// share the Runner's samples.
func (j *job) recordThreadCPU(now time.Time, sample Resources) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.m.State().Working() || j.cur.osThreadID == 0 {
		return
	}
	sample.ThreadCPU = threadCPUTime(j.cur.osThreadID)
	j.timelineOf().Add(classResources, now, TimelinePoint{Time: now, Kind: TimelineResources, Resources: &sample})
}

// record returns the job's record for the history, deep copied.
func (j *job) record() JobRecord {
	j.mu.Lock()
	rec := JobRecord{JobStatus: j.statusOf(j.snap.Load(), j.cur.final), Logs: j.logsLocked(), Series: j.metricSeries()}
	own, from, to := j.timelineLocked(), j.cur.startTime, j.cur.endTime
	j.mu.Unlock()
	rec.Timeline = j.r.withSamples(own, from, to)
	return rec
}

// MaxStackLen bounds the stack text a job's status, record and events
// keep: a panic's stack (PanicError.Stack, JobStatus.Stack) and the
// stacks of a stalled job's goroutines (the EventStalled's Stack). Beyond
// it the text is cut at a line's end, after the innermost frames, and a
// last line says so; Handle.Stacks gives the whole of a live job's.
const MaxStackLen = 64 << 10

// boundStack cuts stack to MaxStackLen, as MaxStackLen says.
func boundStack[S ~string | ~[]byte](stack S) S {
	if len(stack) <= MaxStackLen {
		return stack
	}
	const note = "\n… (cut at 64 KB)"
	cut := MaxStackLen - len(note)
	for cut > 0 && stack[cut-1] != '\n' {
		cut--
	}
	return S(string(stack[:cut]) + note[1:])
}

// panicStack trims from a stack taken in a deferred recover the frames
// above the panic (the recovering function and runtime.panic itself), so
// that it starts where the job panicked.
func panicStack(stack []byte) []byte {
	header, rest, ok := bytes.Cut(stack, []byte("\n"))
	if !ok {
		return stack
	}
	_, after, ok := bytes.Cut(rest, []byte("\npanic("))
	if !ok {
		return stack
	}
	// Skip the panic frame's function line and its file line.
	for range 2 {
		if _, after, ok = bytes.Cut(after, []byte("\n")); !ok {
			return stack
		}
	}
	return append(append(header, '\n'), after...)
}

// outcome classifies how a job ended. cause is why its context was
// canceled before Run returned, or nil.
func outcome(cause, err error, panicErr *PanicError) (State, error) {
	switch {
	case panicErr != nil:
		return StateFailed, panicErr
	case err == nil:
		return StateSucceeded, nil
	case cause != nil:
		if errors.Is(err, cause) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return StateCanceled, cause
		}
		// The job said why it stopped in its own words: keep both.
		return StateCanceled, fmt.Errorf("%w (job returned: %w)", cause, err)
	default:
		return StateFailed, err
	}
}

func stopTimers(timers ...*time.Timer) {
	for _, t := range timers {
		if t != nil {
			t.Stop()
		}
	}
}

// Handle is the caller's grip on one started job. Its methods are safe for
// concurrent use and keep working after the job ended and after the Runner
// shut down.
type Handle struct {
	j *job
}

// ID returns the job's id.
func (h *Handle) ID() uuid.UUID { return h.j.id }

// Name returns the job's name.
func (h *Handle) Name() string { return h.j.name }

// Status returns a snapshot of the job. It never waits for the job: it
// reads what the job last published, and the live progress values.
func (h *Handle) Status() JobStatus { return h.j.status() }

// Done returns a channel that is closed once the job has ended, its last
// event (worker_stopped) has been published and its record is in the
// Runner's history.
func (h *Handle) Done() <-chan struct{} { return h.j.done }

// Wait waits for the job to end and returns its error: nil if it
// succeeded, the job's error or a *PanicError if it failed, the
// cancellation cause if it was canceled. If ctx ends first, Wait returns
// ctx's error and the job runs on; use Done and Status to tell the two
// apart when that matters. A nil ctx returns ErrNilContext.
func (h *Handle) Wait(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	select {
	case <-h.j.done:
		return h.j.snap.Load().err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cancel cancels the job's context with cause (ErrCanceled when cause is
// nil), which the job sees as context.Cause(ctx); a queued job ends at
// once, canceled, without ever running. Cancel does not wait for the job
// to return. Canceling again is a no-op that keeps the first cause;
// canceling a job that has ended returns ErrJobDone and changes nothing.
// A Cancel that races the job's own return does not change its outcome.
func (h *Handle) Cancel(cause error) error {
	if cause == nil {
		cause = ErrCanceled
	}
	return h.j.cancelWith(cause)
}

// Pause asks the job to pause at its next checkpoint (Progress.Checkpoint).
// Until it gets there its state is StatePausing — it still uses CPU — and
// then StatePaused, with an EventPaused. Pausing is cooperative: a job that
// never calls Checkpoint never pauses. A paused job keeps Shutdown waiting
// until it is resumed, or canceled when Shutdown's context ends. Pausing a
// pausing or paused job is a no-op; a job waiting in the queue, canceling
// or finished returns ErrNotRunning.
func (h *Handle) Pause() error { return h.j.pause() }

// Resume lets a paused job go on, with an EventResumed, or withdraws a
// pause the job has not reached a checkpoint for yet. Resuming a running
// job that was not asked to pause returns ErrNotPaused; a queued,
// canceling or finished job returns ErrNotRunning.
func (h *Handle) Resume() error { return h.j.resume() }

// Stacks returns the stacks of the job's goroutines now, in the runtime's
// goroutine profile form (debug=1: counts, addresses, labels, frames with
// file:line): the full dump behind the readable stacks of an
// EventStalled. It stops the world for a moment; it is for a person
// looking at a job, not for a loop. A job that has ended has none.
func (h *Handle) Stacks() (string, error) {
	return stacks.Labelled(LabelJobID, h.j.idString())
}

// Logs returns a copy of the tail of the job's log, oldest first, at most
// WithLogLimit lines. The caller may keep and change it.
func (h *Handle) Logs() []LogRecord {
	j := h.j
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.logsLocked()
}

// Timeline returns a copy of the job's timeline, oldest first: its
// progress samples, pauses and stalls, merged with the Runner's resource
// samples taken while it ran. Each kind of point is bounded on its own
// (see MaxTimeline), so every kind covers the whole run. The caller may
// keep and change it.
func (h *Handle) Timeline() []TimelinePoint {
	j := h.j
	j.mu.Lock()
	own, from, to := j.timelineLocked(), j.cur.startTime, j.cur.endTime
	j.mu.Unlock()
	return j.r.withSamples(own, from, to)
}
