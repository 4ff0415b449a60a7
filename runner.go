package bgjob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/delivery"
	"github.com/bgjob/bgjob/internal/history"
	"github.com/bgjob/bgjob/internal/lifecycle"
	"github.com/bgjob/bgjob/internal/sched"
	"github.com/bgjob/bgjob/internal/stacks"
	"github.com/bgjob/bgjob/internal/timeline"
)

// Runner runs jobs in the background, each in its own goroutine, publishes
// their events to subscribers and keeps their status.
//
// Make one with NewRunner; the zero value is not usable. All methods are
// safe for concurrent use. A Runner starts no goroutine until a job starts:
// each running job has a goroutine of its own, which, once the job has
// returned, waits up to a tenth of a second for the next job to start
// instead of ending (at most 32 wait; Shutdown ends them), since handing
// a job to a waiting goroutine costs less than starting one; while jobs
// run, one more goroutine publishes their progress at the progress
// interval (and, for a moment, one captures the stacks of stalled jobs);
// a subscription whose reader falls behind has one goroutine feeding its
// channel until it catches up or is closed; a history store that has
// records waiting has one goroutine handing them over.
//
// Call Shutdown when done: it waits for running jobs and closes every
// event channel after its last event.
//
// Locks, and the order in which they nest (a lock is only ever taken
// while holding those before it):
//
//  1. job.mu — one per job: its state machine, times, timeline, log tail;
//     every event of the job is published while it is held.
//  2. Runner.mu — the Runner's tables: live jobs, the scheduler, counts.
//  3. the hub's lock, then a subscription's (internal/delivery).
//
// Leaves, under which nothing else is taken: job.msgMu (the progress
// message), the history index's lock, the history recorder's lock, the
// idle workers' lock. Status reads take none of these but msgMu: they
// read the snapshot each job publishes at each change.
type Runner struct {
	cfg     runnerConfig
	pid     int
	hub     *delivery.Hub[uuid.UUID, Event]
	recent  *history.Index[uuid.UUID, *job] // the last historyLimit finished jobs
	records *recorder                       // nil without a HistoryStore
	// eventLog is the subscription behind WithEventLog, nil without it;
	// eventLogStarted, guarded by mu, tells that its goroutine runs.
	eventLog        *eventLogger
	eventLogStarted bool
	// stacksOf captures the stacks of goroutines by label value
	// (stacks.ByLabel); a test may count or slow it.
	stacksOf func(key string, want map[string]bool) (map[string]string, error)

	// closing is closed when Shutdown is first called; allDone when, after
	// that, no job the Runner waits for is live.
	closing  chan struct{}
	allDone  chan struct{}
	loopDone sync.WaitGroup // the progress loop and stall captures
	workers  workerPool     // goroutines waiting for the next job

	mu           sync.Mutex // guards the fields below, and job.ticket, holdsSlot, abandoned
	closed       bool
	finalized    bool
	live         map[uuid.UUID]*job // queued and working jobs, until they retire
	active       map[uuid.UUID]*job // working jobs: what the progress loop visits
	livePeak     int                // the most live jobs since the map was made
	sched        sched.Scheduler[*job]
	abandoned    int                               // live jobs abandoned after a cancel
	finished     [len(stateCounts)]int             // finished jobs by final state, over the Runner's life
	totals       [len(stateCounts)]RunTotals       // their sums
	nextWorkerID int64                             //
	loopStop     chan struct{}                     // non-nil while the progress loop runs
	resources    Resources                         // the last sample (see WithResourceInterval)
	samples      *timeline.Timeline[TimelinePoint] // resource samples, shared by the jobs' timelines
}

// stateCounts has a slot for each state, for counting.
var stateCounts [StateCanceled + 1]struct{}

