package bgjob

import (
	"time"

	"github.com/google/uuid"
)

// This file holds what callers do to a job while it lives: cancel it,
// pause and resume it, and what the Runner does when a timeout or a grace
// period runs out. docs/design.md draws the state machine these methods
// drive.

// requestCancel cancels the job with cause. A queued job ends here, without
// ever getting a goroutine; a running one has its context canceled and is
// canceling until it returns.
func (j *job) requestCancel(cause error) error {
	r := j.r
	r.mu.Lock()
	if j.queueIndex >= 0 {
		r.queue.remove(j)
		r.mu.Unlock()
		j.cancelQueued(cause)
		return nil
	}
	r.mu.Unlock()

	j.mu.Lock()
	defer j.mu.Unlock()
	if j.hasReturned || j.state.Terminal() {
		return ErrJobDone
	}
	if j.canceled || !j.dispatched {
		// The first cause stands; or another Cancel has just taken the
		// job out of the queue and is ending it.
		return nil
	}
	j.canceled = true
	j.pauseRequested.Store(false) // a checkpoint must not park any more
	j.resume = nil
	if j.state != StateAbandoned {
		j.state = StateCanceling
	}
	j.cancel(cause)
	if j.hasWorker {
		j.startGraceLocked()
	} // else started starts it: a job is not abandoned before it ran
	return nil
}

// startGraceLocked starts the grace period of a canceled job that runs.
func (j *job) startGraceLocked() {
	if grace := j.r.cfg.cancelGrace; grace > 0 && j.graceTimer == nil {
		j.graceTimer = time.AfterFunc(grace, j.abandon)
	}
}

// cancelQueued ends a job taken out of the queue before it ever ran: it
// publishes complete and worker_stopped, in order after info and queued,
// and hands the job to the history.
func (j *job) cancelQueued(cause error) {
	j.publishMu.Lock()
	j.mu.Lock()
	now := time.Now()
	j.canceled = true
	j.hasReturned = true // a later Cancel is told the job is done
	j.endTime = now
	j.queueWait = now.Sub(j.queuedAt)
	j.final = j.readProgressLocked()
	j.state = StateCanceled
	j.err = cause
	var events []*Event
	if j.r.observed() {
		complete := j.eventLocked(EventComplete, now)
		complete.Err, complete.QueueWait = cause, j.queueWait
		events = append(events, complete, j.eventLocked(EventWorkerStopped, now))
	}
	j.mu.Unlock()
	for _, ev := range events {
		j.r.publish(ev)
	}
	j.publishMu.Unlock()
	j.cancel(cause) // release the context's resources
	j.r.retire(j)
	close(j.done)
}

// abandon runs when a canceled job has not returned within the grace
// period: the job is reported abandoned and Shutdown stops waiting for it.
func (j *job) abandon() {
	j.publishMu.Lock()
	j.mu.Lock()
	if j.state != StateCanceling || j.hasReturned || !j.hasWorker {
		j.mu.Unlock()
		j.publishMu.Unlock()
		return
	}
	j.state = StateAbandoned
	var ev *Event
	if j.r.observed() {
		ev = j.eventLocked(EventAbandoned, time.Now())
		ev.Message = "still running " + FormatDuration(j.r.cfg.cancelGrace) + " after it was canceled"
	}
	j.mu.Unlock()
	if ev != nil {
		j.r.publish(ev)
	}
	j.publishMu.Unlock()
	j.r.abandon(j)
}

// requestPause asks a running job to park at its next checkpoint.
func (j *job) requestPause() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.hasReturned {
		return ErrNotRunning
	}
	switch {
	case j.state == StateRunning, j.state == StateQueued && j.dispatched:
		// A dispatched job's goroutine may not have run yet: it will
		// start pausing.
		j.state = StatePausing
	case j.state == StatePausing, j.state == StatePaused:
		// Asked again, or asked while a resume has not yet woken the job.
	default:
		return ErrNotRunning
	}
	if j.resume == nil {
		j.resume = make(chan struct{})
	}
	j.pauseRequested.Store(true)
	return nil
}

// requestResume lets a paused job go on, or withdraws a pause request the
// job has not reached a checkpoint for yet.
func (j *job) requestResume() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.hasReturned {
		return ErrNotRunning
	}
	switch j.state {
	case StatePausing:
		j.state = StateRunning
		if !j.hasWorker {
			j.state = StateQueued // dispatched, its goroutine not yet running
		}
	case StatePaused:
		// The parked checkpoint wakes, turns the job running again and
		// publishes resumed.
	case StateRunning:
		return ErrNotPaused
	case StateQueued:
		if j.dispatched {
			return ErrNotPaused
		}
		return ErrNotRunning
	default:
		return ErrNotRunning
	}
	j.pauseRequested.Store(false)
	if j.resume != nil {
		close(j.resume)
		j.resume = nil
	}
	return nil
}

