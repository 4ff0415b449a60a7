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
// Each worker keeps its own timer and is the only one to touch it, as
// each of the Runner's goroutines owns its timers (a timer made in a
// synctest bubble must not be touched from outside it). The timer is
// armed once and left armed while the worker runs jobs: waiting costs a
// worker no timer operation, and a timer that fired meanwhile is armed
// again for what is left of the worker's idle time.
type workerPool struct {
	mu     sync.Mutex
	idle   []*worker // the most recently idle last: its stack is the warmest
	alive  int       // worker goroutines, running a job or idle
	closed bool
}

// worker is one goroutine that runs jobs one after another.
type worker struct {
	next      chan *job // the next job; nil to end
	timer     *time.Timer
	idleSince time.Time
	// bubbled tells that the worker runs in a synctest bubble: it takes
	// jobs started in one only, and its goroutine and channel are the
	// bubble's, which no goroutine outside may use.
	bubbled bool
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
		w.next <- nil
		p.idle[i] = nil
	}
	p.idle = nil
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
		if w != nil && w.timer != nil {
			w.timer.Stop()
		}
		p.mu.Lock()
		p.alive--
		p.mu.Unlock()
	}()
	for j != nil {
		j.run(nil)
		if w == nil {
			w = &worker{next: make(chan *job, 1)}
		}
		j = p.wait(w)
	}
}

// wait makes w idle and returns the job it is handed, or nil when it
// should end instead: the Runner was finalized, enough workers wait
// already, or none came within idleWorkerTimeout.
func (p *workerPool) wait(w *worker) *job {
	// The previous job's goroutine labels (restored by pprof.Do to those
	// of the context Start was given) do not belong to a worker at rest.
	pprof.SetGoroutineLabels(context.Background())
	w.idleSince = time.Now()
	if w.timer == nil {
		w.timer = time.NewTimer(idleWorkerTimeout)
		w.bubbled = inBubble(w.idleSince)
	}
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleWorkers {
		p.mu.Unlock()
		return nil
	}
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	for {
		select {
		case j := <-w.next:
			return j
		case <-w.timer.C:
		}
		if idle := time.Since(w.idleSince); idle < idleWorkerTimeout {
			// Armed during an earlier wait: wait out the rest.
			w.timer.Reset(idleWorkerTimeout - idle)
			continue
		}
		p.mu.Lock()
		if i := slices.Index(p.idle, w); i >= 0 {
			p.idle = slices.Delete(p.idle, i, i+1)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		// Someone took w from the list as its time ran out: its job, or
		// the word to end, is on its way.
		return <-w.next
	}
}