// NewRunner returns a Runner configured by opts. It returns an error
// wrapping ErrInvalidOption when an option is out of range.
func NewRunner(opts ...Option) (*Runner, error) {
	cfg, err := newRunnerConfig(opts)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		cfg:      cfg,
		pid:      os.Getpid(),
		hub:      delivery.NewHub[uuid.UUID, Event](),
		recent:   history.New[uuid.UUID, *job](cfg.historyLimit),
		closing:  make(chan struct{}),
		allDone:  make(chan struct{}),
		live:     make(map[uuid.UUID]*job),
		active:   make(map[uuid.UUID]*job),
		samples:  timeline.New[TimelinePoint](timeline.ClassConfig{Cap: MaxTimeline, Every: cfg.resourceInterval}),
		stacksOf: readableStacks,
	}
	r.sched.MaxRunning, r.sched.MaxQueued = cfg.maxRunning, cfg.maxQueued
	if cfg.eventLog != nil {
		sub, err := r.Subscribe()
		if err != nil {
			return nil, err
		}
		r.eventLog = &eventLogger{l: cfg.eventLog, sub: sub, done: make(chan struct{})}
	}
	if cfg.store != nil {
		r.records = &recorder{store: cfg.store, report: func(rec *JobRecord, err error) {
			r.logger().Error("bgjob: adding a job's record to the history store",
				"job_id", rec.ID.String(), "job_name", rec.Name, "error", err)
		}}
	}
	return r, nil
}

// Start starts work in a goroutine of its own under the given name and
// returns at once with its handle; it does not wait for the job. With a
// free worker slot the job is running and alive when Start returns, and
// its info and worker_started events are published. With WithMaxRunning
// jobs already running, the job is queued instead (StateQueued, an
// EventQueued) and starts when its turn comes; with WithMaxQueued jobs
// already queued, Start returns ErrQueueFull.
//
// The job's context carries ctx's values but not its cancellation or
// deadline: a job outlives the request that started it. Cancel it through
// the handle, or by shutting the Runner down. ctx bounds only Start itself,
// which waits while a Lossless subscriber's backlog is full.
//
// Start returns ErrNilContext, ErrNilJob, an error wrapping ErrInvalidName
// or ErrInvalidOption for bad arguments, ErrRunnerClosed after Shutdown,
// and ctx's cause if ctx ends first.
func (r *Runner) Start(ctx context.Context, name string, work Job, opts ...JobOption) (*Handle, error) {
	if ctx == nil {
		return nil, ErrNilContext
	}
	if work == nil {
		return nil, ErrNilJob
	}
	if f, ok := work.(JobFunc); ok && f == nil {
		return nil, ErrNilJob
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	cfg, err := newJobConfig(opts)
	if err != nil {
		return nil, err
	}
	if work, err = r.wrap(work); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if err := r.hub.Admit(ctx, r.closing); err != nil {
		if errors.Is(err, delivery.ErrClosed) {
			return nil, ErrRunnerClosed
		}
		return nil, err
	}
	id, err := newJobID()
	if err != nil {
		return nil, fmt.Errorf("bgjob: making a job id: %w", err)
	}
	j := &job{
		r:          r,
		id:         id,
		name:       strings.Clone(name), // kept for the job's life: not a slice of the caller's
		fn:         work,
		lockThread: cfg.lockThread,
		timeout:    r.cfg.defaultTimeout,
		priority:   cfg.priority,
		done:       make(chan struct{}),
		m:          lifecycle.New(),
	}
	if cfg.hasTimeout {
		j.timeout = cfg.timeout
	}
	hexUUID(&j.idText, id)
	j.parent = detachedContext{Context: ctx, j: j}
	j.ctx, j.cancel = context.WithCancelCause(&j.parent)
	j.handle.j = j
	j.progress.j = j
	j.fresh = j.first[:]
	j.commitLocked() // no one else sees j yet

	// The job's lock is held from before it can leave the queue until its
	// first events are published, so that nothing can overtake info.
	j.mu.Lock()
	defer j.mu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		j.cancel(nil)
		return nil, ErrRunnerClosed
	}
	run, err := r.sched.Admit(&j.ticket, j, cfg.priority)
	if err != nil {
		r.mu.Unlock()
		j.cancel(nil)
		return nil, ErrQueueFull
	}
	r.nextWorkerID++
	j.workerID = r.nextWorkerID
	j.holdsSlot = run
	r.live[id] = j
	r.livePeak = max(r.livePeak, len(r.live))
	r.startEventLogLocked()
	position := 0
	if !run {
		position = r.sched.Position(&j.ticket)
	}
	r.mu.Unlock()

	now := time.Now()
	if !run {
		j.cur.queuedAt = now
		j.commitLocked()
		if j.observedLocked() {
			j.publishNewLocked(EventInfo, now)
			ev := j.eventLocked(EventQueued, now)
			ev.QueuePosition = position
			j.publishLocked(&ev)
		}
		return &j.handle, nil
	}
	j.dispatchLocked(true)
	return &j.handle, nil
}

