package bgjob

import (
	"encoding/json"
	"iter"
	"slices"
	"sync"

	"github.com/bgjob/bgjob/internal/ring"
)

// JobRecord is what remains of a finished job: its final status (state,
// times, queue wait, time paused, error, panic stack, last progress and
// metrics), the tail of its log, its timeline and the series of its
// metrics. A JobRecord handed out is the caller's own: its slices are
// copies.
type JobRecord struct {
	JobStatus
	Logs     []LogRecord
	Timeline []TimelinePoint
	Series   []MetricSeries
}

// MarshalJSON encodes the record as its status's JSON object with three
// more fields, "logs", "timeline" and "series".
func (rec JobRecord) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		jobStatusJSON
		Logs     []LogRecord     `json:"logs,omitempty"`
		Timeline []TimelinePoint `json:"timeline,omitempty"`
		Series   []MetricSeries  `json:"series,omitempty"`
	}{rec.wire(), rec.Logs, rec.Timeline, rec.Series})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (rec *JobRecord) UnmarshalJSON(b []byte) error {
	var w struct {
		jobStatusJSON
		Logs     []LogRecord     `json:"logs"`
		Timeline []TimelinePoint `json:"timeline"`
		Series   []MetricSeries  `json:"series"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.State == 0 {
		return errNoState
	}
	*rec = JobRecord{JobStatus: w.status(), Logs: w.Logs, Timeline: w.Timeline, Series: w.Series}
	return nil
}

// HistoryStore keeps the records of finished jobs beyond the Runner's own
// memory — a durable store, for instance (see WithHistoryStore).
//
// Implementations must be safe for concurrent use. Add is called on one
// goroutine of the Runner's, never on a caller's or a job's, so a slow
// store delays no one: records wait for it, at most MaxPendingRecords of
// them, and Shutdown waits for them only as long as its context allows.
// An error from Add is logged to the Runner's logger (WithLogger, or
// slog.Default) and counted in RunnerStatus.History; the record is not
// retried. Records may be called at any time, while records are being
// added, and yields them newest first; it should not hold a lock while it
// yields, so that a caller may stop early or take its time.
type HistoryStore interface {
	Add(rec JobRecord) error
	Records() iter.Seq[JobRecord]
}

// MaxPendingRecords bounds the records waiting for a HistoryStore that
// does not keep up; beyond it the oldest is dropped and counted in
// RunnerStatus.History.Dropped.
const MaxPendingRecords = 10_000

// HistoryFilter selects records from the history. The zero value selects
// all.
type HistoryFilter struct {
	// States, when not empty, keeps the jobs that ended in one of them.
	States []State
	// Name, when not empty, keeps the jobs with this name.
	Name string
}

func (f HistoryFilter) match(s *JobStatus) bool {
	if f.Name != "" && s.Name != f.Name {
		return false
	}
	return len(f.States) == 0 || slices.Contains(f.States, s.State)
}

// History yields the records of finished jobs that f selects, newest
// first: from the HistoryStore if the Runner has one, from its own memory
// (the last WithHistoryLimit jobs) otherwise. It may be called while jobs
// finish; it sees the records there were when it started, and holds no
// lock while it yields.
func (r *Runner) History(f HistoryFilter) iter.Seq[JobRecord] {
	return func(yield func(JobRecord) bool) {
		if r.cfg.store != nil {
			for rec := range r.cfg.store.Records() {
				if f.match(&rec.JobStatus) && !yield(rec) {
					return
				}
			}
			return
		}
		for j := range r.recent.Newest() {
			// The status alone decides whether the record is wanted, so
			// that a filter that keeps few does not copy many logs.
			if st := j.status(); !f.match(&st) {
				continue
			}
			if !yield(j.record()) {
				return
			}
		}
	}
}

// recorder hands the records of finished jobs to the HistoryStore on a
// goroutine of its own, which runs only while records wait, so that no
// caller and no job ever waits for the store.
type recorder struct {
	store  HistoryStore
	report func(rec *JobRecord, err error) // called on a failed Add

	mu      sync.Mutex
	queue   ring.Queue[JobRecord]
	running bool          // the goroutine runs
	inHand  bool          // it holds a record the store has not taken
	idle    chan struct{} // closed when the queue empties with nothing in hand
	stats   HistoryStatus // Failed and Dropped
}

// add queues rec for the store.
func (rc *recorder) add(rec JobRecord) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.queue.Len() >= MaxPendingRecords {
		rc.queue.Pop()
		rc.stats.Dropped++
	}
	rc.queue.Push(rec)
	if !rc.running {
		rc.running = true
		rc.idle = make(chan struct{})
		go rc.drain()
	}
}

func (rc *recorder) drain() {
	for {
		rc.mu.Lock()
		rec, ok := rc.queue.Pop()
		if !ok {
			rc.running = false
			close(rc.idle)
			rc.mu.Unlock()
			return
		}
		rc.inHand = true
		rc.mu.Unlock()
		err := rc.store.Add(rec)
		if err != nil {
			rc.report(&rec, err) // logged before it is counted
		}
		rc.mu.Lock()
		rc.inHand = false
		if err != nil {
			rc.stats.Failed++
		}
		rc.mu.Unlock()
	}
}

// idleChan returns a channel closed once every record queued so far was
// handed to the store.
func (rc *recorder) idleChan() <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.running {
		return closedChan
	}
	return rc.idle
}

func (rc *recorder) status() HistoryStatus {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := rc.stats
	st.Pending = rc.queue.Len()
	if rc.inHand {
		st.Pending++
	}
	return st
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
