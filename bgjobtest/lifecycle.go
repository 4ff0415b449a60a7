package bgjobtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// between holds the events that may come, any number of times and in any
// order, between a job's worker_started and its complete.
var between = []bgjob.EventType{
	bgjob.EventProgress, bgjob.EventPaused, bgjob.EventResumed,
	bgjob.EventStalled, bgjob.EventUnstalled, bgjob.EventAbandoned, bgjob.EventLog,
}

// CheckLifecycle checks that events, the events of one job in the order
// they were delivered (as [Recorder.Job] returns them), make its whole
// lifecycle:
//
//	info, [queued], worker_started, any of progress, paused, resumed,
//	stalled, unstalled, abandoned and log, complete, worker_stopped
//
// or, for a job canceled before it got a worker, info, [queued], complete,
// worker_stopped: info, complete and worker_stopped exactly once, queued,
// worker_started and abandoned at most once, all of one job, with growing
// sequence numbers. An EventLagged among them fails the check, naming the
// range of events lost. It returns nil or an error saying what is wrong,
// followed by the events.
func CheckLifecycle(events []bgjob.Event) error {
	for _, ev := range events {
		if ev.Type != bgjob.EventLagged {
			return checkLifecycleOf(ev.JobID, events)
		}
	}
	return checkLifecycleOf(uuid.Nil, events)
}

// checkLifecycleOf is CheckLifecycle for the events of the job id, which
// its message names.
func checkLifecycleOf(id uuid.UUID, events []bgjob.Event) error {
	if err := checkLifecycle(events); err != nil {
		job := ""
		if id != uuid.Nil {
			job = "job " + jobLabel(nameOf(events), id) + ": "
		}
		return fmt.Errorf("bgjobtest: %s%w; events:\n%s", job, err, formatEvents(events))
	}
	return nil
}

// checkLifecycle does the checking for CheckLifecycle: it reads events as
// the grammar in its doc, one event at a time, and says where they part.
func checkLifecycle(events []bgjob.Event) error {
	if len(events) == 0 {
		return errors.New("no events")
	}
	var lost []string
	for _, ev := range events {
		if ev.Type == bgjob.EventLagged {
			lost = append(lost, lostRange(ev))
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("the subscription lagged, so the lifecycle cannot be checked: %s", strings.Join(lost, "; "))
	}
	for i := 1; i < len(events); i++ {
		prev, ev := events[i-1], events[i]
		if ev.JobID != prev.JobID {
			return fmt.Errorf("events of two jobs: %s and %s", prev.JobID, ev.JobID)
		}
		if ev.Seq <= prev.Seq {
			return fmt.Errorf("sequence numbers do not grow: #%d after #%d", ev.Seq, prev.Seq)
		}
	}

	i := 0
	next := func(types ...bgjob.EventType) bool {
		if i < len(events) && slices.Contains(types, events[i].Type) {
			i++
			return true
		}
		return false
	}
	want := func(types ...string) error {
		w := strings.Join(types, " or ")
		if i == len(events) {
			return fmt.Errorf("events end after %s, want %s next", events[i-1].Type, w)
		}
		if i == 0 {
			return fmt.Errorf("first event is %s, want %s", events[0].Type, w)
		}
		return fmt.Errorf("event %d of %d is %s after %s, want %s",
			i+1, len(events), events[i].Type, events[i-1].Type, w)
	}

	if !next(bgjob.EventInfo) {
		return want("info")
	}
	queued := next(bgjob.EventQueued)
	if next(bgjob.EventWorkerStarted) {
		abandoned := false
		for i < len(events) && slices.Contains(between, events[i].Type) {
			if events[i].Type == bgjob.EventAbandoned {
				if abandoned {
					return fmt.Errorf("event %d of %d is a second abandoned", i+1, len(events))
				}
				abandoned = true
			}
			i++
		}
		if !next(bgjob.EventComplete) {
			return want("complete", "one of "+typeNames(between))
		}
	} else if !next(bgjob.EventComplete) {
		if queued {
			return want("worker_started", "complete")
		}
		return want("queued", "worker_started", "complete")
	}
	if !next(bgjob.EventWorkerStopped) {
		return want("worker_stopped")
	}
	if i < len(events) {
		return fmt.Errorf("event %d of %d is %s after worker_stopped, want none", i+1, len(events), events[i].Type)
	}
	return nil
}

// AssertLifecycle asserts that rec recorded the whole lifecycle of the job
// id, as CheckLifecycle checks it. It first waits until rec has the job's
// worker_stopped, so it can be called as soon as the job's handle is done
// (Handle.Done is closed once worker_stopped is published, which may be
// before the Recorder has read it); if ctx or the recording ends first,
// it fails, saying so. It needs a Recorder of every event type: a
// WithTypes recording that leaves out complete or worker_stopped fails
// it. It reports failure with t.Errorf, listing the job's events, and
// returns whether the assertion held.
func AssertLifecycle(ctx context.Context, t testing.TB, rec *Recorder, id uuid.UUID) bool {
	t.Helper()
	waitErr := rec.WaitJob(ctx, id, func(job []bgjob.Event) bool {
		return slices.ContainsFunc(job, func(ev bgjob.Event) bool {
			return ev.Type == bgjob.EventWorkerStopped || ev.Type == bgjob.EventLagged
		})
	})
	if err := checkLifecycleOf(id, rec.Job(id)); err != nil {
		if waitErr != nil {
			// The check's message lists the events; say why they stop.
			t.Errorf("%v\n(stopped waiting for worker_stopped: %s)", err, firstLine(waitErr))
		} else {
			t.Errorf("%v", err)
		}
		return false
	}
	return true
}

// nameOf returns the job's name, as its events carry it.
func nameOf(events []bgjob.Event) string {
	for _, ev := range events {
		if ev.JobName != "" {
			return ev.JobName
		}
	}
	return ""
}

func typeNames(types []bgjob.EventType) string {
	names := make([]string, len(types))
	for i, typ := range types {
		names[i] = typ.String()
	}
	return strings.Join(names, ", ")
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSuffix(s, "; events seen:")
}
