package bgjob

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/lifecycle"
)

// State is where a job is in its life. The zero value is not a valid state.
//
// A job starts queued, runs, may pass through pausing, paused, canceling
// and abandoned, and ends in exactly one of the terminal states
// StateSucceeded, StateFailed or StateCanceled, which it never leaves.
// docs/design.md draws the whole machine, and a test holds the drawing to
// the transitions the code runs. Its JSON form is the lower-case name
// ("running", "pausing", …).
type State uint8

const (
	// StateQueued: accepted, waiting for a worker slot (see
	// WithMaxRunning). A job that gets a slot at once is never queued.
	StateQueued State = iota + 1
	// StateRunning: the job's goroutine runs it.
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

// The states are the lifecycle machine's, in its order.
var (
	_ = [1]struct{}{}[StateQueued-State(lifecycle.Queued)]
	_ = [1]struct{}{}[StateCanceled-State(lifecycle.Canceled)]
)

// String returns the state's name.
func (s State) String() string { return lifecycle.State(s).String() }

// Terminal reports whether the job has ended.
func (s State) Terminal() bool { return lifecycle.State(s).Terminal() }

// MarshalText returns the state's name.
func (s State) MarshalText() ([]byte, error) {
	if !lifecycle.State(s).Valid() {
		return nil, fmt.Errorf("bgjob: invalid state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a state's name.
func (s *State) UnmarshalText(b []byte) error {
	v, ok := lifecycle.Parse(string(b))
	if !ok {
		return fmt.Errorf("bgjob: unknown state %q", b)
	}
	*s = State(v)
	return nil
}

// JobStatus is a snapshot of one job. It is a plain value owned by the
// caller; it does not change when the job does.
type JobStatus struct {
	ID    uuid.UUID
	Name  string
	State State

	// HasWorker reports whether a goroutine was ever started for the job;
	// Alive whether it is still running. A job that Start did not queue
	// is running and alive as soon as Start returns.
	HasWorker bool
	Alive     bool
	// WorkerID numbers the job's worker within the Runner; WorkerName
	// names it (the job's name).
	WorkerID   int64
	WorkerName string
	ProcessID  int
	// OSThreadID and ThreadCPU are set only for a job started with
	// LockOSThread on a system that reports them (Linux).
	OSThreadID int
	ThreadCPU  time.Duration

	// Percent is in [0, 100]. With a total set it is derived from Step.
	Percent float64
	Step    int64
	Total   int64
	// Message is at most MaxMessageLen bytes.
	Message string
	// Rate is in steps per second (percent per second when the job reports
	// only percent), smoothed over recent progress as tqdm does, with
	// paused and stalled time left out; once the job ended, its average
	// over the run. ETA is the estimated time left at that rate, zero when
	// unknown.
	Rate float64
	ETA  time.Duration
	// Metrics holds the latest value of each metric the job recorded
	// (Progress.Metric), in the order they were first recorded;
	// MetricsDropped counts the values it refused (bad names, names
	// beyond MaxMetrics). Handle.Metrics has their series.
	Metrics        []Metric
	MetricsDropped uint64

	// Priority is the job's place in the queue relative to others (see
	// WithPriority); QueueWait how long it waited there.
	Priority  int
	QueueWait time.Duration

	StartTime time.Time
	EndTime   time.Time
	// Duration is the run time so far, or the whole run time once ended,
	// not counting the time spent paused, which is Paused.
	Duration time.Duration
	Paused   time.Duration
	// Stalled reports that the job has reported no progress for the
	// Runner's stall timeout (WithStallTimeout).
	Stalled bool

	// Err is nil unless the job failed or was canceled: the job's error,
	// a *PanicError, or the cancellation cause. After a JSON round trip it
	// is an error with the same message.
	Err error
	// Stack is the stack of the panicking goroutine when the job panicked.
	Stack string
}

// Running reports whether the job has a live worker and has not ended.
func (s JobStatus) Running() bool { return s.Alive && !s.State.Terminal() }

// jobStatusJSON is the wire form of a JobStatus, with the original
// design's names (thread_id, is_alive, traceback, …) and durations in
// seconds.
type jobStatusJSON struct {
	ID               uuid.UUID   `json:"job_id"`
	Name             string      `json:"name"`
	State            State       `json:"state"`
	HasWorker        bool        `json:"has_worker"`
	Alive            bool        `json:"is_alive"`
	WorkerID         int64       `json:"thread_id"`
	WorkerName       string      `json:"thread_name"`
	ProcessID        int         `json:"process_id"`
	OSThreadID       int         `json:"os_thread_id,omitempty"`
	ThreadCPUSeconds jsonSeconds `json:"thread_cpu_seconds,omitempty"`
	Percent          float64     `json:"percent"`
	Step             int64       `json:"step"`
	Total            int64       `json:"total,omitempty"`
	Message          string      `json:"message,omitempty"`
	Rate             float64     `json:"rate"`
	ETASeconds       jsonSeconds `json:"eta_seconds,omitempty"`
	Metrics          []Metric    `json:"metrics,omitempty"`
	MetricsDropped   uint64      `json:"metrics_dropped,omitempty"`
	Priority         int         `json:"priority,omitempty"`
	QueueWaitSeconds jsonSeconds `json:"queue_wait_seconds,omitempty"`
	StartTime        time.Time   `json:"start_time,omitzero"`
	EndTime          time.Time   `json:"end_time,omitzero"`
	DurationSeconds  jsonSeconds `json:"duration_seconds"`
	PausedSeconds    jsonSeconds `json:"paused_seconds,omitempty"`
	Stalled          bool        `json:"stalled,omitempty"`
	Error            string      `json:"error,omitempty"`
	Traceback        string      `json:"traceback,omitempty"`
}

func (s JobStatus) wire() jobStatusJSON {
	w := jobStatusJSON{
		ID: s.ID, Name: s.Name, State: s.State, HasWorker: s.HasWorker, Alive: s.Alive,
		WorkerID: s.WorkerID, WorkerName: s.WorkerName, ProcessID: s.ProcessID,
		OSThreadID: s.OSThreadID, ThreadCPUSeconds: jsonSeconds(s.ThreadCPU),
		Percent: s.Percent, Step: s.Step, Total: s.Total, Message: s.Message,
		Rate: finite(s.Rate), ETASeconds: jsonSeconds(s.ETA), Metrics: s.Metrics, MetricsDropped: s.MetricsDropped,
		Priority: s.Priority, QueueWaitSeconds: jsonSeconds(s.QueueWait),
		StartTime: s.StartTime, EndTime: s.EndTime,
		DurationSeconds: jsonSeconds(s.Duration), PausedSeconds: jsonSeconds(s.Paused),
		Stalled: s.Stalled, Traceback: s.Stack,
	}
	if s.Err != nil {
		w.Error = errorText(s.Err)
	}
	return w
}

func (w jobStatusJSON) status() JobStatus {
	return JobStatus{
		ID: w.ID, Name: w.Name, State: w.State, HasWorker: w.HasWorker, Alive: w.Alive,
		WorkerID: w.WorkerID, WorkerName: w.WorkerName, ProcessID: w.ProcessID,
		OSThreadID: w.OSThreadID, ThreadCPU: time.Duration(w.ThreadCPUSeconds),
		Percent: w.Percent, Step: w.Step, Total: w.Total, Message: w.Message,
		Rate: w.Rate, ETA: time.Duration(w.ETASeconds), Metrics: w.Metrics, MetricsDropped: w.MetricsDropped,
		Priority: w.Priority, QueueWait: time.Duration(w.QueueWaitSeconds),
		StartTime: w.StartTime, EndTime: w.EndTime,
		Duration: time.Duration(w.DurationSeconds), Paused: time.Duration(w.PausedSeconds),
		Stalled: w.Stalled, Err: errorFrom(w.Error), Stack: w.Traceback,
	}
}

// MarshalJSON encodes the status with snake_case names; durations are in
// seconds (duration_seconds, eta_seconds, thread_cpu_seconds, …) and the
// error is its message.
func (s JobStatus) MarshalJSON() ([]byte, error) { return json.Marshal(s.wire()) }

// UnmarshalJSON decodes the form MarshalJSON writes. The error comes back
// as an error with the same message; its type is not kept.
func (s *JobStatus) UnmarshalJSON(b []byte) error {
	var w jobStatusJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.State == 0 {
		return errNoState
	}
	*s = w.status()
	return nil
}

// errNoState refuses a status without a state, as an event without a type
// is refused: the zero State is no state, and could not be encoded again.
var errNoState = errors.New("bgjob: status has no state")

// RunnerStatus is a snapshot of a Runner. It lists the live jobs only:
// finished ones are counted in Counts and kept in the history
// (Runner.History), so that reading the status costs the same however
// long the history is.
type RunnerStatus struct {
	ProcessID int `json:"process_id"`
	// AnyRunning reports whether at least one job has a live worker
	// (running, pausing, paused, canceling or abandoned).
	AnyRunning bool `json:"any_running"`
	// Counts holds, for each state, the number of jobs in it: live jobs by
	// their current state, finished jobs over the Runner's whole life.
	Counts map[State]int `json:"counts"`
	// Jobs holds the live jobs (queued, running, …), oldest first.
	Jobs []JobStatus `json:"jobs"`
	// Closed reports whether Shutdown has been called.
	Closed bool `json:"closed"`
	// Resources is the last sample of the process's resources, taken
	// while jobs ran (see WithResourceInterval); zero before the first.
	Resources Resources `json:"resources"`
	// History says how the history store (WithHistoryStore) keeps up.
	History HistoryStatus `json:"history"`
	// Totals sums, for each state a job ended in, the runs the Runner
	// retired in it over its life: what a metrics exporter turns into a
	// count and a sum of durations. A job that has just ended is in
	// Counts a moment before it is in Totals.
	Totals map[State]RunTotals `json:"totals"`
}

// RunTotals sums finished runs.
type RunTotals struct {
	// Jobs is how many runs are summed.
	Jobs int
	// Duration sums their run times (paused time left out), QueueWait
	// their waits in the queue, Paused their paused times.
	Duration  time.Duration
	QueueWait time.Duration
	Paused    time.Duration
}

// add counts a run that ended with snapshot s.
func (t *RunTotals) add(s *snapshot) {
	t.Jobs++
	t.Duration += s.running(s.endTime)
	t.QueueWait += s.queueWait
	t.Paused += s.pausedTotal
}

type runTotalsJSON struct {
	Jobs             int         `json:"jobs"`
	DurationSeconds  jsonSeconds `json:"duration_seconds"`
	QueueWaitSeconds jsonSeconds `json:"queue_wait_seconds"`
	PausedSeconds    jsonSeconds `json:"paused_seconds"`
}

// MarshalJSON writes the durations in seconds, as JobStatus does.
func (t RunTotals) MarshalJSON() ([]byte, error) {
	return json.Marshal(runTotalsJSON{t.Jobs, jsonSeconds(t.Duration), jsonSeconds(t.QueueWait), jsonSeconds(t.Paused)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *RunTotals) UnmarshalJSON(b []byte) error {
	var w runTotalsJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = RunTotals{w.Jobs, time.Duration(w.DurationSeconds), time.Duration(w.QueueWaitSeconds), time.Duration(w.PausedSeconds)}
	return nil
}

// HistoryStatus tells how the records of finished jobs reach the history
// store. A store that fails or falls behind is reported here and in the
// Runner's log, never silently.
type HistoryStatus struct {
	// Pending is the number of records waiting to be added to the store.
	Pending int `json:"pending"`
	// Failed counts records the store refused (Add returned an error);
	// Dropped the records let go unadded because MaxPendingRecords were
	// already waiting for a store that does not keep up.
	Failed  uint64 `json:"failed"`
	Dropped uint64 `json:"dropped"`
}

// seconds converts a number of seconds to a Duration, rounded to the
// nanosecond; beyond what a Duration holds it is the longest or the
// shortest Duration, never one of the other sign.
func seconds(s float64) time.Duration {
	switch ns := math.Round(s * float64(time.Second)); {
	case math.IsNaN(ns):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= math.MinInt64:
		return math.MinInt64
	default:
		return time.Duration(ns)
	}
}

// jsonSeconds is a Duration whose JSON form is a number of seconds written
// with exactly the nanoseconds it has, and read back as exactly, so that
// every Duration survives a round trip: a float64 holds seconds to the
// nanosecond only up to 2^51 ns, 26 days, which a busy process's CPU time
// passes in a day.
type jsonSeconds time.Duration

func (s jsonSeconds) MarshalJSON() ([]byte, error) {
	u := uint64(s)
	var b []byte
	if s < 0 {
		b, u = append(b, '-'), -u
	}
	b = strconv.AppendUint(b, u/uint64(time.Second), 10)
	if frac := u % uint64(time.Second); frac != 0 {
		digits := strconv.AppendUint(nil, frac+uint64(time.Second), 10)[1:] // nine, zero-padded
		b = append(append(b, '.'), bytes.TrimRight(digits, "0")...)
	}
	return b, nil
}

// UnmarshalJSON reads a number of seconds, rounded to the nanosecond
// (half away from zero); beyond what a Duration holds it is the longest
// or the shortest Duration.
func (s *jsonSeconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || string(b) == "null" {
		return err
	}
	num := string(b)
	if strings.ContainsAny(num, "eE") || math.Abs(f) >= 1e10 {
		*s = jsonSeconds(seconds(f))
		return nil
	}
	// A plain decimal under 1e10 seconds: read it digit by digit, with no
	// float in between.
	neg := strings.HasPrefix(num, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(num, "-"), ".")
	sec, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		return err
	}
	frac += "0000000000"
	ns, _ := strconv.ParseUint(frac[:9], 10, 64)
	if frac[9] >= '5' {
		ns++
	}
	u := sec*uint64(time.Second) + ns
	switch {
	case !neg && u > math.MaxInt64:
		*s = math.MaxInt64
	case !neg:
		*s = jsonSeconds(u)
	case u > 1<<63:
		*s = math.MinInt64
	default:
		*s = jsonSeconds(-u)
	}
	return nil
}

// finite returns f, or 0 when f is not a number JSON can carry.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func errorFrom(msg string) error {
	if msg == "" {
		return nil
	}
	return errors.New(msg)
}
