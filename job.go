package bgjob

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/ring"
	"github.com/bgjob/bgjob/internal/stacks"
)

// Job is work the Runner runs in the background.
//
// Run should return when ctx is canceled, with ctx's error or one wrapping
// it; the job is then reported as canceled, with the cause given to
// Handle.Cancel (context.Cause). A job that returns nil is reported as
// succeeded even if it was canceled on the way: it finished its work.
// A panic in Run is recovered and reported as a failure with a
// *PanicError holding the panic value and the stack.
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

// ids draws job ids from crypto/rand through a buffer, so that a job id
// costs a copy rather than a system call. uuid.EnableRandPool does the
// same, but for the whole program; a library should not change that.
var ids = struct {
	mu sync.Mutex
	r  *bufio.Reader
}{r: bufio.NewReaderSize(rand.Reader, 16*256)}

func newJobID() (uuid.UUID, error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	return uuid.NewRandomFromReader(ids.r)
}

// job is the Runner's record of one job.
type job struct {
	r          *Runner
	id         uuid.UUID
	name       string
	workerID   int64
	fn         Job
	lockThread bool
	timeout    time.Duration
	priority   int
	order      uint64 // Start order, to keep the queue first in, first out
	// ctx is the job's own context, made by Start. It is kept here, where
	// a context usually should not be, because a queued job has no
	// goroutine to hold it until it leaves the queue.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed after worker_stopped is published

	// queueIndex is the job's index in the Runner's queue, -1 when it is
	// not queued; abandoned tells that the Runner stopped counting the job
	// (see Runner.abandon). Both are guarded by Runner.mu.
	queueIndex int
	abandoned  bool

	// The hot progress values, written by the job without a lock. They sit
	// on their own cache line so that status readers taking mu do not slow
	// the job's stores.
	_       [64]byte
	step    atomic.Int64
	total   atomic.Int64
	percent atomic.Uint64 // math.Float64bits
	// pauseRequested is what Checkpoint looks at on the hot path; it is
	// written under mu.
	pauseRequested atomic.Bool
	_              [64]byte

	// publishMu keeps this job's events in order: whoever publishes for the
	// job holds it from the decision to publish until the event is queued
	// for every subscriber. Taken before mu.
	publishMu sync.Mutex
	// Last progress published, to publish only changes.
	published progressMark

	mu             sync.Mutex // guards the fields below
	state          State
	hasWorker      bool
	alive          bool
	osThreadID     int
	startTime      time.Time
	endTime        time.Time
	message        string
	messageVersion uint64
	canceled       bool  // Cancel was called
	hasReturned    bool  // Run has returned (or panicked, or exited)
	cause          error // why the context was canceled, if before Run returned
	err            error
	stack          string
	threadCPU      time.Duration
	final          progressValues // progress frozen when the job ended
	rate           float64        // see estimateLocked
	eta            time.Duration

	dispatched  bool // given a worker slot (its goroutine may not run yet)
	queuedAt    time.Time
	queueWait   time.Duration
	resume      chan struct{} // closed by Resume; non-nil while a pause is wanted
	pausedSince time.Time     // non-zero while parked at a checkpoint
	pausedTotal time.Duration
	stalled     bool
	// stallPublished tells that subscribers were told of the stall, and
	// so must be told of its end.
	stallPublished bool
	lastChange     time.Time    // when the progress loop last saw progress change
	tickMark       progressMark // the progress it saw then
	timeline       timeline
	log            *slog.Logger // made on first use
	logs           ring.Queue[LogRecord]
	timer          *time.Timer // the timeout, while the job runs
	graceTimer     *time.Timer // the grace after a cancel, see WithCancelGrace

	// handle and progress are handed out by pointer; keeping them here
	// saves an allocation each per job.
	handle   Handle
	progress Progress
}

// progressMark identifies one set of progress values, to tell whether they
// changed since they were last published.
type progressMark struct {
	step, total    int64
	percentBits    uint64
	messageVersion uint64
}

func (j *job) markLocked() progressMark {
	return progressMark{
		step:           j.step.Load(),
		total:          j.total.Load(),
		percentBits:    j.percent.Load(),
		messageVersion: j.messageVersion,
	}
}

// runningLocked returns how long the job has run as of now, not counting
// pauses. It reads only the monotonic clock (time.Since), which costs half
// a time.Now.
func (j *job) runningLocked() time.Duration {
	if j.startTime.IsZero() {
		return 0
	}
	if !j.endTime.IsZero() {
		return j.runningAtLocked(j.endTime)
	}
	d := time.Since(j.startTime) - j.pausedTotal
	if !j.pausedSince.IsZero() {
		d -= time.Since(j.pausedSince)
	}
	return d
}

