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
// (idleWorkerTimeout), and end when the Runner is finalized, so that a
// Runner at rest holds no goroutine for long, and one shut down none.
const (
	maxIdleWorkers    = 32
	idleWorkerTimeout = time.Second
)

// workerPool is the Runner's idle workers. Its lock is a leaf: nothing is
// locked while it is held.
//
// An idle worker waits on its channel alone, which costs nothing to arm:
// one timer for the whole pool (reaper), armed while any worker is idle,
// ends those idle for longer than idleWorkerTimeout.
type workerPool struct {
	mu      sync.Mutex
	idle    []*worker // oldest idle first; the newest, last, has the warmest stack
	alive   int       // worker goroutines, running a job or idle
	reaper  *time.Timer
	reaping bool // reaper is armed
	closed  bool
}

// worker is one goroutine that runs jobs one after another.
type worker struct {
	next      chan *job // the next job; nil to end
	idleSince time.Time
}

// hand gives j to an idle worker, and reports false when none waits.
func (p *workerPool) hand(j *job) bool {
	p.mu.Lock()
	n := len(p.idle)
	if n == 0 {
		p.mu.Unlock()
		return false
	}
	w := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	p.mu.Unlock()
	w.next <- j // buffered: the worker takes it whenever it wakes
	return true
}

// close ends the idle workers, and keeps workers from waiting from now
// on.
func (p *workerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.endLocked(len(p.idle))
	if p.reaper != nil {
		p.reaper.Stop()
	}
}

// endLocked ends the n workers idle the longest.
func (p *workerPool) endLocked(n int) {
	for i, w := range p.idle[:n] {
		w.next <- nil
		p.idle[i] = nil
	}
	p.idle = slices.Delete(p.idle, 0, n)
}

// work is a worker's goroutine: it runs j, then the jobs it is handed
// while it waits, and ends when none comes in time. A job that called
// runtime.Goexit ends its goroutine with it (run never returns here).
func (p *workerPool) work(j *job) {
	p.mu.Lock()
	p.alive++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.alive--
		p.mu.Unlock()
	}()
	var w *worker // made when it first waits: a job that runs long costs none
	for j != nil {
		j.run(nil)
		if w == nil {
			w = &worker{next: make(chan *job, 1)}
		}
		j = p.wait(w)
	}
}

// wait makes w idle and returns the job it is handed, or nil when it
// should end instead.
func (p *workerPool) wait(w *worker) *job {
	// The previous job's goroutine labels (restored by pprof.Do to those
	// of the context Start was given) do not belong to a worker at rest.
	pprof.SetGoroutineLabels(context.Background())
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdleWorkers {
		p.mu.Unlock()
		return nil
	}
	w.idleSince = time.Now()
	p.idle = append(p.idle, w)
	if !p.reaping {
		p.reaping = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(idleWorkerTimeout, p.reap)
		} else {
			p.reaper.Reset(idleWorkerTimeout)
		}
	}
	p.mu.Unlock()
	return <-w.next
}

// reap ends the workers idle for idleWorkerTimeout or longer, and arms the
// reaper again for the oldest of the others.
func (p *workerPool) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= idleWorkerTimeout {
		n++
	}
	p.endLocked(n)
	if len(p.idle) == 0 {
		p.reaping = false
		return
	}
	p.reaper.Reset(idleWorkerTimeout - now.Sub(p.idle[0].idleSince))
}