// ids draws job ids from crypto/rand through a buffer, so that a job id
// costs a copy rather than a system call (uuid.EnableRandPool does the
// same, but for the whole program; a library should not change that), and
// no allocation.
var ids struct {
	mu   sync.Mutex
	buf  [16 * 256]byte
	next int // bytes of buf used; len(buf) when it must be refilled
}

func init() { ids.next = len(ids.buf) }

// newJobID returns a random (version 4) UUID.
func newJobID() (id uuid.UUID, err error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.next == len(ids.buf) {
		if _, err := rand.Read(ids.buf[:]); err != nil {
			return uuid.Nil, err
		}
		ids.next = 0
	}
	ids.next += copy(id[:], ids.buf[ids.next:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant RFC 9562
	return id, nil
}

// record hands the job's record to the history store. It is a function of
// its own, never inlined, so that remember's frame, on every job's
// goroutine, does not hold a record: a job's goroutine starts with a small
// stack, and outgrowing it costs a copy of the whole stack.
//
//go:noinline
func (r *Runner) record(j *job) { r.records.add(j.record()) }

// wrap applies the Runner's middleware to work, the first outermost.
func (r *Runner) wrap(work Job) (Job, error) {
	for i := len(r.cfg.middleware) - 1; i >= 0; i-- {
		if work = r.cfg.middleware[i](work); work == nil {
			return nil, fmt.Errorf("%w: a middleware returned no job", ErrNilJob)
		}
	}
	return work, nil
}

// detachedContext is the parent of a job's context: it carries the values
// of the context given to Start, and the job, but not its cancellation or
// deadline (as context.WithoutCancel, then context.WithValue, in one value
// kept in the job).
type detachedContext struct {
	context.Context
	j *job
}

func (c *detachedContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *detachedContext) Done() <-chan struct{}       { return nil }
func (c *detachedContext) Err() error                  { return nil }

func (c *detachedContext) Value(key any) any {
	if key == (jobKey{}) {
		return c.j
	}
	return c.Context.Value(key)
}

func (c *detachedContext) String() string { return "bgjob.detachedContext" }

// readableStacks captures the stacks of the goroutines that carry the
// label key with each value in want, as function and file:line, without
// the frames of the Runner's own that every job's goroutine has below the
// job (Handle.Stacks keeps them).
func readableStacks(key string, want map[string]bool) (map[string]string, error) {
	groups, err := stacks.ByLabel(key, want)
	for v, text := range groups {
		groups[v] = stacks.Readable(text, runnerFrame)
	}
	return groups, err
}

// runnerFrame reports whether fn is a function of this package's, or the
// pprof.Do that runs a job under its labels.
func runnerFrame(fn string) bool {
	return strings.HasPrefix(fn, "github.com/bgjob/bgjob.") || fn == "runtime/pprof.Do"
}

// validName reports why name cannot name a job, if it cannot.
func validName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidName, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	for _, c := range name {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: control character %U", ErrInvalidName, c)
		}
	}
	return nil
}

// Job returns the handle of the job with the given id: a live job, or a
// finished one the Runner still keeps in memory (see WithHistoryLimit). It
// returns ErrUnknownJob otherwise. It is how code that knows jobs by id —
// a dashboard — reads and steers them.
func (r *Runner) Job(id uuid.UUID) (*Handle, error) {
	j, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	return &j.handle, nil
}

// lookup finds the job with the given id, live or recently finished.
func (r *Runner) lookup(id uuid.UUID) (*job, error) {
	r.mu.Lock()
	j, ok := r.live[id]
	r.mu.Unlock()
	if ok {
		return j, nil
	}
	if j, ok := r.recent.Get(id); ok {
		return j, nil
	}
	return nil, ErrUnknownJob
}

// GetStatus returns a snapshot of the Runner and its live jobs, oldest
// first. Its cost grows with the live jobs, not with the history.
func (r *Runner) GetStatus() RunnerStatus {
	r.mu.Lock()
	jobs := r.liveJobsLocked()
	finished, totals := r.finished, r.totals
	st := RunnerStatus{
		ProcessID: r.pid,
		Counts:    make(map[State]int),
		Jobs:      make([]JobStatus, len(jobs)),
		Closed:    r.closed,
		Resources: r.resources,
	}
	r.mu.Unlock()
	for i, j := range jobs {
		st.Jobs[i] = j.status()
		// A listed job that has just ended is not in finished yet (both
		// were copied under r.mu, and forget moves a job from one to the
		// other under it): counted here by its state, each job is counted
		// once, and no count ever steps back.
		st.Counts[st.Jobs[i].State]++
		st.AnyRunning = st.AnyRunning || st.Jobs[i].Running()
	}
	st.Totals = make(map[State]RunTotals)
	for s, n := range finished {
		if n > 0 {
			st.Counts[State(s)] += n
			st.Totals[State(s)] = totals[s]
		}
	}
	if r.records != nil {
		st.History = r.records.status()
	}
	return st
}

