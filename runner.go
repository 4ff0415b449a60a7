package bgjob

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Runner runs jobs in the background, each in its own goroutine, publishes
// their events to subscribers and keeps their status.
//
// Make one with NewRunner; the zero value is not usable. All methods are
// safe for concurrent use. A Runner starts no goroutine until a job starts:
// each job has its goroutine, which ends when the job returns; while jobs
// are live, one more goroutine publishes their progress at the progress
// interval; a subscription whose reader falls behind has one goroutine
// feeding its channel until it catches up or is closed.
//
// Call Shutdown when done: it waits for running jobs and closes every
// event channel after its last event.
type Runner struct {
	cfg runnerConfig
	pid int

	// closing is closed when Shutdown is first called; allDone when, after
	// that, the last live job has retired.
	closing  chan struct{}
	allDone  chan struct{}
	loopDone sync.WaitGroup // the progress loop

	mu           sync.Mutex // guards the fields below
	closed       bool
	live         map[uuid.UUID]*job
	history      History
	finished     [len(stateNames)]int // finished jobs by final state, over the Runner's life
	nextWorkerID int64
	order        uint64
	queue        jobQueue // jobs waiting for a worker
	running      int      // jobs given a worker and not yet retired
	abandoned    int      // live jobs abandoned after a cancel (see WithCancelGrace)
	finalized    bool
	loopStop     chan struct{} // non-nil while the progress loop runs
	resources    Resources     // the last sample (see WithResourceInterval)
	samples      timeline      // resource samples, shared by the jobs' timelines
	events       *Subscription // behind Events, made on first use

	// publishMu orders all events: a sequence number is taken and the
	// event queued for every subscriber under it, so every subscriber sees
	// the same order and a lagged range is exact.
	publishMu sync.Mutex
	seq       uint64
	subs      []*Subscription

	lossless  atomic.Int32 // number of lossless subscriptions
	listeners atomic.Int32 // number of subscriptions
	admission admission
}

// NewRunner returns a Runner configured by opts. It returns an error
// wrapping ErrInvalidOption when an option is out of range.
func NewRunner(opts ...Option) (*Runner, error) {
	cfg, err := newRunnerConfig(opts)
	if err != nil {
		return nil, err
	}
	history := cfg.history
	if history == nil {
		history = newMemoryHistory(cfg.historyLimit)
	}
	return &Runner{
		history: history,
		cfg:     cfg,
		pid:     os.Getpid(),
		closing: make(chan struct{}),
		allDone: make(chan struct{}),
		live:    make(map[uuid.UUID]*job),
	}, nil
}

// Start starts work in a new goroutine under the given name and returns at
// once with its handle; it does not wait for the job. With WithMaxRunning
// jobs already running, the job is queued instead (StateQueued, an
// EventQueued) and starts when its turn comes; with WithMaxQueued jobs
// already queued, Start returns ErrQueueFull.
//
// The job's context carries ctx's values but not its cancellation or
// deadline: a job outlives the request that started it. Cancel it through
// the handle, or by shutting the Runner down. ctx bounds only Start itself,
// which waits while a Lossless subscriber's backlog is full.
//
// Start returns ErrNilJob, an error wrapping ErrInvalidName or
// ErrInvalidOption for bad arguments, ErrRunnerClosed after Shutdown, and
// ctx's cause if ctx ends first.
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
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if err := r.admit(ctx); err != nil {
		return nil, err
	}
	id, err := newJobID()
	if err != nil {
		return nil, fmt.Errorf("bgjob: making a job id: %w", err)
	}
	j := &job{
		r:          r,
		id:         id,
		name:       name,
		fn:         work,
		lockThread: cfg.lockThread,
		timeout:    r.cfg.defaultTimeout,
		priority:   cfg.priority,
		done:       make(chan struct{}),
		queueIndex: -1,
		state:      StateQueued,
	}
	if cfg.hasTimeout {
		j.timeout = cfg.timeout
	}
	j.ctx, j.cancel = context.WithCancelCause(context.WithValue(context.WithoutCancel(ctx), jobKey{}, j))
	cancel := j.cancel
	j.handle.j = j
	j.progress.j = j

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel(nil)
		return nil, ErrRunnerClosed
	}
	queued := r.cfg.maxRunning > 0 && r.running >= r.cfg.maxRunning
	if queued && r.cfg.maxQueued > 0 && r.queue.len() >= r.cfg.maxQueued {
		r.mu.Unlock()
		cancel(nil)
		return nil, ErrQueueFull
	}
	r.nextWorkerID++
	r.order++
	j.workerID, j.order = r.nextWorkerID, r.order
	position := 0
	if queued {
		j.queuedAt = time.Now()
		r.queue.add(j)
		position = r.queue.position(j)
	} else {
		r.running++
		j.dispatched = true
	}
	r.live[id] = j
	r.startProgressLoopLocked()
	// Hold the job's publishing lock before it can leave the queue, so that
	// its worker_started (or a cancel's complete) cannot overtake info.
	j.publishMu.Lock()
	r.mu.Unlock()

	if r.observed() {
		j.mu.Lock()
		now := time.Now()
		info := j.eventLocked(EventInfo, now)
		var queuedEv *Event
		if queued {
			queuedEv = j.eventLocked(EventQueued, now)
			queuedEv.QueuePosition = position
		}
		j.mu.Unlock()
		r.publish(info)
		if queuedEv != nil {
			r.publish(queuedEv)
		}
	}
	j.publishMu.Unlock()

	if !queued {
		go j.run()
	}
	return &j.handle, nil
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

