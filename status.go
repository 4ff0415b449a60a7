package bgjob

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// State is where a job is in its life. The zero value is not a valid state.
//
// A job moves from StateRunning to exactly one of the terminal states
// StateSucceeded, StateFailed or StateCanceled, and never leaves it. Its
// JSON form is the lower-case name ("running", "succeeded", …).
type State uint8

const (
	// StateQueued: accepted, waiting for a worker.
	StateQueued State = iota + 1
	// StateRunning: the job's goroutine is running it.
	StateRunning
	// StatePaused: the job is parked at a checkpoint.
	StatePaused
	// StateSucceeded: the job returned nil.
	StateSucceeded
	// StateFailed: the job returned an error or panicked.
	StateFailed
	// StateCanceled: the job's context was canceled and the job returned.
	StateCanceled
)

var stateNames = [...]string{
	StateQueued:    "queued",
	StateRunning:   "running",
	StatePaused:    "paused",
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

	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
	// Duration is the run time so far, or the whole run time once ended.
	Duration time.Duration `json:"-"`

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
		ETASeconds       float64 `json:"eta_seconds,omitempty"`
		ThreadCPUSeconds float64 `json:"thread_cpu_seconds,omitempty"`
		Error            string  `json:"error,omitempty"`
	}{
		plain:            plain(s),
		DurationSeconds:  s.Duration.Seconds(),
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
	// AnyRunning reports whether at least one job is running or paused.
	AnyRunning bool `json:"any_running"`
	// Counts holds, for each state, the number of jobs in it: live jobs by
	// their current state, finished jobs over the Runner's whole life.
	Counts map[State]int `json:"counts"`
	// Jobs holds the live jobs, then the most recently finished ones the
	// Runner remembers (see WithHistoryLimit), oldest first in each group.
	Jobs []JobStatus `json:"jobs"`
	// Closed reports whether Shutdown has been called.
	Closed bool `json:"closed"`
}
