// Package bgjobtest helps test code that runs jobs with bgjob, as River's
// rivertest does for River: it records a Runner's events, asserts on them
// and on jobs, waits for a job's status without sleeping, and provides
// scripted jobs that behave the same every run.
//
// A test of a job that pauses:
//
//	func TestPause(t *testing.T) {
//		ctx := t.Context()
//		r, _ := bgjob.NewRunner()
//		t.Cleanup(func() { r.Shutdown(context.Background()) })
//		rec := bgjobtest.Record(t, r)
//
//		g := bgjobtest.NewGate(3)
//		h, _ := r.Start(ctx, "train", g.Job())
//		<-g.Reached(1)
//		h.Pause()
//		g.Release(1) // through the gate, the job parks at its checkpoint
//		err := bgjobtest.WaitStatus(ctx, r, h, func(st bgjob.JobStatus) bool {
//			return st.State == bgjob.StatePaused
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//		h.Resume()
//		g.Release(3)
//		bgjobtest.AssertEnded(ctx, t, h, bgjob.StateSucceeded)
//		bgjobtest.AssertLifecycle(ctx, t, rec, h.ID())
//	}
//
// The package imports only the standard library, bgjob and its uuid, so
// that a service's tests may use it whatever else they use.
//
// # Recording events
//
// [Record] subscribes to a Runner, Lossless by default, and a [Recorder]
// keeps every event it receives, on a goroutine of its own that ends with
// the test. Its Events, Job and Types methods read what was recorded so far,
// while jobs run; [Recorder.WaitFor] and [Recorder.WaitJob] wait until a
// predicate over the events holds.
//
// # Assertions
//
// [AssertLifecycle], [AssertState], [AssertEnded] and [AssertErrorIs]
// report a failure with t.Errorf, showing what they saw, so the test goes
// on, and return whether they held, so that a test can stop when what
// follows would make no sense:
//
//	if !bgjobtest.AssertEnded(ctx, t, h, bgjob.StateSucceeded) {
//		return
//	}
//
// Those that wait take a context first, as rivertest's do: the test decides
// how long a job may take (t.Context(), or a deadline of its own), and when
// ctx ends first they fail, showing the job's status or events.
// [CheckLifecycle] is the lifecycle check as a function, for events a test
// collected itself.
//
// # Waiting without sleeping
//
// Every wait here — Recorder.WaitFor, Recorder.WaitJob, [WaitStatus], the
// waiting assertions, [Gate.Reached] — blocks on channels only, and wakes
// on events; none sleeps or polls. So they are quick, and they work inside a
// testing/synctest bubble, when the Runner, the Recorder and the Gate are
// made in it, where the Runner's timers (progress interval, timeouts,
// cancel grace, stall detection) run on the bubble's clock. Such a Runner
// belongs to the bubble: shut it down inside it (a Runner used both in a
// bubble and outside one would share goroutines and timers between them,
// which the runtime forbids). A test of a job's hour-long timeout then
// takes no time:
//
//	func TestTimeout(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			r, _ := bgjob.NewRunner()
//			defer r.Shutdown(context.Background())
//			h, _ := r.Start(t.Context(), "train", bgjobtest.HangUntilCanceled(), bgjob.WithTimeout(time.Hour))
//			bgjobtest.AssertErrorIs(t.Context(), t, h, bgjob.ErrTimeout)
//		})
//	}
//
// A wait ends with an error wrapping [ErrEnded] as soon as what it waits for
// can no longer happen, rather than when its context ends.
//
// # Scripted jobs
//
// [Succeed], [Fail], [Panic], [HangUntilCanceled] and [IgnoreCancel] return
// jobs that do the same thing every run, take no time of their own and never
// sleep, so a test's outcome depends on what the test does, not on the
// scheduler. A [Gate] is a job the test moves on step by step, to pause,
// resume or cancel it at the step it chooses.
package bgjobtest