// Events returns the channel of the Runner's default subscription, made on
// the first call with the options given to WithEvents (by default: lagging,
// DefaultBuffer, DefaultBacklog). Events published before the first call are
// not delivered to it, and a program that never calls Events pays nothing
// for it. Every call returns the same channel. The Runner closes it after
// Shutdown, once every job has ended and its last event has been received;
// called for the first time after Shutdown, Events returns a closed channel.
// A reader that stops reading before the channel is closed must call
// CloseEvents, as it would Subscription.Close.
func (r *Runner) Events() <-chan Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events == nil {
		cfg, _ := newSubscriptionConfig(r.cfg.events) // checked by NewRunner
		r.events = newSubscription(r, cfg)
		if r.closed {
			r.events.sink.Finish()
		} else {
			r.addSubscriptionLocked(r.events)
		}
	}
	return r.events.Events()
}

// CloseEvents ends the default subscription (see Events and
// Subscription.Close): events still queued are discarded and the channel
// is closed. It is a no-op if Events was never called.
func (r *Runner) CloseEvents() {
	r.mu.Lock()
	s := r.events
	r.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// Subscribe adds a subscriber that receives every event published from
// now on (see Subscription). It returns an error wrapping ErrInvalidOption
// for a bad option and ErrRunnerClosed after Shutdown.
func (r *Runner) Subscribe(opts ...SubscribeOption) (*Subscription, error) {
	cfg, err := newSubscriptionConfig(opts)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrRunnerClosed
	}
	s := newSubscription(r, cfg)
	r.addSubscriptionLocked(s)
	return s, nil
}

func (r *Runner) addSubscriptionLocked(s *Subscription) {
	r.publishMu.Lock()
	r.subs = append(r.subs, s)
	r.listeners.Store(int32(len(r.subs)))
	r.publishMu.Unlock()
	if s.policy == Lossless {
		r.lossless.Add(1)
	}
}

func (r *Runner) unsubscribe(s *Subscription) {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	i := slices.Index(r.subs, s)
	if i < 0 {
		return
	}
	r.subs = slices.Delete(r.subs, i, i+1)
	r.listeners.Store(int32(len(r.subs)))
	if s.policy == Lossless {
		r.lossless.Add(-1)
		r.admission.signal() // a Start waiting on s can go on
	}
}

// observed reports whether anyone subscribes, so that a Runner nobody
// listens to does not build events. A subscription made while an event is
// being decided on may miss it, as it misses everything published before
// it was made.
func (r *Runner) observed() bool { return r.listeners.Load() > 0 }

// publish gives ev its sequence number and queues it for every subscriber.
// It never waits for a reader.
func (r *Runner) publish(ev *Event) {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	r.seq++
	ev.Seq = r.seq
	for _, s := range r.subs {
		switch ev.Type {
		case EventProgress:
			s.sink.PushLatest(ev.JobID, ev.Seq, ev)
		case EventLog:
			s.sink.PushLog(ev.Seq, ev)
		default:
			s.sink.Push(ev.Seq, ev)
		}
	}
}

