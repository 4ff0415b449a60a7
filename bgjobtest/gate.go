package bgjobtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/bgjob/bgjob"
)

// Gate is a job that a test moves on step by step, so that it can pause,
// resume or cancel the job at a step of its choosing without sleeping.
//
// The job (Job) has Steps steps. Before each step n it stops at the gate:
// Reached(n) is closed, and the job waits there until Release(n) or later
// lets it through, or until it is canceled. Through the gate, it calls
// Checkpoint — so a Pause asked for while it waits at the gate parks it
// right after, before step n — and then does the step (Progress.Add(1)).
// While the job waits before step n, its status says n-1 steps done:
//
//	g := bgjobtest.NewGate(5)
//	h, _ := r.Start(ctx, "train", g.Job())
//	g.Release(2)
//	<-g.Reached(3)                      // 2 steps done, waiting before step 3
//	h.Pause()                           // pausing
//	g.Release(3)                        // through the gate, parked at the checkpoint
//	bgjobtest.WaitStatus(ctx, r, h, paused)
//	h.Resume()                          // does step 3, waits before step 4
//	g.Release(5)                        // and the rest: it succeeds
//
// A Gate drives one run of its job; its methods are safe for concurrent
// use. Make it inside a testing/synctest bubble to use it in one.
type Gate struct {
	steps int
	// reached[n-1] is closed once the job has reached the gate before step
	// n; reached[steps] once it has done every step.
	reached []chan struct{}

	mu       sync.Mutex
	arrived  int           // the highest n whose reached channel is closed
	released int           // the job may do the steps up to this one
	release  chan struct{} // closed and replaced at each Release that lets the job go further
}

// NewGate returns a Gate whose job has steps steps, none released yet. It
// panics if steps is negative.
func NewGate(steps int) *Gate {
	if steps < 0 {
		panic(fmt.Sprintf("bgjobtest: NewGate(%d): negative steps", steps))
	}
	g := &Gate{steps: steps, reached: make([]chan struct{}, steps+1), release: make(chan struct{})}
	for i := range g.reached {
		g.reached[i] = make(chan struct{})
	}
	return g
}

// Steps returns the number of steps of the Gate's job.
func (g *Gate) Steps() int { return g.steps }

// Job returns the Gate's job. It sets its total to Steps, goes through
// the steps as the Gate's doc says and returns nil after the last; canceled
// at the gate or at a checkpoint, it returns its context's error.
func (g *Gate) Job() bgjob.Job {
	return bgjob.JobFunc(g.run)
}

func (g *Gate) run(ctx context.Context, p *bgjob.Progress) error {
	p.SetTotal(int64(g.steps))
	for n := 1; n <= g.steps; n++ {
		if err := g.wait(ctx, n); err != nil {
			return err
		}
		if err := p.Checkpoint(); err != nil {
			return err
		}
		p.Add(1)
	}
	g.arrive(g.steps + 1)
	return nil
}

// wait marks the gate before step n reached and waits until step n is
// released or ctx ends.
func (g *Gate) wait(ctx context.Context, n int) error {
	g.arrive(n)
	for {
		g.mu.Lock()
		ok, release := g.released >= n, g.release
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// arrive closes the reached channels up to n.
func (g *Gate) arrive(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ; g.arrived < n; g.arrived++ {
		close(g.reached[g.arrived])
	}
}

// Reached returns a channel that is closed once the job has done n-1 steps
// and reached the gate before step n, for n from 1 to Steps; Reached(Steps+1)
// is closed once it has done every step. It panics for any other n.
func (g *Gate) Reached(n int) <-chan struct{} {
	if n < 1 || n > g.steps+1 {
		panic(fmt.Sprintf("bgjobtest: Gate.Reached(%d): want 1 to %d", n, g.steps+1))
	}
	return g.reached[n-1]
}

// Release lets the job do the steps up to n: it goes through the gates
// before them, and stops at the gate before step n+1. Release(Steps) lets
// it finish; releasing fewer steps than already released does nothing.
func (g *Gate) Release(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n = min(n, g.steps)
	if n <= g.released {
		return
	}
	g.released = n
	close(g.release)
	g.release = make(chan struct{})
}