// liveJobsLocked returns the live jobs, oldest first.
func (r *Runner) liveJobsLocked() []*job {
	jobs := slices.Collect(maps.Values(r.live))
	slices.SortFunc(jobs, func(a, b *job) int { return int(a.workerID - b.workerID) })
	return jobs
}

// unqueue takes a job canceled while queued out of the queue. If a
// dispatcher took it out first, that dispatcher gives its slot back.
func (r *Runner) unqueue(j *job) {
	r.mu.Lock()
	r.sched.Remove(&j.ticket)
	r.mu.Unlock()
}

// activate adds a job that got its worker to the jobs the progress loop
// visits, and starts the loop unless it runs.
func (r *Runner) activate(j *job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[j.id] = j
	if r.loopStop == nil && !r.finalized {
		r.loopStop = make(chan struct{})
		r.loopDone.Add(1)
		go r.progressLoop(r.loopStop)
	}
}

// retire moves a job that has ended from the live set to the history, and
// gives its worker slot to the next queued job.
func (r *Runner) retire(j *job) {
	r.remember(j)
	r.forget(j)
}

// remember hands a finished job to the history: into the history before
// out of the live set (forget), so that the job can be found all along.
// It is apart from forget so that its callers' frames are not on the
// stack below the history's own: a job's goroutine, which retires it,
// starts with a small stack, and outgrowing it costs a copy of the whole
// stack (25% of a short job's CPU when the two were one function).
func (r *Runner) remember(j *job) {
	if r.records != nil {
		r.record(j)
	}
	r.recent.Add(j.id, j)
}

// forget takes a finished job out of the live set, counts it, and gives
// its worker slot to the next job waiting.
func (r *Runner) forget(j *job) {
	snap := j.snap.Load()
	state := snap.state
	r.mu.Lock()
	delete(r.live, j.id)
	delete(r.active, j.id)
	r.shrinkLocked()
	r.finished[state]++
	r.totals[state].add(snap)
	if j.abandoned {
		r.abandoned--
	}
	next := r.releaseLocked(j)
	finalize := r.finalizeIfDoneLocked()
	r.mu.Unlock()
	r.dispatch(next)
	if finalize {
		r.hub.Finish()
	}
}

// releaseLocked gives back j's worker slot, if it holds one, and returns
// the queued jobs that now get a slot.
func (r *Runner) releaseLocked(j *job) []*job {
	if !j.holdsSlot {
		return nil
	}
	j.holdsSlot = false
	next := r.sched.Release()
	for _, n := range next {
		n.holdsSlot = true
	}
	return next
}

// dispatch starts the jobs that got a worker slot. A job canceled on its
// way out of the queue gives its slot to the next one.
func (r *Runner) dispatch(next []*job) {
	for len(next) > 0 {
		j := next[0]
		next = next[1:]
		j.mu.Lock()
		ok := j.dispatchLocked(false)
		j.mu.Unlock()
		if !ok {
			r.mu.Lock()
			next = append(next, r.releaseLocked(j)...)
			r.mu.Unlock()
		}
	}
}

// abandon records that a live job was abandoned: Shutdown no longer waits
// for it, and its worker slot goes to the next queued job, since the limit
// counts the jobs the Runner still answers for.
func (r *Runner) abandon(j *job) {
	r.mu.Lock()
	if _, live := r.live[j.id]; !live || j.abandoned {
		r.mu.Unlock() // it returned meanwhile, and retired as a normal job
		return
	}
	j.abandoned = true
	r.abandoned++
	next := r.releaseLocked(j)
	finalize := r.finalizeIfDoneLocked()
	r.mu.Unlock()
	r.dispatch(next)
	if finalize {
		r.hub.Finish()
	}
}