// admit waits while a lossless subscription's backlog is full.
func (r *Runner) admit(ctx context.Context) error {
	if r.lossless.Load() == 0 {
		return nil
	}
	for {
		// Take the wake-up channel before looking, so that space made
		// between the look and the wait is not missed.
		wake := r.admission.wait()
		if !r.losslessFull() {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-r.closing:
			return ErrRunnerClosed
		}
	}
}

func (r *Runner) losslessFull() bool {
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	for _, s := range r.subs {
		if s.policy == Lossless && s.sink.Full() {
			return true
		}
	}
	return false
}

// admission wakes the Starts waiting for a lossless subscriber.
type admission struct {
	mu sync.Mutex
	ch chan struct{}
}

func (a *admission) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch == nil {
		a.ch = make(chan struct{})
	}
	return a.ch
}

func (a *admission) signal() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch != nil {
		close(a.ch)
		a.ch = nil
	}
}

// startProgressLoopLocked starts the progress loop unless it runs.
func (r *Runner) startProgressLoopLocked() {
	if r.loopStop != nil {
		return
	}
	r.loopStop = make(chan struct{})
	r.loopDone.Add(1)
	go r.progressLoop(r.loopStop)
}

// progressLoop publishes the progress of live jobs at every interval. It
// ends at the first tick that finds no live job, or when stop is closed at
// shutdown, so a Runner with nothing to do has no goroutine.
func (r *Runner) progressLoop(stop <-chan struct{}) {
	defer r.loopDone.Done()
	t := time.NewTicker(r.cfg.progressInterval)
	defer t.Stop()
	var batch []*job
	var lastSample time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		r.mu.Lock()
		if len(r.live) == 0 {
			r.loopStop = nil
			r.mu.Unlock()
			return
		}
		for _, j := range r.live {
			batch = append(batch, j)
		}
		r.mu.Unlock()
		for _, j := range batch {
			j.tick(now)
		}
		if now.Sub(lastSample) >= r.cfg.resourceInterval {
			lastSample = now
			sample := sampleResources()
			r.mu.Lock()
			r.resources = sample
			r.samples.addResources(TimelinePoint{Time: now, Kind: TimelineResources, Resources: &sample}, r.cfg.resourceInterval)
			r.mu.Unlock()
			for _, j := range batch {
				j.recordThreadCPU(now, sample)
			}
		}
		clear(batch) // drop the references so finished jobs can be freed
		batch = batch[:0]
	}
}

// retire moves a job that has ended from the live set to the history, and
// gives its worker slot to the next queued job.
func (r *Runner) retire(j *job) {
	j.mu.Lock()
	state, hadWorker := j.state, j.hasWorker
	run := Run{JobStatus: j.statusLocked(), Logs: j.logsLocked()}
	own, from, to := j.timeline.copy(), j.startTime, j.endTime
	j.mu.Unlock()
	run.Timeline = r.withSamples(own, from, to)

	// Into the history before out of the live set, so that the job can be
	// found all along.
	if err := r.history.Add(run); err != nil {
		r.logger().Error("bgjob: recording a run in the history", "job_id", j.id.String(), "job_name", j.name, "error", err)
	}
	r.mu.Lock()
	delete(r.live, j.id)
	r.finished[state]++
	switch {
	case j.abandoned:
		r.abandoned-- // its slot was given back when it was abandoned
	case hadWorker:
		r.running--
	}
	r.dispatchAndUnlock()
}

// dispatchAndUnlock, called with mu held, hands freed worker slots to
// queued jobs, finalizes the Runner if that is due, and unlocks it: the
// goroutines of the jobs let in start after the lock is let go.
func (r *Runner) dispatchAndUnlock() {
	next := r.dispatchLocked()
	r.finalizeIfDoneLocked()
	r.mu.Unlock()
	for _, j := range next {
		go j.run()
	}
}

