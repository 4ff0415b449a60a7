package bgjobtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// Recorder records the events of a Runner for a test: every event its
// subscription delivers, in order, readable at any time while jobs run.
// Make one with [Record]. Its methods are safe for concurrent use.
type Recorder struct {
	sub  *bgjob.Subscription
	done chan struct{} // closed when the recording goroutine returns

	mu sync.Mutex // guards the fields below
	// events only grows: the prefix a reader was given never changes,
	// so waits can hand it to a predicate without copying or locking.
	events []bgjob.Event
	// changed is closed and replaced at each new event, and closed for
	// good when the recording ends (ended).
	changed chan struct{}
	ended   bool
}

// Record subscribes to r and records its events until the end of the test.
// The subscription is Lossless, so that nothing is lost while a test's jobs
// run (a Lossless reader that falls behind makes Start wait, and the
// Recorder reads at once); opts apply after that default, so a test may
// choose WithPolicy(bgjob.Lagging), WithJob, WithTypes and the rest.
// Record before starting the jobs to watch: the Recorder sees the events
// published after it subscribed.
//
// The events are read on a goroutine of the Recorder's, which ends when the
// subscription's channel closes: after Shutdown and the last job's end
// (after the job's worker_stopped for WithJob), or when the test ends, as a
// cleanup closes the subscription and waits for that goroutine. Record
// fails the test at once if Subscribe fails.
func Record(t testing.TB, r *bgjob.Runner, opts ...bgjob.SubscribeOption) *Recorder {
	t.Helper()
	sub, err := r.Subscribe(append([]bgjob.SubscribeOption{bgjob.WithPolicy(bgjob.Lossless)}, opts...)...)
	if err != nil {
		t.Fatalf("bgjobtest: subscribe: %v", err)
	}
	rec := &Recorder{sub: sub, done: make(chan struct{}), changed: make(chan struct{})}
	go rec.record(sub.Events())
	t.Cleanup(func() {
		sub.Close()
		<-rec.done
	})
	return rec
}

// record runs on the Recorder's goroutine until ch is closed.
func (rec *Recorder) record(ch <-chan bgjob.Event) {
	defer close(rec.done)
	for ev := range ch {
		rec.mu.Lock()
		rec.events = append(rec.events, ev)
		close(rec.changed)
		rec.changed = make(chan struct{})
		rec.mu.Unlock()
	}
	rec.mu.Lock()
	rec.ended = true
	close(rec.changed)
	rec.mu.Unlock()
}

// seen returns the events so far (a prefix that never changes: read it,
// do not write it), the channel closed at the next change, and whether the
// recording has ended.
func (rec *Recorder) seen() ([]bgjob.Event, <-chan struct{}, bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := len(rec.events)
	return rec.events[:n:n], rec.changed, rec.ended
}

// Events returns the events recorded so far, in the order they were
// delivered. The slice and the events are the caller's own.
func (rec *Recorder) Events() []bgjob.Event {
	evs, _, _ := rec.seen()
	out := make([]bgjob.Event, len(evs))
	for i, ev := range evs {
		out[i] = cloneEvent(ev)
	}
	return out
}

// Job returns the recorded events of the job with the given id, in order,
// as the caller's own. It includes the EventLagged notices that may have
// lost some of them (those naming the job, or saying there were more jobs
// than they name), so that a test comparing the events sees the loss.
func (rec *Recorder) Job(id uuid.UUID) []bgjob.Event {
	evs, _, _ := rec.seen()
	var out []bgjob.Event
	for _, ev := range evs {
		if concerns(ev, id) {
			out = append(out, cloneEvent(ev))
		}
	}
	return out
}

// Types returns the types of the events Job returns, in order: a
// lifecycle a test can compare at a glance. Progress events are rate
// limited and folded, so how many of them a job has depends on timing;
// compare with them left out, or use [AssertLifecycle].
func (rec *Recorder) Types(id uuid.UUID) []bgjob.EventType {
	evs, _, _ := rec.seen()
	var out []bgjob.EventType
	for _, ev := range evs {
		if concerns(ev, id) {
			out = append(out, ev.Type)
		}
	}
	return out
}

// WaitFor waits until pred, given every event recorded so far, returns
// true. pred is called on the caller's goroutine, once at first and then
// after each new event, with a slice it must not change. WaitFor sleeps
// never and polls never: it wakes on new events only, so it works inside a
// testing/synctest bubble when the Runner and the Recorder were made in it.
//
// It returns nil once pred holds; ctx's error, wrapped with the events
// seen, if ctx ends first; an error wrapping [ErrEnded] if the recording
// ends first; bgjob.ErrNilContext for a nil ctx.
//
// Events of one job can fold into a newer one (see bgjob.Event.Folded):
// wait for a job's state with [WaitStatus] rather than for its paused or
// resumed event.
func (rec *Recorder) WaitFor(ctx context.Context, pred func(events []bgjob.Event) bool) error {
	var all []bgjob.Event
	return rec.wait(ctx, "", func(evs []bgjob.Event) bool {
		all = evs
		return pred(evs)
	}, func() []bgjob.Event { return all })
}

// WaitJob is WaitFor for the events of one job, as Job returns them: pred
// is given the job's events recorded so far and must not change them.
// On failure the error lists that job's events.
func (rec *Recorder) WaitJob(ctx context.Context, id uuid.UUID, pred func(job []bgjob.Event) bool) error {
	var (
		job     []bgjob.Event
		scanned int
	)
	return rec.wait(ctx, " for job "+shortID(id), func(evs []bgjob.Event) bool {
		for _, ev := range evs[scanned:] {
			if concerns(ev, id) {
				job = append(job, ev)
			}
		}
		scanned = len(evs)
		return pred(job[:len(job):len(job)])
	}, func() []bgjob.Event { return job })
}

// wait calls cond with the events so far, at first and at each new event,
// until it holds, the recording ends or ctx ends; a failure lists shown().
func (rec *Recorder) wait(ctx context.Context, subject string, cond func([]bgjob.Event) bool, shown func() []bgjob.Event) error {
	if ctx == nil {
		return bgjob.ErrNilContext
	}
	for {
		evs, changed, ended := rec.seen()
		if cond(evs) {
			return nil
		}
		if ended {
			return fmt.Errorf("%w: the recording ended before the condition held%s; events seen:\n%s",
				ErrEnded, subject, formatEvents(shown()))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("bgjobtest: gave up waiting%s: %w; events seen:\n%s",
				subject, ctx.Err(), formatEvents(shown()))
		}
	}
}

// concerns reports whether ev is about the job id: one of its events, or
// a lag that may have lost some of them.
func concerns(ev bgjob.Event, id uuid.UUID) bool {
	if ev.Type == bgjob.EventLagged {
		return ev.LagMore || slices.Contains(ev.LagJobs, id)
	}
	return ev.JobID == id
}

// cloneEvent copies ev with slices of its own, so that what a caller
// receives is theirs to change.
func cloneEvent(ev bgjob.Event) bgjob.Event {
	ev.Metrics = slices.Clone(ev.Metrics)
	ev.Attrs = slices.Clone(ev.Attrs)
	ev.LagJobs = slices.Clone(ev.LagJobs)
	return ev
}