// shrinkLocked lets the maps of live jobs give their memory back after a
// burst: Go's maps never shrink (and maps.Clone keeps the size), so a map
// a quarter full of its peak is copied, entry by entry, into a new one.
func (r *Runner) shrinkLocked() {
	const keep = 1024
	if r.livePeak > keep && len(r.live) < r.livePeak/4 {
		r.live, r.active = rebuilt(r.live), rebuilt(r.active)
		r.livePeak = len(r.live)
	}
}

func rebuilt(m map[uuid.UUID]*job) map[uuid.UUID]*job {
	out := make(map[uuid.UUID]*job, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// finalizeIfDoneLocked finalizes a closed Runner once no job it waits for
// is live (abandoned jobs are not waited for): it stops the progress loop
// and reports true, once, when the caller must finish the hub — after
// letting go of the lock — so that every subscription closes its channel
// after its last event. Events an abandoned job publishes after this are
// not delivered.
func (r *Runner) finalizeIfDoneLocked() bool {
	if !r.closed || r.finalized || len(r.live)-r.abandoned > 0 {
		return false
	}
	r.finalized = true
	close(r.allDone)
	r.workers.close()
	if r.loopStop != nil {
		close(r.loopStop)
		r.loopStop = nil
	}
	return true
}

// Shutdown stops the Runner: Start and Subscribe fail with
// ErrRunnerClosed from now on, and Shutdown waits for the running and
// queued jobs to end (queued jobs still get their turn, paused jobs keep
// it waiting until resumed), but not for abandoned ones (see
// WithCancelGrace), then for the history store to take the last records.
// If ctx ends first, Shutdown cancels the jobs still live, queued ones
// first, with ErrShutdown as their context's cause, and returns a
// *ShutdownError naming those that had not stopped and counting the
// records the store had not taken (it unwraps to ctx's error); those jobs
// then end on their own time and report it through events as usual.
//
// Every event channel is closed after its last event, once all jobs have
// ended. Shutdown may be called more than once, each call waiting as the
// first does; the Runner cannot be started again. A nil ctx returns
// ErrNilContext.
func (r *Runner) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	r.mu.Lock()
	finalize := false
	if !r.closed {
		r.closed = true
		close(r.closing)
		finalize = r.finalizeIfDoneLocked()
	}
	r.mu.Unlock()
	if finalize {
		r.hub.Finish()
	}

	select {
	case <-r.allDone:
		return r.waitRecords(ctx)
	case <-ctx.Done():
	}

	// Cancel the queued jobs first, so that canceling a running one does
	// not let a queued one start.
	r.mu.Lock()
	queued := r.sched.Drain()
	r.mu.Unlock()
	for _, j := range queued {
		_ = j.cancelWith(ErrShutdown)
	}
	r.mu.Lock()
	jobs := r.liveJobsLocked()
	r.mu.Unlock()
	var stuck []JobStatus
	for _, j := range jobs {
		_ = j.cancelWith(ErrShutdown) // ErrJobDone: it ended meanwhile
		if st := j.status(); st.State != StateAbandoned && (st.Alive || !st.State.Terminal()) {
			stuck = append(stuck, st)
		}
	}
	if len(stuck) == 0 {
		// Every job it waits for has returned; the last ones are retiring,
		// which waits for nothing outside the Runner.
		<-r.allDone
		return r.waitRecords(ctx)
	}
	return &ShutdownError{Err: ctx.Err(), Jobs: stuck, PendingRecords: r.pendingRecords()}
}

// waitRecords waits, as long as ctx allows, for the user's code that the
// Runner feeds on goroutines of its own — the event log's handler, the
// history store — and for the Runner's other goroutines.
func (r *Runner) waitRecords(ctx context.Context) error {
	r.loopDone.Wait() // the loop and captures end promptly once stopped
	if done := r.eventLogDone(); done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return &ShutdownError{Err: ctx.Err(), PendingRecords: r.pendingRecords()}
		}
	}
	if r.records == nil {
		return nil
	}
	select {
	case <-r.records.idleChan():
		return nil
	case <-ctx.Done():
		return &ShutdownError{Err: ctx.Err(), PendingRecords: r.pendingRecords()}
	}
}

func (r *Runner) pendingRecords() int {
	if r.records == nil {
		return 0
	}
	return r.records.status().Pending
}

// logger returns where the Runner reports its own troubles.
func (r *Runner) logger() *slog.Logger {
	if r.cfg.logger != nil {
		return r.cfg.logger
	}
	return slog.Default()
}