// runningAtLocked returns how long the job has run as of now, a time read
// for an event, not counting pauses.
func (j *job) runningAtLocked(now time.Time) time.Duration {
	if j.startTime.IsZero() {
		return 0
	}
	if !j.endTime.IsZero() {
		now = j.endTime
	}
	d := now.Sub(j.startTime) - j.pausedTotal
	if !j.pausedSince.IsZero() {
		d -= now.Sub(j.pausedSince)
	}
	return d
}

// pausedLocked returns the time spent paused so far.
func (j *job) pausedLocked() time.Duration {
	if j.pausedSince.IsZero() {
		return j.pausedTotal
	}
	return j.pausedTotal + time.Since(j.pausedSince)
}

// statusLocked returns the job's status as of now.
func (j *job) statusLocked() JobStatus {
	running := j.runningLocked()
	p := j.readProgressLocked()
	st := JobStatus{
		ID:         j.id,
		Name:       j.name,
		State:      j.state,
		HasWorker:  j.hasWorker,
		Alive:      j.alive,
		WorkerID:   j.workerID,
		WorkerName: j.name,
		ProcessID:  j.r.pid,
		OSThreadID: j.osThreadID,
		ThreadCPU:  j.threadCPU,
		Percent:    p.percent,
		Step:       p.step,
		Total:      p.total,
		Message:    p.message,
		Rate:       j.rate,
		ETA:        j.eta,
		Priority:   j.priority,
		QueueWait:  j.queueWaitLocked(),
		StartTime:  j.startTime,
		EndTime:    j.endTime,
		Duration:   running,
		Paused:     j.pausedLocked(),
		Stalled:    j.stalled,
		Err:        j.err,
		Stack:      j.stack,
	}
	if j.alive && j.osThreadID != 0 {
		st.ThreadCPU = threadCPUTime(j.osThreadID)
	}
	return st
}

// queueWaitLocked returns how long the job waited, or has waited so far,
// in the queue.
func (j *job) queueWaitLocked() time.Duration {
	if j.state == StateQueued && !j.queuedAt.IsZero() {
		return time.Since(j.queuedAt)
	}
	return j.queueWait
}

// status returns the job's status now.
func (j *job) status() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.statusLocked()
}

// eventLocked returns an event of type t for the job with its common
// fields filled in. Events travel by pointer inside the package and must
// not change once published: one event is shared by every subscription.
func (j *job) eventLocked(t EventType, now time.Time) *Event {
	return &Event{
		Type:       t,
		Time:       now,
		JobID:      j.id,
		JobName:    j.name,
		WorkerID:   j.workerID,
		WorkerName: j.name,
		ProcessID:  j.r.pid,
		OSThreadID: j.osThreadID,
		Alive:      j.alive,
		State:      j.state,
		StartTime:  j.startTime,
	}
}

// progressEventLocked returns a progress event carrying p.
func (j *job) progressEventLocked(now time.Time, p progressValues) *Event {
	ev := j.eventLocked(EventProgress, now)
	ev.Percent, ev.Step, ev.Total, ev.Message = p.percent, p.step, p.total, p.message
	ev.Rate, ev.ETA = j.rate, j.eta
	ev.Duration = j.runningAtLocked(now)
	return ev
}

// tick updates the job's rate and ETA, detects a stall, and publishes the
// job's progress if it changed since it was last published and someone
// listens. The Runner's progress loop calls it at every interval with the
// time of that interval.
func (j *job) tick(now time.Time) {
	j.publishMu.Lock()
	j.mu.Lock()
	if !j.state.working() || !j.hasWorker {
		j.mu.Unlock()
		j.publishMu.Unlock()
		return
	}
	p := j.readProgressLocked()
	j.estimateLocked(p, j.runningAtLocked(now))
	mark := j.markLocked()
	var stalled, unstalled bool
	switch limit := j.r.cfg.stallTimeout; {
	case mark != j.tickMark:
		j.tickMark, j.lastChange = mark, now
		unstalled = j.stalled
		j.stalled = false
		j.timeline.addProgress(now, p, j.r.cfg.progressInterval)
	case limit > 0 && !j.stalled && j.state != StatePaused && now.Sub(j.lastChange) >= limit:
		j.stalled = true
		stalled = true
	}
	switch {
	case stalled:
		j.timeline.add(TimelinePoint{Time: now, Kind: TimelineStalled, Percent: p.percent, Step: p.step})
	case unstalled:
		j.timeline.add(TimelinePoint{Time: now, Kind: TimelineUnstalled, Percent: p.percent, Step: p.step})
	}
	observed := j.r.observed()
	var events []*Event
	if unstalled && j.stallPublished {
		j.stallPublished = false
		events = append(events, j.eventLocked(EventUnstalled, now))
	}
	if mark != j.published && observed {
		events = append(events, j.progressEventLocked(now, p))
		j.published = mark
	}
	idle := now.Sub(j.lastChange)
	j.mu.Unlock()
	for _, ev := range events {
		j.r.publish(ev)
	}
	j.publishMu.Unlock()

	if stalled && observed {
		j.publishStalled(now, idle)
	}
}

