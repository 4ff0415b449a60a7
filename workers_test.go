package bgjob

import (
	"context"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob/internal/stacks"
)

// idleWorkers counts r's idle workers.
func idleWorkers(r *Runner) int {
	r.workers.mu.Lock()
	defer r.workers.mu.Unlock()
	return len(r.workers.idle)
}

// liveWorkers counts r's worker goroutines.
func liveWorkers(r *Runner) int {
	r.workers.mu.Lock()
	defer r.workers.mu.Unlock()
	return r.workers.alive
}

// goroutineID reads the calling goroutine's id from its stack's header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

func runnerForWorkers(t *testing.T) *Runner {
	t.Helper()
	r, err := NewRunner()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r
}

// startJobs starts n jobs that return once release is closed, and waits
// until all of them run.
func startJobs(t *testing.T, r *Runner, n int, release <-chan struct{}) []*Handle {
	t.Helper()
	var running sync.WaitGroup
	running.Add(n)
	hs := make([]*Handle, n)
	for i := range hs {
		h, err := r.Start(context.Background(), "job", JobFunc(func(ctx context.Context, p *Progress) error {
			running.Done()
			<-release
			return nil
		}))
		require.NoError(t, err)
		hs[i] = h
	}
	running.Wait()
	return hs
}

func TestAWorkerRunsTheNextJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runnerForWorkers(t)
		var ran []string
		for range 3 {
			h, err := r.Start(context.Background(), "job", JobFunc(func(ctx context.Context, p *Progress) error {
				ran = append(ran, goroutineID())
				return nil
			}))
			require.NoError(t, err)
			<-h.Done()
			synctest.Wait() // the worker is back, waiting
			assert.Equal(t, 1, idleWorkers(r))
			assert.Equal(t, 1, liveWorkers(r))
		}
		assert.Equal(t, []string{ran[0], ran[0], ran[0]}, ran, "one goroutine ran the three jobs")
	})
}

func TestIdleWorkersEndAfterTheirTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runnerForWorkers(t)
		release := make(chan struct{})
		first := startJobs(t, r, 3, release)
		close(release)
		for _, h := range first {
			<-h.Done()
		}
		synctest.Wait()
		require.Equal(t, 3, idleWorkers(r))

		// Half-way through their wait, two jobs take two of the workers
		// and give them back: those two wait anew.
		time.Sleep(idleWorkerTimeout / 2)
		release = make(chan struct{})
		second := startJobs(t, r, 2, release)
		assert.Equal(t, 1, idleWorkers(r))
		close(release)
		for _, h := range second {
			<-h.Done()
		}
		synctest.Wait()
		require.Equal(t, 3, idleWorkers(r))

		time.Sleep(idleWorkerTimeout/2 - time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 3, idleWorkers(r), "no worker ends before its timeout")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		assert.Equal(t, 2, idleWorkers(r), "the worker idle since the first jobs ended")
		time.Sleep(idleWorkerTimeout / 2)
		synctest.Wait()
		assert.Equal(t, 0, idleWorkers(r), "the others a timeout after they were given back")
		assert.Equal(t, 0, liveWorkers(r))
	})
}

func TestIdleWorkersAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runnerForWorkers(t)
		release := make(chan struct{})
		hs := startJobs(t, r, 3*maxIdleWorkers, release)
		close(release)
		for _, h := range hs {
			<-h.Done()
		}
		synctest.Wait() // the workers beyond the bound have ended
		assert.Equal(t, maxIdleWorkers, idleWorkers(r))
		assert.Equal(t, maxIdleWorkers, liveWorkers(r))
	})
}

func TestShutdownEndsIdleWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := NewRunner()
		require.NoError(t, err)
		release := make(chan struct{})
		hs := startJobs(t, r, 4, release)
		close(release)
		for _, h := range hs {
			<-h.Done()
		}
		synctest.Wait()
		require.Equal(t, 4, idleWorkers(r))
		require.NoError(t, r.Shutdown(context.Background()))
		assert.Equal(t, 0, idleWorkers(r))
		// No time passes, so no worker could have ended by its timeout:
		// Shutdown ended them.
		before := time.Now()
		synctest.Wait()
		assert.Equal(t, 0, liveWorkers(r))
		assert.Equal(t, before, time.Now())
	})
}

func TestAJobThatEndsItsGoroutineTakesItsWorker(t *testing.T) {
	for name, opt := range map[string][]JobOption{
		"Goexit":       nil,
		"LockOSThread": {LockOSThread()},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := runnerForWorkers(t)
				h, err := r.Start(context.Background(), "job", JobFunc(func(ctx context.Context, p *Progress) error {
					if opt == nil {
						runtime.Goexit()
					}
					return nil
				}), opt...)
				require.NoError(t, err)
				<-h.Done()
				synctest.Wait()
				assert.Equal(t, 0, idleWorkers(r))
				assert.Equal(t, 0, liveWorkers(r), "the job's goroutine ended")
			})
		})
	}
}

func TestAnIdleWorkerCarriesNoLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runnerForWorkers(t)
		ctx := pprof.WithLabels(context.Background(), pprof.Labels("request", "r1"))
		h, err := r.Start(ctx, "job", JobFunc(func(ctx context.Context, p *Progress) error {
			v, _ := pprof.Label(ctx, "request")
			assert.Equal(t, "r1", v, "the job's context keeps Start's labels")
			return nil
		}))
		require.NoError(t, err)
		<-h.Done()
		synctest.Wait()
		require.Equal(t, 1, idleWorkers(r))
		found, err := stacks.ByLabel("request", map[string]bool{"r1": true})
		require.NoError(t, err)
		assert.Empty(t, found, "the worker waits without the labels of the job it ran")
		found, err = stacks.ByLabel(LabelJobID, map[string]bool{h.ID().String(): true})
		require.NoError(t, err)
		assert.Empty(t, found)
	})
}

func TestAWorkerTakesJobsFromItsOwnSideOfABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		assert.True(t, inBubble(time.Now()), "a bubble's clock has no monotonic reading")
	})
	require.False(t, inBubble(time.Now()))

	var p workerPool
	outside := &worker{next: make(chan *job, 1)}
	p.idle = append(p.idle, outside)
	j := &job{}
	assert.False(t, p.hand(j, time.Now().Round(0)), "a job started in a bubble goes to no worker from outside")
	assert.Len(t, p.idle, 1)
	assert.True(t, p.hand(j, time.Now()))
	assert.Same(t, j, <-outside.next)
	assert.Empty(t, p.idle)
}
