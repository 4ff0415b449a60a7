package bgjob

import (
	"iter"
	"slices"
	"sync"

	"github.com/bgjob/bgjob/internal/ring"
)

// Run is the record of one finished run: its final status (state, times,
// queue wait, time paused, error, panic stack, last progress), the tail of
// its log and its timeline.
type Run struct {
	JobStatus
	Logs     []LogRecord     `json:"logs,omitempty"`
	Timeline []TimelinePoint `json:"timeline,omitempty"`
}

// History keeps the records of finished runs. The Runner keeps them in
// memory, bounded by WithHistoryLimit, unless given another History with
// WithHistory — a durable store, for instance.
//
// Implementations must be safe for concurrent use: Add is called on the
// goroutine of each job as it ends (an error is logged to the Runner's
// logger, or slog.Default, and the run is not retried); Runs may be called
// at any time, while runs are being added, and yields the runs newest
// first. Runs should not hold a lock while it yields, so that a caller may
// stop early or take its time.
type History interface {
	Add(run Run) error
	Runs() iter.Seq[Run]
}

// RunFilter selects runs from the history. The zero value selects all.
type RunFilter struct {
	// States, when not empty, keeps the runs that ended in one of them.
	States []State
	// Name, when not empty, keeps the runs of jobs with this name.
	Name string
}

func (f RunFilter) match(run Run) bool {
	if f.Name != "" && run.Name != f.Name {
		return false
	}
	return len(f.States) == 0 || slices.Contains(f.States, run.State)
}

// Runs yields the finished runs the Runner's history holds that f selects,
// newest first (in the order they were recorded, as each job retired). It may be called while jobs finish; it sees the runs
// recorded when it started.
func (r *Runner) Runs(f RunFilter) iter.Seq[Run] {
	return func(yield func(Run) bool) {
		for run := range r.history.Runs() {
			if f.match(run) && !yield(run) {
				return
			}
		}
	}
}

// memoryHistory is the default History: the last limit runs, in memory.
type memoryHistory struct {
	limit int

	mu   sync.Mutex
	runs ring.Queue[Run]
}

func newMemoryHistory(limit int) *memoryHistory { return &memoryHistory{limit: limit} }

func (h *memoryHistory) Add(run Run) error {
	if h.limit == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs.Push(run)
	for h.runs.Len() > h.limit {
		h.runs.Pop()
	}
	return nil
}

// Runs yields a snapshot taken under the lock, newest first, without the
// lock held: runs are values, and the snapshot costs a copy of the bounded
// history, not of the logs and timelines the runs share.
func (h *memoryHistory) Runs() iter.Seq[Run] {
	return func(yield func(Run) bool) {
		h.mu.Lock()
		snapshot := make([]Run, h.runs.Len())
		for i := range snapshot {
			snapshot[len(snapshot)-1-i] = *h.runs.At(h.runs.Head() + uint64(i))
		}
		h.mu.Unlock()
		for _, run := range snapshot {
			if !yield(run) {
				return
			}
		}
	}
}