// recordThreadCPU adds to the timeline of a working job that has its own
// OS thread a resource sample with that thread's CPU time; other jobs
// share the Runner's samples (see Runner.withSamples).
func (j *job) recordThreadCPU(now time.Time, sample Resources) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.state.working() || !j.hasWorker || j.osThreadID == 0 {
		return
	}
	sample.ThreadCPU = threadCPUTime(j.osThreadID)
	j.timeline.addResources(TimelinePoint{Time: now, Kind: TimelineResources, Resources: &sample}, j.r.cfg.resourceInterval)
}

// publishStalled publishes EventStalled with the stacks of the job's
// goroutines. Taking them stops the world for a moment and formats every
// goroutine's stack, which a stall (rare by nature) can afford; it is done
// with none of the job's locks held, so that the job's own logging or end
// never waits for it. If the job moved on meanwhile (it made progress, or
// ended), the stall is no news and is not published; EventUnstalled is
// published only after a published EventStalled.
func (j *job) publishStalled(now time.Time, idle time.Duration) {
	stack, err := stacks.Labelled(LabelJobID, j.id.String())
	if err != nil {
		stack = err.Error()
	}
	j.publishMu.Lock()
	defer j.publishMu.Unlock()
	j.mu.Lock()
	if !j.stalled || !j.state.working() || j.hasReturned {
		j.mu.Unlock()
		return
	}
	j.stallPublished = true
	ev := j.eventLocked(EventStalled, now)
	j.mu.Unlock()
	ev.Message = "no progress for " + FormatDuration(idle)
	ev.Stack = stack
	j.r.publish(ev)
}

// run is the job's goroutine: it publishes worker_started, runs the job
// under its pprof labels, and publishes complete and worker_stopped however
// the job ends, even by runtime.Goexit.
func (j *job) run() {
	if j.lockThread {
		// Never unlocked: the thread ends with the goroutine, so whatever
		// the job did to it cannot leak into other goroutines.
		runtime.LockOSThread()
	}
	j.started()

	var (
		err      error
		panicErr *PanicError
		returned bool
	)
	defer func() {
		if !returned && panicErr == nil {
			err = errors.New("bgjob: job called runtime.Goexit")
		}
		j.finish(err, panicErr)
		j.stopped()
	}()
	pprof.Do(j.ctx, pprof.Labels(LabelJobID, j.id.String(), LabelJobName, j.name), func(ctx context.Context) {
		defer func() {
			if v := recover(); v != nil {
				panicErr = &PanicError{Value: v, Stack: panicStack(debug.Stack())}
			}
		}()
		defer j.returned(ctx)
		err = j.fn.Run(ctx, &j.progress)
		returned = true
	})
}

// started records that the worker runs and publishes worker_started.
func (j *job) started() {
	j.publishMu.Lock()
	defer j.publishMu.Unlock()
	j.mu.Lock()
	now := time.Now()
	if j.state == StateQueued {
		j.state = StateRunning
	} // else canceled on its way out of the queue: it stays canceling
	j.hasWorker = true
	j.alive = true
	j.startTime = now
	j.lastChange = now
	if !j.queuedAt.IsZero() {
		j.queueWait = now.Sub(j.queuedAt)
	}
	if j.timeout > 0 {
		j.timer = time.AfterFunc(j.timeout, func() { _ = j.requestCancel(ErrTimeout) })
	}
	if j.canceled {
		j.startGraceLocked() // canceled on its way out of the queue
	}
	if j.lockThread {
		j.osThreadID = osThreadID()
	}
	if !j.r.observed() {
		j.mu.Unlock()
		return
	}
	ev := j.eventLocked(EventWorkerStarted, now)
	ev.QueueWait = j.queueWait
	j.mu.Unlock()
	j.r.publish(ev)
}