// dispatchLocked takes from the queue the jobs that now have a worker slot.
// The caller starts their goroutines once it has let go of the lock.
func (r *Runner) dispatchLocked() []*job {
	var next []*job
	for r.cfg.maxRunning > 0 && r.running < r.cfg.maxRunning && r.queue.len() > 0 {
		j := r.queue.next()
		j.mu.Lock()
		j.dispatched = true
		j.mu.Unlock()
		next = append(next, j)
		r.running++
	}
	return next
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
	r.running--
	r.dispatchAndUnlock()
}

// finalizeIfDoneLocked finalizes a closed Runner once no job it waits for
// is live: abandoned jobs are not waited for.
func (r *Runner) finalizeIfDoneLocked() {
	if r.closed && !r.finalized && len(r.live)-r.abandoned == 0 {
		r.finalizeLocked()
	}
}

// finalizeLocked runs once, when the Runner is closed and no job it waits
// for is live: it stops the progress loop and lets every subscription close
// its channel after its last event. Events an abandoned job publishes after
// this are not delivered.
func (r *Runner) finalizeLocked() {
	r.finalized = true
	close(r.allDone)
	if r.loopStop != nil {
		close(r.loopStop)
		r.loopStop = nil
	}
	r.publishMu.Lock()
	defer r.publishMu.Unlock()
	for _, s := range r.subs {
		s.sink.Finish()
	}
	r.subs = nil
	r.listeners.Store(0)
	r.lossless.Store(0)
}

// Shutdown stops the Runner: Start fails with ErrRunnerClosed from now on,
// and Shutdown waits for the running and queued jobs to end (queued jobs
// still get their turn, paused jobs keep it waiting until resumed), but not
// for abandoned ones (see WithCancelGrace). If ctx ends first,
// Shutdown cancels the jobs still running, with ErrShutdown as their
// context's cause, and returns a *ShutdownError naming them (it unwraps to
// ctx's error); those jobs then end on their own time and report it through
// events as usual.
//
// Every event channel is closed after its last event, once all jobs have
// ended. Shutdown may be called more than once, each call waiting as the
// first does; the Runner cannot be started again.
func (r *Runner) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.closing)
		r.finalizeIfDoneLocked()
	}
	r.mu.Unlock()

	select {
	case <-r.allDone:
		r.loopDone.Wait()
		return nil
	case <-ctx.Done():
	}

	// Cancel the queued jobs first, so that canceling a running one does
	// not let a queued one start.
	r.mu.Lock()
	var queued []*job
	for r.queue.len() > 0 {
		queued = append(queued, r.queue.next())
	}
	r.mu.Unlock()
	for _, j := range queued {
		j.cancelQueued(ErrShutdown)
	}
	r.mu.Lock()
	jobs := r.liveJobsLocked()
	r.mu.Unlock()
	stuck := make([]JobStatus, 0, len(jobs))
	for _, j := range jobs {
		_ = j.requestCancel(ErrShutdown) // ErrJobDone: it ended meanwhile
		st := j.status()
		if st.State != StateAbandoned && (st.Alive || !st.State.Terminal()) {
			stuck = append(stuck, st)
		}
	}
	if len(stuck) == 0 {
		// Every job it waits for has ended; some may still be handing
		// their run to the history, which a slow store can hold up.
		select {
		case <-r.allDone:
			r.loopDone.Wait()
			return nil
		default:
		}
		r.mu.Lock()
		for _, j := range r.liveJobsLocked() {
			if !j.abandoned {
				stuck = append(stuck, j.status())
			}
		}
		r.mu.Unlock()
		if len(stuck) == 0 { // retired meanwhile
			<-r.allDone
			r.loopDone.Wait()
			return nil
		}
	}
	return &ShutdownError{Err: ctx.Err(), Jobs: stuck}
}

// liveJobsLocked returns the live jobs, oldest first.
func (r *Runner) liveJobsLocked() []*job {
	jobs := make([]*job, 0, len(r.live))
	for _, j := range r.live {
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b *job) int { return int(a.workerID - b.workerID) })
	return jobs
}

