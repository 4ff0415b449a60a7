package bgjob

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// State is where a job is in its life. The zero value is not a valid state.
//
// A job starts queued, runs, may pass through pausing, paused, canceling
// and abandoned, and ends in exactly one of the terminal states
// StateSucceeded, StateFailed or StateCanceled, which it never leaves.
// docs/design.md draws the whole machine. Its JSON form is the lower-case
// name ("running", "pausing", …).
type State uint8

const (
	// StateQueued: accepted, waiting for a worker (see WithMaxRunning).
	StateQueued State = iota + 1
	// StateRunning: the job's goroutine is running it.
	StateRunning
	// StatePausing: a pause was requested; the job runs on until its next
	// checkpoint (Progress.Checkpoint).
	StatePausing
	// StatePaused: the job is parked at a checkpoint, using no CPU.
	StatePaused
	// StateCanceling: the job's context was canceled; the job has not
	// returned yet.
	StateCanceling
	// StateAbandoned: the job ignored its cancellation for longer than the
	// grace period (WithCancelGrace). It may still be running; the Runner
	// no longer waits for it.
	StateAbandoned
	// StateSucceeded: the job returned nil.
	StateSucceeded
	// StateFailed: the job returned an error or panicked.
	StateFailed
	// StateCanceled: the job's context was canceled and the job returned
	// an error, or it was canceled while queued.
	StateCanceled
)

var stateNames = [...]string{
	StateQueued:    "queued",
	StateRunning:   "running",
	StatePausing:   "pausing",
	StatePaused:    "paused",
	StateCanceling: "canceling",
	StateAbandoned: "abandoned",
	StateSucceeded: "succeeded",
	StateFailed:    "failed",
	StateCanceled:  "canceled",
}

// String returns the state's name.
func (s State) String() string {
	if s == 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", uint8(s))
	}
	return stateNames[s]
}

// Terminal reports whether the job has ended.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// working reports whether the job's goroutine runs it.
func (s State) working() bool { return s >= StateRunning && s <= StateAbandoned }

// MarshalText returns the state's name.
func (s State) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("bgjob: invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText parses a state's name.
func (s *State) UnmarshalText(b []byte) error {
	for i, name := range stateNames {
		if i > 0 && name == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("bgjob: unknown state %q", b)
}

// JobStatus is a snapshot of one job. It is a plain value owned by the
// caller; it does not change when the job does.
type JobStatus struct {
	ID    uuid.UUID `json:"job_id"`
	Name  string    `json:"name"`
	State State     `json:"state"`

	// HasWorker reports whether a goroutine was ever started for the job;
	// Alive whether it is still running.
	HasWorker bool `json:"has_worker"`
	Alive     bool `json:"is_alive"`
	// WorkerID numbers the job's worker within the Runner; WorkerName
	// names it (the job's name).
	WorkerID   int64  `json:"thread_id"`
	WorkerName string `json:"thread_name"`
	ProcessID  int    `json:"process_id"`
	// OSThreadID and ThreadCPU are set only for a job started with
	// LockOSThread on a system that reports them (Linux).
	OSThreadID int           `json:"os_thread_id,omitempty"`
	ThreadCPU  time.Duration `json:"-"`

	// Percent is in [0, 100]. With a total set it is derived from Step.
	Percent float64 `json:"percent"`
	Step    int64   `json:"step"`
	Total   int64   `json:"total,omitempty"`
	Message string  `json:"message,omitempty"`
	// Rate is in steps per second (percent per second when the job reports
	// only percent); ETA is the estimated time left, zero when unknown.
	Rate float64       `json:"rate"`
	ETA  time.Duration `json:"-"`

	// Priority is the job's place in the queue relative to others (see
	// WithPriority); QueueWait how long it waited there.
	Priority  int           `json:"priority,omitempty"`
	QueueWait time.Duration `json:"-"`

	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
	// Duration is the run time so far, or the whole run time once ended,
	// not counting the time spent paused, which is Paused.
	Duration time.Duration `json:"-"`
	Paused   time.Duration `json:"-"`
	// Stalled reports that the job has reported no progress for the
	// Runner's stall timeout (WithStallTimeout).
	Stalled bool `json:"stalled,omitempty"`

	// Err is nil unless the job failed or was canceled: the job's error,
	// a *PanicError, or the cancellation cause.
	Err error `json:"-"`
	// Stack is the stack of the panicking goroutine when the job panicked.
	Stack string `json:"traceback,omitempty"`
}

// MarshalJSON encodes the status with snake_case names; durations are in
// seconds (duration_seconds, eta_seconds, thread_cpu_seconds) and the error
// is its message.
func (s JobStatus) MarshalJSON() ([]byte, error) {
	type plain JobStatus // without this method, to encode the tagged fields
	w := struct {
		plain
		DurationSeconds  float64 `json:"duration_seconds"`
		PausedSeconds    float64 `json:"paused_seconds,omitempty"`
		QueueWaitSeconds float64 `json:"queue_wait_seconds,omitempty"`
		ETASeconds       float64 `json:"eta_seconds,omitempty"`
		ThreadCPUSeconds float64 `json:"thread_cpu_seconds,omitempty"`
		Error            string  `json:"error,omitempty"`
	}{
		plain:            plain(s),
		DurationSeconds:  s.Duration.Seconds(),
		PausedSeconds:    s.Paused.Seconds(),
		QueueWaitSeconds: s.QueueWait.Seconds(),
		ETASeconds:       s.ETA.Seconds(),
		ThreadCPUSeconds: s.ThreadCPU.Seconds(),
	}
	if s.Err != nil {
		w.Error = s.Err.Error()
	}
	return json.Marshal(w)
}

// Running reports whether the job has a live worker and has not ended.
func (s JobStatus) Running() bool { return s.Alive && !s.State.Terminal() }

// RunnerStatus is a snapshot of a Runner.
type RunnerStatus struct {
	ProcessID int `json:"process_id"`
	// AnyRunning reports whether at least one job has a live worker
	// (running, pausing, paused, canceling or abandoned).
	AnyRunning bool `json:"any_running"`
	// Counts holds, for each state, the number of jobs in it: live jobs by
	// their current state, finished jobs over the Runner's whole life.
	Counts map[State]int `json:"counts"`
	// Jobs holds the live jobs, then the most recently finished ones the
	// Runner remembers (see WithHistoryLimit), oldest first in each group.
	Jobs []JobStatus `json:"jobs"`
	// Closed reports whether Shutdown has been called.
	Closed bool `json:"closed"`
	// Resources is the last sample of the process's resources, taken
	// while jobs ran (see WithResourceInterval); zero before the first.
	Resources Resources `json:"resources"`
}