// returned records, however Run ended, that it did and whether the job's
// context had been canceled by then: a Cancel that comes later is too late
// to change the outcome, and is told so.
func (j *job) returned(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.hasReturned = true
	if ctx.Err() != nil {
		j.cause = context.Cause(ctx)
	}
}

// finish decides the job's outcome, freezes its status and publishes the
// last progress (if not yet published) and complete.
func (j *job) finish(err error, panicErr *PanicError) {
	j.mu.Lock()
	cause := j.cause
	j.mu.Unlock()
	state, err := outcome(cause, err, panicErr)
	j.publishMu.Lock()
	defer j.publishMu.Unlock()
	j.mu.Lock()
	now := time.Now()
	if !j.pausedSince.IsZero() {
		// A goroutine of the job is still parked at a checkpoint: the
		// pause ends with the job.
		j.pausedTotal += now.Sub(j.pausedSince)
		j.pausedSince = time.Time{}
	}
	j.endTime = now
	running := j.runningLocked()
	mark := j.markLocked()
	last := j.readProgressLocked()
	j.estimateLocked(last, running)
	j.eta = 0
	observed := j.r.observed()
	var progressEv, unstalledEv *Event
	flush := observed && mark != j.published
	if flush {
		progressEv = j.progressEventLocked(now, last)
	}
	if j.stallPublished && mark != j.tickMark {
		// It made progress and ended before the next interval saw it.
		unstalledEv = j.eventLocked(EventUnstalled, now)
	}
	// The state turns terminal before complete is published, so that no
	// one who has seen complete can read the job as running.
	j.final = last
	if len(j.timeline.points) > 0 {
		// A timeline ends where the job did. A job too short to have
		// one keeps none: its last progress is in its status.
		j.timeline.lastSample = time.Time{}
		j.timeline.addProgress(now, last, j.r.cfg.progressInterval)
	}
	j.state = state
	j.err = err
	j.stalled = false
	stopTimers(j.timer, j.graceTimer)
	if panicErr != nil {
		j.stack = string(panicErr.Stack)
	}
	if j.osThreadID != 0 {
		j.threadCPU = threadCPUTime(j.osThreadID)
	}
	if !observed {
		j.mu.Unlock()
		return
	}
	ev := j.eventLocked(EventComplete, now)
	ev.Percent, ev.Step, ev.Total, ev.Message = last.percent, last.step, last.total, last.message
	ev.Duration, ev.ThreadCPU, ev.Err, ev.Stack = running, j.threadCPU, j.err, j.stack
	ev.QueueWait, ev.Paused = j.queueWait, j.pausedTotal
	j.mu.Unlock()

	if unstalledEv != nil {
		j.r.publish(unstalledEv)
	}
	if flush {
		j.published = mark
		j.r.publish(progressEv)
	}
	j.r.publish(ev)
}

// stopped records that the worker is gone, publishes worker_stopped and
// hands the job over to the Runner's history.
func (j *job) stopped() {
	j.publishMu.Lock()
	j.mu.Lock()
	j.alive = false
	if j.r.observed() {
		ev := j.eventLocked(EventWorkerStopped, time.Now())
		ev.Duration = j.runningLocked()
		j.mu.Unlock()
		j.r.publish(ev)
	} else {
		j.mu.Unlock()
	}
	j.publishMu.Unlock()
	j.cancel(nil) // release the context's resources
	j.r.retire(j)
	close(j.done)
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

// Status returns a snapshot of the job.
func (h *Handle) Status() JobStatus { return h.j.status() }

// Done returns a channel that is closed once the job has ended and its
// last event (worker_stopped) has been published.
func (h *Handle) Done() <-chan struct{} { return h.j.done }

// Wait waits for the job to end and returns its error: nil if it
// succeeded, the job's error or a *PanicError if it failed, the
// cancellation cause if it was canceled. If ctx ends first, Wait returns
// ctx's error and the job runs on; use Done and Status to tell the two
// apart when that matters.
func (h *Handle) Wait(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case <-h.j.done:
		h.j.mu.Lock()
		defer h.j.mu.Unlock()
		return h.j.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cancel cancels the job's context with cause (ErrCanceled when cause is
// nil), which the job sees as context.Cause(ctx). It does not wait for the
// job to return. Canceling again is a no-op that keeps the first cause;
// canceling a job whose Run has already returned returns ErrJobDone and
// changes nothing.
func (h *Handle) Cancel(cause error) error {
	if cause == nil {
		cause = ErrCanceled
	}
	return h.j.requestCancel(cause)
}