// GetStatus returns a snapshot of the Runner and its jobs: the live ones,
// oldest first, then the most recently finished ones in its history (at
// most WithHistoryLimit, oldest first).
func (r *Runner) GetStatus() RunnerStatus {
	r.mu.Lock()
	jobs := r.liveJobsLocked()
	finished := r.finished
	closed := r.closed
	resources := r.resources
	r.mu.Unlock()

	st := RunnerStatus{
		ProcessID: r.pid,
		Counts:    make(map[State]int),
		Jobs:      make([]JobStatus, len(jobs)),
		Closed:    closed,
		Resources: resources,
	}
	live := make(map[uuid.UUID]bool, len(jobs))
	for i, j := range jobs {
		j.mu.Lock()
		st.Jobs[i] = j.statusLocked()
		j.mu.Unlock()
		// Finished jobs are counted from finished below, each once.
		st.Counts[st.Jobs[i].State]++
		st.AnyRunning = st.AnyRunning || st.Jobs[i].Running()
		live[j.id] = true
	}
	var recent []JobStatus
	for run := range r.history.Runs() {
		if len(recent) == r.cfg.historyLimit {
			break
		}
		if !live[run.ID] { // a job retiring right now is in both
			recent = append(recent, run.JobStatus)
		}
	}
	slices.Reverse(recent)
	st.Jobs = append(st.Jobs, recent...)
	for s, n := range finished {
		if n > 0 {
			st.Counts[State(s)] += n
		}
	}
	return st
}

// JobStatus returns the status of the job with the given id, live or in
// the history, or ErrUnknownJob.
func (r *Runner) JobStatus(id uuid.UUID) (JobStatus, error) {
	j, run, err := r.lookup(id)
	switch {
	case err != nil:
		return JobStatus{}, err
	case j != nil:
		return j.status(), nil
	default:
		return run.JobStatus, nil
	}
}

// lookup finds the job with the given id among the live jobs, or its run
// in the history. A scan of the history costs less, over a Runner's life,
// than keeping an index up to date at every job's end.
func (r *Runner) lookup(id uuid.UUID) (*job, Run, error) {
	r.mu.Lock()
	j, ok := r.live[id]
	r.mu.Unlock()
	if ok {
		return j, Run{}, nil
	}
	for run := range r.history.Runs() {
		if run.ID == id {
			return nil, run, nil
		}
	}
	return nil, Run{}, ErrUnknownJob
}

// withSamples merges into a job's own timeline points the Runner's resource
// samples taken while it ran, from to to (zero: still running). The
// samples are kept once for all jobs, so that a hundred thousand parked
// jobs do not each keep a copy.
func (r *Runner) withSamples(own []TimelinePoint, from, to time.Time) []TimelinePoint {
	if from.IsZero() {
		return own
	}
	r.mu.Lock()
	// The samples are in time order: find the window, do not scan it.
	points := r.samples.points
	lo, _ := slices.BinarySearchFunc(points, from, func(pt TimelinePoint, t time.Time) int { return pt.Time.Compare(t) })
	hi := len(points)
	if !to.IsZero() {
		hi, _ = slices.BinarySearchFunc(points, to, func(pt TimelinePoint, t time.Time) int {
			if pt.Time.After(t) {
				return 1
			}
			return -1
		})
	}
	var shared []TimelinePoint
	if lo < hi {
		shared = copyPoints(points[lo:hi])
	}
	r.mu.Unlock()
	if len(shared) == 0 {
		return own
	}
	// A job on its own thread has its own samples, with its thread's CPU
	// time, at the same instants: keep those.
	taken := make(map[time.Time]bool)
	for _, pt := range own {
		if pt.Kind == TimelineResources {
			taken[pt.Time] = true
		}
	}
	if len(taken) > 0 {
		shared = slices.DeleteFunc(shared, func(pt TimelinePoint) bool { return taken[pt.Time] })
	}
	merged := make([]TimelinePoint, 0, len(own)+len(shared))
	for len(own) > 0 || len(shared) > 0 {
		if len(shared) == 0 || (len(own) > 0 && !own[0].Time.After(shared[0].Time)) {
			merged, own = append(merged, own[0]), own[1:]
		} else {
			merged, shared = append(merged, shared[0]), shared[1:]
		}
	}
	return merged
}

// logger returns where the Runner reports its own troubles.
func (r *Runner) logger() *slog.Logger {
	if r.cfg.logger != nil {
		return r.cfg.logger
	}
	return slog.Default()
}
