package bgjob

import (
	"context"
	"runtime/pprof"
	"slices"
	"sync"
	"time"
)

// A job's goroutine, once its job has retired, waits a moment for the
// next job instead of ending: starting a goroutine costs more than handing
// a job to one that waits, and a new goroutine starts with a small stack
// that the end of every job outgrows (the stack is then copied whole),
// while one that ran a job before has the room already.
//
// The workers that wait are bounded in number (maxIdleWorkers) and in time
// (idleWorkerTimeout: no longer than the progress loop outlives the last
// job, so that a Runner at rest holds no goroutine after a tenth of a
// second, and a leak check in a test that never shuts it down finds
// none), and end when the Runner is finalized.
//
// A job's goroutine is its own while the job runs and belongs to the
// Runner after: a job that locks its OS thread with runtime.LockOSThread
// and returns without unlocking it would leave that thread, and whatever
// it changed on it, to the jobs after it, so such a job is started with
// the LockOSThread option, whose goroutine ends with the job.
const (
	maxIdleWorkers    = 32
	idleWorkerTimeout = 100 * time.Millisecond
)

// workerPool is the Runner's idle workers. Its lock is a leaf: nothing is
// locked while it is held.
//
// Each worker has a timer of its own (time.AfterFunc), made by the worker,
// so that its callback runs where the worker does (a timer or a channel
// made in a synctest bubble must not be used from outside it). Waiting
// costs a worker no timer operation: the timer, armed at the worker's
// first wait, is left to fire; when it does, it ends the worker if it has
// been idle for idleWorkerTimeout, arms itself again for the rest of the
// worker's idle time if it has been idle for less, and disarms itself if
// the worker is running a job, for its next wait to arm again.
type workerPool struct {
	mu     sync.Mutex
	idle   []*worker // the most recently idle last: its stack is the warmest
	alive  int       // worker goroutines, running a job or idle
	closed bool
}

// worker is one goroutine that runs jobs one after another.
type worker struct {
	next chan *job // the next job; nil to end
	// bubbled tells that the worker runs in a synctest bubble: it takes
	// jobs started in one only, and its goroutine and channel are the
	// bubble's, which no goroutine outside may use.
	bubbled bool
	timer   *time.Timer

	// Guarded by the pool's lock.
	idleSince time.Time
	armed     bool // the timer will fire
	ended     bool // the goroutine has ended or is ending
}

// inBubble reports whether now, just read from time.Now, was read in a
// synctest bubble, whose clock has no monotonic reading.
func inBubble(now time.Time) bool { return now == now.Round(0) }

// hand gives j to an idle worker, and reports false when none waits that
// may take it: one in a synctest bubble if and only if the caller, whose
// time.Now is now, is in one. (A Runner is used in one bubble at a time,
// and a bubble does not end while its goroutines wait, so every bubbled
// worker waiting is of the caller's bubble.)
func (p *workerPool) hand(j *job, now time.Time) bool {
	bubbled := inBubble(now)
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if w := p.idle[i]; w.bubbled == bubbled {
			p.idle = slices.Delete(p.idle, i, i+1)
			p.mu.Unlock()
			w.next <- j // buffered: the worker takes it whenever it wakes
			return true
		}
	}
	p.mu.Unlock()
	return false
}

// close ends the idle workers, and keeps workers from waiting from now
// on.
func (p *workerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for i, w := range p.idle {
		p.endLocked(w)
		p.idle[i] = nil
	}
	p.idle = nil
}

// endLocked tells w, taken from the idle list, to end.
func (p *workerPool) endLocked(w *worker) {
	w.ended = true
	w.next <- nil
}

// work is a worker's goroutine: it runs j, then the jobs it is handed
// while it waits, and ends when none comes in time. A job that called
// runtime.Goexit ends its goroutine with it (run never returns here).
func (p *workerPool) work(j *job) {
	p.mu.Lock()
	p.alive++
	p.mu.Unlock()
	var w *worker // made when it first waits: a job that runs long costs none
	defer func() {
		p.mu.Lock()
		p.alive--
		if w != nil {
			w.ended = true
		}
		p.mu.Unlock()
		if w != nil && w.timer != nil {
			w.timer.Stop()
		}
	}()
	for j != nil {
		j.run(nil)
		if w == nil {
			if !p.room() {
				return // after a burst, most workers end: spare making them
			}
			w = &worker{next: make(chan *job, 1)}
		}
		j = p.wait(w)
	}
}

// room reports whether a worker may wait now. wait looks again: this is
// only so that a worker about to end makes nothing first.
func (p *workerPool) room() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && len(p.idle) < maxIdleWorkers
}

// wait makes w idle and returns the job it is handed, or nil when it
// should end instead: the Runner was finalized, enough workers wait
// already, or none came within idleWorkerTimeout.
func (p *workerPool) wait(w *worker) *job {
	// The previous job's goroutine labels (restored by pprof.Do to those
	// of the context Start was given) do not belong to a worker at rest.
	pprof.SetGoroutineLabels(context.Background())
	now := time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleWorkers {
		p.mu.Unlock()
		return nil
	}
	w.idleSince = now
	p.idle = append(p.idle, w)
	if !w.armed {
		w.armed = true
		if w.timer == nil {
			w.bubbled = inBubble(now)
			w.timer = time.AfterFunc(idleWorkerTimeout, func() { p.expire(w) })
		} else {
			w.timer.Reset(idleWorkerTimeout)
		}
	}
	p.mu.Unlock()
	return <-w.next
}

// expire is w's timer firing: it ends w if w has been idle for
// idleWorkerTimeout, and otherwise arms the timer for the rest of w's idle
// time, or leaves it for w's next wait to arm if w is running a job.
func (p *workerPool) expire(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.ended {
		w.armed = false
		return
	}
	i := slices.Index(p.idle, w)
	if i < 0 {
		w.armed = false // running a job
		return
	}
	if idle := time.Since(w.idleSince); idle < idleWorkerTimeout {
		w.timer.Reset(idleWorkerTimeout - idle)
		return
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.endLocked(w)
}
