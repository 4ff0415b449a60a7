package termview

import (
	"strings"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
)

// job is what a View knows of one live job: the state and progress the
// job's latest events told. It is owned by its View, under View.mu.
type job struct {
	id    uuid.UUID
	name  string
	state bgjob.State
	// stalled is set between an EventStalled and the job's next progress:
	// an Event tells its State but not whether the job is stalled.
	stalled bool
	// stale is set when an EventLagged named the job: events of it were
	// lost, so its line may be out of date until its next event.
	stale bool

	percent float64
	step    int64
	total   int64
	rate    float64
	eta     time.Duration
	message string
	metrics []bgjob.Metric

	// Plain mode's rate limit: when the last progress line was printed,
	// and the newest progress line held back since, if any.
	printed    bool
	printedAt  time.Time
	pendingRow string
}

// newJob returns the job an event is about.
func newJob(ev bgjob.Event) *job {
	return &job{id: ev.JobID, name: keep(ev.JobName), state: ev.State}
}

// jobFromStatus returns the job a status describes (Subscription.Snapshot).
func jobFromStatus(s bgjob.JobStatus) *job {
	return &job{
		id:      s.ID,
		name:    keep(s.Name),
		state:   s.State,
		stalled: s.Stalled,
		percent: s.Percent,
		step:    s.Step,
		total:   s.Total,
		rate:    s.Rate,
		eta:     s.ETA,
		message: keep(s.Message),
		metrics: cloneMetrics(nil, s.Metrics),
	}
}

// update takes the state and progress ev tells of the job. Every event of
// a job carries its state and progress, but not every one its message or
// its metrics: a stall, an abandonment and a log line carry a message of
// their own in Message, and only the events that carry progress carry the
// metrics.
func (j *job) update(ev bgjob.Event) {
	if ev.State != 0 {
		j.state = ev.State
	}
	moved := ev.Step != j.step || ev.Percent != j.percent
	switch ev.Type {
	case bgjob.EventStalled:
		j.stalled = true
	case bgjob.EventUnstalled:
		j.stalled = false
	case bgjob.EventProgress:
		// A job that moves is not stalled, even when the unstalled
		// event that said so was folded or lost.
		if moved {
			j.stalled = false
		}
	}
	j.stale = false
	j.percent, j.step, j.total = ev.Percent, ev.Step, ev.Total
	j.rate, j.eta = ev.Rate, ev.ETA
	switch ev.Type {
	case bgjob.EventStalled, bgjob.EventAbandoned:
	default:
		j.message = keep(ev.Message)
	}
	switch ev.Type {
	case bgjob.EventProgress, bgjob.EventPaused, bgjob.EventResumed,
		bgjob.EventStalled, bgjob.EventUnstalled, bgjob.EventComplete:
		j.metrics = cloneMetrics(j.metrics[:0], ev.Metrics)
	}
}

// cloneMetrics appends ms to dst with their names cleaned and cloned,
// since the caller's event may share memory with something larger.
func cloneMetrics(dst, ms []bgjob.Metric) []bgjob.Metric {
	for _, m := range ms {
		m.Name = keep(m.Name)
		dst = append(dst, m)
	}
	return dst
}

// keep returns a clean copy of a string of the caller's to keep: an event
// fed by hand may hold a slice of something much larger.
func keep(s string) string { return strings.Clone(clean(s, false)) }

// hasProgress reports whether the job ever told how far it had come.
func (j *job) hasProgress() bool {
	return j.percent > 0 || j.step > 0 || j.total > 0 || len(j.metrics) > 0
}

// word returns the state word of the job's line.
func (j *job) word() string {
	switch {
	case j.stale:
		return "lagged"
	case j.stalled && (j.state == bgjob.StateRunning || j.state == bgjob.StatePausing):
		return "stalled"
	}
	switch j.state {
	case bgjob.StateQueued:
		return "queued"
	case bgjob.StateRunning:
		return "running"
	case bgjob.StateSucceeded:
		return "done"
	case 0:
		return "running"
	default:
		return j.state.String() // pausing, paused, canceling, abandoned, failed, canceled
	}
}

// moving reports whether the job's rate says how fast it goes now: not
// while it waits, is paused or stalled, and not when its line may be out of
// date. A rate or an ETA held from before would be a frozen one.
func (j *job) moving() bool {
	if j.stale || j.stalled {
		return false
	}
	switch j.state {
	case bgjob.StateRunning, bgjob.StatePausing, bgjob.StateCanceling, 0:
		return true
	}
	return false
}