// Checkpoint marks a safe point in the job, such as the end of a batch or
// an epoch. If a pause was requested (Handle.Pause), it parks the calling
// goroutine until Resume or cancellation, and the job reads as paused
// meanwhile; other goroutines of the job that reach a checkpoint while it
// is paused park too. It returns the context's error once the job has been
// canceled, nil otherwise, so a loop can stop on it:
//
//	if err := p.Checkpoint(); err != nil {
//		return err
//	}
//
// When no pause is requested it costs one atomic load and a look at the
// context.
func (p *Progress) Checkpoint() error {
	j := p.j
	if j.pauseRequested.Load() {
		j.park()
	}
	select {
	case <-j.ctx.Done():
		return j.ctx.Err()
	default:
		return nil
	}
}

// park waits at a checkpoint while the job is asked to pause.
func (j *job) park() {
	j.publishMu.Lock()
	j.mu.Lock()
	wake := j.resume
	switch {
	case wake == nil || !j.state.working() || j.hasReturned:
		// Resumed or canceled meanwhile.
		j.mu.Unlock()
		j.publishMu.Unlock()
		return
	case j.state == StatePaused:
		// Another goroutine of the job parked first; wait with it.
		j.mu.Unlock()
		j.publishMu.Unlock()
		j.wait(wake)
		return
	}
	now := time.Now()
	j.state = StatePaused
	j.pausedSince = now
	p := j.readProgressLocked()
	j.timeline.add(TimelinePoint{Time: now, Kind: TimelinePaused, Percent: p.percent, Step: p.step})
	var ev *Event
	if j.r.observed() {
		ev = j.eventLocked(EventPaused, now)
	}
	j.mu.Unlock()
	if ev != nil {
		j.r.publish(ev)
	}
	j.publishMu.Unlock()

	j.wait(wake)

	j.publishMu.Lock()
	defer j.publishMu.Unlock()
	j.mu.Lock()
	if j.pausedSince.IsZero() {
		// The job ended while this goroutine was parked, and the pause
		// was closed then.
		j.mu.Unlock()
		return
	}
	now = time.Now()
	pause := now.Sub(j.pausedSince)
	j.pausedTotal += pause
	j.pausedSince = time.Time{}
	j.lastChange = now // time paused is not time stalled
	ev = nil
	if j.state == StatePaused { // resumed, not canceled
		j.state = StateRunning
		if j.pauseRequested.Load() {
			j.state = StatePausing // paused again before it woke
		}
		p := j.readProgressLocked()
		j.timeline.add(TimelinePoint{Time: now, Kind: TimelineResumed, Percent: p.percent, Step: p.step})
		if j.r.observed() {
			ev = j.eventLocked(EventResumed, now)
			ev.Paused = pause
		}
	}
	j.mu.Unlock()
	if ev != nil {
		j.r.publish(ev)
	}
}

// wait blocks until wake is closed or the job is canceled.
func (j *job) wait(wake <-chan struct{}) {
	select {
	case <-wake:
	case <-j.ctx.Done():
	}
}

func stopTimers(timers ...*time.Timer) {
	for _, t := range timers {
		if t != nil {
			t.Stop()
		}
	}
}

// Pause asks the job to pause at its next checkpoint (Progress.Checkpoint).
// A paused job keeps Shutdown waiting until it is resumed, or canceled when
// Shutdown's context ends.
// Until it gets there its state is StatePausing — it still uses CPU — and
// then StatePaused, with an EventPaused. Pausing is cooperative: a job that
// never calls Checkpoint never pauses. Pausing a pausing or paused job is a
// no-op; a job waiting in the queue, canceling or finished returns
// ErrNotRunning. A job just started, whose goroutine has not run yet, can
// be paused: it starts pausing.
func (h *Handle) Pause() error { return h.j.requestPause() }

// Resume lets a paused job go on (it publishes EventResumed as it leaves
// its checkpoint), or withdraws a pause the job has not reached a
// checkpoint for yet. Resuming a job that was not asked to pause returns
// ErrNotPaused; a queued, canceling or finished job returns ErrNotRunning.
func (h *Handle) Resume() error { return h.j.requestResume() }

// Cancel cancels the job with the given id, like Handle.Cancel, for code
// that knows jobs by id (a dashboard). It returns ErrUnknownJob for an id
// the Runner does not know or no longer remembers, and ErrJobDone for a
// job in its history.
func (r *Runner) Cancel(id uuid.UUID, cause error) error {
	j, err := r.liveJob(id, ErrJobDone)
	if err != nil {
		return err
	}
	return j.handle.Cancel(cause)
}

// Pause pauses the job with the given id, like Handle.Pause; it returns
// ErrNotRunning for a job in the history.
func (r *Runner) Pause(id uuid.UUID) error {
	j, err := r.liveJob(id, ErrNotRunning)
	if err != nil {
		return err
	}
	return j.handle.Pause()
}

// Resume resumes the job with the given id, like Handle.Resume; it returns
// ErrNotRunning for a job in the history.
func (r *Runner) Resume(id uuid.UUID) error {
	j, err := r.liveJob(id, ErrNotRunning)
	if err != nil {
		return err
	}
	return j.handle.Resume()
}

// liveJob returns the live job with the given id; for a job in the
// history it returns ended, and ErrUnknownJob for an id it does not know.
func (r *Runner) liveJob(id uuid.UUID, ended error) (*job, error) {
	j, _, err := r.lookup(id)
	switch {
	case err != nil:
		return nil, err
	case j == nil:
		return nil, ended
	}
	return j, nil
}
