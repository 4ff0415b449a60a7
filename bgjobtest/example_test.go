package bgjobtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
)

// exampleT stands in for the *testing.T of a test, which an example does
// not have: it prints failures and runs the cleanups when finished.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Helper() {}

func (t *exampleT) Errorf(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
}

func (t *exampleT) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// A test records the Runner's events and asserts that a job went through
// its whole lifecycle, in order.
func Example() {
	t := &exampleT{} // in a test, the test's *testing.T
	defer t.finish()
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	rec := bgjobtest.Record(t, r)
	h, _ := r.Start(ctx, "train", bgjobtest.Succeed(3))

	if bgjobtest.AssertEnded(ctx, t, h, bgjob.StateSucceeded) &&
		bgjobtest.AssertLifecycle(ctx, t, rec, h.ID()) {
		fmt.Println("succeeded, with its whole lifecycle")
	}
	types := rec.Types(h.ID())
	fmt.Println("first:", types[0], types[1])
	fmt.Println("last:", types[len(types)-2], types[len(types)-1])
	// Output:
	// succeeded, with its whole lifecycle
	// first: info worker_started
	// last: complete worker_stopped
}

// A Gate holds a job at a step of the test's choosing, so that the test
// can pause it there and see it paused, without sleeping.
func ExampleGate() {
	t := &exampleT{}
	defer t.finish()
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)
	rec := bgjobtest.Record(t, r)

	g := bgjobtest.NewGate(5)
	h, _ := r.Start(ctx, "train", g.Job())
	g.Release(2)
	<-g.Reached(3) // two steps done, waiting before the third
	h.Pause()
	g.Release(3) // through the gate, the job parks at its checkpoint
	paused := func(st bgjob.JobStatus) bool { return st.State == bgjob.StatePaused }
	if err := bgjobtest.WaitStatus(ctx, r, h, paused); err != nil {
		fmt.Println(err)
	}
	fmt.Println(h.Status().State, "after step", h.Status().Step)

	h.Resume()
	g.Release(5)
	bgjobtest.AssertEnded(ctx, t, h, bgjob.StateSucceeded)
	bgjobtest.AssertLifecycle(ctx, t, rec, h.ID())
	fmt.Println(h.Status().State, "after step", h.Status().Step)
	// Output:
	// paused after step 2
	// succeeded after step 5
}

// WaitStatus waits for a state the job reaches on its own: here, the end of
// a job that ran past its timeout.
func ExampleWaitStatus() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "slow", bgjobtest.HangUntilCanceled(), bgjob.WithTimeout(time.Millisecond))
	err := bgjobtest.WaitStatus(ctx, r, h, func(st bgjob.JobStatus) bool { return st.State.Terminal() })
	fmt.Println(err, h.Status().State, errors.Is(h.Status().Err, bgjob.ErrTimeout))

	// A status the job can no longer reach ends the wait at once.
	err = bgjobtest.WaitStatus(ctx, r, h, func(st bgjob.JobStatus) bool { return st.State == bgjob.StateSucceeded })
	fmt.Println(errors.Is(err, bgjobtest.ErrEnded))
	// Output:
	// <nil> canceled true
	// true
}

// IgnoreCancel makes a job that outlives its cancellation, to test what a
// service does with a job the Runner abandoned (WithCancelGrace).
func ExampleIgnoreCancel() {
	t := &exampleT{}
	defer t.finish()
	ctx := context.Background()
	r, _ := bgjob.NewRunner(bgjob.WithCancelGrace(time.Millisecond))
	defer r.Shutdown(ctx)
	rec := bgjobtest.Record(t, r, bgjob.WithTypes(bgjob.EventAbandoned, bgjob.EventComplete))

	release := make(chan struct{})
	h, _ := r.Start(ctx, "stubborn", bgjobtest.IgnoreCancel(release))
	h.Cancel(nil)
	abandoned := func(st bgjob.JobStatus) bool { return st.State == bgjob.StateAbandoned }
	if err := bgjobtest.WaitStatus(ctx, r, h, abandoned); err != nil {
		fmt.Println(err)
	}
	fmt.Println(h.Status().State, "alive:", h.Status().Alive)

	close(release) // the job returns at last
	bgjobtest.AssertEnded(ctx, t, h, bgjob.StateSucceeded)
	rec.WaitJob(ctx, h.ID(), func(job []bgjob.Event) bool { return len(job) == 2 })
	fmt.Println(rec.Types(h.ID()))
	// Output:
	// abandoned alive: true
	// [abandoned complete]
}

// CheckLifecycle checks events a test collected itself, and says what is
// wrong.
func ExampleCheckLifecycle() {
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	var events []bgjob.Event
	for i, typ := range []bgjob.EventType{bgjob.EventInfo, bgjob.EventWorkerStarted, bgjob.EventWorkerStopped} {
		events = append(events, bgjob.Event{Type: typ, Seq: uint64(i + 1), JobID: id, JobName: "train", State: bgjob.StateRunning})
	}
	fmt.Println(bgjobtest.CheckLifecycle(events))
	// Output:
	// bgjobtest: job train/6ba7b810: event 3 of 3 is worker_stopped after worker_started, want complete or one of progress, paused, resumed, stalled, unstalled, abandoned, log; events:
	// 	#1 info train/6ba7b810 running
	// 	#2 worker_started train/6ba7b810 running
	// 	#3 worker_stopped train/6ba7b810 running
}
