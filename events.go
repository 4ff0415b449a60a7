package bgjob

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/delivery"
)

// EventType says what an Event reports. The zero value is not a valid type.
// Its JSON form is the snake_case name ("worker_started", …).
type EventType uint8

const (
	// EventInfo: the Runner accepted the job. Carries the worker id and
	// name, the process id and whether the worker is alive: a job that
	// gets a worker slot at once is already running. Always the first
	// event of a job.
	EventInfo EventType = iota + 1
	// EventQueued: the job waits for a worker, because WithMaxRunning jobs
	// already run. Carries its place in the queue (QueuePosition, 1 is
	// next). Comes right after EventInfo, for queued jobs only.
	EventQueued
	// EventWorkerStarted: the job's goroutine was started. Carries the
	// start time and, for a job that was queued, QueueWait.
	EventWorkerStarted
	// EventProgress: the job reported progress. Progress events are rate
	// limited (see WithProgressInterval) and coalesced for a reader that
	// falls behind; the last one before EventComplete is always
	// published.
	EventProgress
	// EventPaused: the job parked at a checkpoint after a pause request.
	EventPaused
	// EventResumed: the job left its checkpoint after Resume. Carries the
	// length of that pause in Paused.
	EventResumed
	// EventStalled: the job reported no progress for the stall timeout
	// (WithStallTimeout). Stack holds the stacks of the goroutines that
	// carry the job's pprof labels, as function and file:line for a
	// person to read; Handle.Stacks gives the full dump.
	EventStalled
	// EventUnstalled: a stalled job reported progress again.
	EventUnstalled
	// EventLog: the job logged a line (Progress.Logger). Carries Level,
	// Message and Attrs. A reader that falls behind loses the oldest log
	// lines first, within a fixed bound (WithLogBacklog), counted in
	// SubscriptionStats.LogDropped; it never loses other events for them.
	EventLog
	// EventAbandoned: the job ignored its cancellation for longer than the
	// grace period (WithCancelGrace); it may still be running, but the
	// Runner no longer waits for it.
	EventAbandoned
	// EventComplete: the job ended. Carries the state (succeeded, failed or
	// canceled), the duration, the queue wait, the time paused, the error
	// and, for a panic, the stack.
	EventComplete
	// EventWorkerStopped: the job's goroutine has returned (or, for a job
	// canceled while queued, will never start). Always the last event of a
	// job.
	EventWorkerStopped
	// EventLagged is not about a job: it tells one subscriber that it fell
	// behind and lost the events with sequence numbers LagFirst to LagLast,
	// of the jobs LagJobs (and more when LagMore).
	EventLagged
)

var eventTypeNames = [...]string{
	EventInfo:          "info",
	EventQueued:        "queued",
	EventWorkerStarted: "worker_started",
	EventProgress:      "progress",
	EventPaused:        "paused",
	EventResumed:       "resumed",
	EventStalled:       "stalled",
	EventUnstalled:     "unstalled",
	EventLog:           "log",
	EventAbandoned:     "abandoned",
	EventComplete:      "complete",
	EventWorkerStopped: "worker_stopped",
	EventLagged:        "lagged",
}

// String returns the type's snake_case name.
func (t EventType) String() string {
	if t == 0 || int(t) >= len(eventTypeNames) {
		return fmt.Sprintf("EventType(%d)", uint8(t))
	}
	return eventTypeNames[t]
}

// MarshalText returns the type's snake_case name.
func (t EventType) MarshalText() ([]byte, error) {
	if t == 0 || int(t) >= len(eventTypeNames) {
		return nil, fmt.Errorf("bgjob: invalid event type %d", uint8(t))
	}
	return []byte(eventTypeNames[t]), nil
}

// UnmarshalText parses a type's snake_case name.
func (t *EventType) UnmarshalText(b []byte) error {
	for i, name := range eventTypeNames {
		if i > 0 && name == string(b) {
			*t = EventType(i)
			return nil
		}
	}
	return fmt.Errorf("bgjob: unknown event type %q", b)
}

// Event is one thing that happened to a job, as delivered to subscribers.
//
// Every event of a job carries the job's identity, its state after the
// event and its progress at that moment (percent, step, total, message,
// rate, ETA, run time), so that any one event, read alone, is a true
// picture of the job. Fields that do not apply to the event's type are
// zero. An Event received from a channel belongs to its reader: its
// slices are the reader's own.
type Event struct {
	Type EventType
	// Seq numbers the events the Runner publishes, in the order it
	// publishes them. Each subscriber receives events in increasing Seq
	// order. Numbers may be skipped: by a subscription's filter, and by
	// an event that replaced older ones its reader had not received yet,
	// which is delivered under the oldest one's number (see Folded). A
	// lagged event has Seq 0.
	Seq  uint64
	Time time.Time

	JobID      uuid.UUID
	JobName    string
	WorkerID   int64
	WorkerName string
	ProcessID  int
	// OSThreadID is set for a job started with LockOSThread (Linux).
	OSThreadID int
	// Alive reports whether the job's goroutine is running.
	Alive bool

	// State is the job's state after the event; Stalled tells that the
	// job was marked stalled then (see WithStallTimeout).
	State   State
	Stalled bool

	// The job's progress when the event was published.
	Percent float64
	Step    int64
	Total   int64
	Message string
	Rate    float64
	ETA     time.Duration
	// Metrics holds the latest value of each metric the job records
	// (Progress.Metric), in progress, paused, resumed, stalled, unstalled
	// and complete events.
	Metrics []Metric

	// QueuePosition is the job's place in the queue (EventQueued).
	QueuePosition int
	// QueueWait is how long the job waited for a worker
	// (EventWorkerStarted and after).
	QueueWait time.Duration
	// StartTime is when the worker started (from EventWorkerStarted on).
	StartTime time.Time
	// Duration is the run time so far, not counting pauses.
	Duration time.Duration
	// Paused is the time spent paused: in the pause that just ended
	// (EventResumed), in all pauses (EventComplete).
	Paused time.Duration
	// ThreadCPU is the CPU time of the job's locked OS thread
	// (EventComplete, LockOSThread only).
	ThreadCPU time.Duration
	// Err is the error of a failed or canceled job (EventComplete).
	Err error
	// Stack is the panicking goroutine's stack (EventComplete after a
	// panic), or the stacks of the job's goroutines (EventStalled), at
	// most MaxStackLen bytes.
	Stack string

	// Level and Attrs go with Message in an EventLog.
	Level slog.Level
	Attrs []LogAttr

	// Folded counts the events of this job that this one replaced in its
	// subscription before the reader received them: progress, paused,
	// resumed, stalled and unstalled events of a reader that fell behind
	// fold into the newest one, which carries the job's latest state and
	// progress. Zero when nothing was folded.
	Folded int

	// LagFirst and LagLast name the range of sequence numbers a lagged
	// subscriber lost (EventLagged): every event in the range that the
	// subscription would have received was lost. LagJobs names the jobs
	// those events were about (at most MaxLagJobs; LagMore says there
	// were more), so that the reader knows which to read again.
	LagFirst uint64
	LagLast  uint64
	LagJobs  []uuid.UUID
	LagMore  bool
}

// MaxLagJobs is the most jobs one EventLagged names.
const MaxLagJobs = 64

var _ = [1]struct{}{}[MaxLagJobs-delivery.MaxLagKeys]

// Success reports whether the event is the completion of a job that
// succeeded.
func (e Event) Success() bool { return e.Type == EventComplete && e.State == StateSucceeded }

// Lost returns how many sequence numbers an EventLagged names.
func (e Event) Lost() uint64 {
	if e.Type != EventLagged {
		return 0
	}
	return e.LagLast - e.LagFirst + 1
}

// class says how the event travels to subscribers: what may fold, what
// keeps its place whatever happens, and what goes in the log lane.
func (t EventType) class() delivery.Class {
	switch t {
	case EventProgress, EventPaused, EventResumed, EventStalled, EventUnstalled:
		return delivery.Foldable
	case EventLog:
		return delivery.Log
	default:
		return delivery.Lifecycle
	}
}

// stamped returns e as one reader receives it: with its slices its own,
// its sequence number, and how many of the job's older events it
// replaced in that reader's subscription.
func (e Event) stamped(seq uint64, folded int) Event {
	e.own()
	e.Seq, e.Folded = seq, folded
	return e
}

// own gives e slices of its own, so that readers of one event never
// share memory.
func (e *Event) own() {
	if e.Attrs != nil {
		e.Attrs = slices.Clone(e.Attrs)
	}
	if e.LagJobs != nil {
		e.LagJobs = slices.Clone(e.LagJobs)
	}
	if e.Metrics != nil {
		e.Metrics = slices.Clone(e.Metrics)
	}
}

// eventJSON is the wire form of an Event. Its names follow the original
// design (process_id, thread_id, traceback, …).
type eventJSON struct {
	Type            EventType    `json:"type"`
	Seq             uint64       `json:"seq,omitempty"`
	Timestamp       time.Time    `json:"timestamp"`
	JobID           uuid.UUID    `json:"job_id,omitzero"`
	Name            string       `json:"name,omitempty"`
	ThreadID        int64        `json:"thread_id,omitempty"`
	ThreadName      string       `json:"thread_name,omitempty"`
	ProcessID       int          `json:"process_id,omitempty"`
	OSThreadID      int          `json:"os_thread_id,omitempty"`
	IsAlive         bool         `json:"is_alive"`
	State           State        `json:"state,omitzero"`
	Stalled         bool         `json:"stalled,omitempty"`
	Message         string       `json:"message,omitempty"`
	Percent         *float64     `json:"percent,omitempty"`
	Step            int64        `json:"step,omitempty"`
	Total           int64        `json:"total,omitempty"`
	Rate            float64      `json:"rate,omitempty"`
	ETASeconds      jsonSeconds  `json:"eta_seconds,omitempty"`
	Metrics         []Metric     `json:"metrics,omitempty"`
	QueuePosition   int          `json:"queue_position,omitempty"`
	QueueWait       jsonSeconds  `json:"queue_wait_seconds,omitempty"`
	StartTime       time.Time    `json:"start_time,omitzero"`
	Success         *bool        `json:"success,omitempty"`
	DurationSeconds *jsonSeconds `json:"duration_seconds,omitempty"`
	PausedSeconds   jsonSeconds  `json:"paused_seconds,omitempty"`
	ThreadCPU       jsonSeconds  `json:"thread_cpu_seconds,omitempty"`
	Error           string       `json:"error,omitempty"`
	Traceback       string       `json:"traceback,omitempty"`
	Level           *slog.Level  `json:"level,omitempty"`
	Attrs           []LogAttr    `json:"attrs,omitempty"`
	Folded          int          `json:"folded,omitempty"`
	LagFirst        uint64       `json:"lag_first,omitempty"`
	LagLast         uint64       `json:"lag_last,omitempty"`
	LagJobs         []uuid.UUID  `json:"lag_jobs,omitempty"`
	LagMore         bool         `json:"lag_more,omitempty"`
}

// MarshalJSON encodes the event with snake_case names; durations are in
// seconds and the error is its message. Every event of a job has percent
// and duration_seconds, even when zero; success is present only in a
// complete event, level and attrs only in a log event.
func (e Event) MarshalJSON() ([]byte, error) {
	w := eventJSON{
		Type: e.Type, Seq: e.Seq, Timestamp: e.Time,
		JobID: e.JobID, Name: e.JobName, ThreadID: e.WorkerID, ThreadName: e.WorkerName,
		ProcessID: e.ProcessID, OSThreadID: e.OSThreadID, IsAlive: e.Alive, State: e.State, Stalled: e.Stalled,
		Message: e.Message, Step: e.Step, Total: e.Total, Rate: finite(e.Rate),
		ETASeconds: jsonSeconds(e.ETA), Metrics: e.Metrics, StartTime: e.StartTime,
		QueuePosition: e.QueuePosition, QueueWait: jsonSeconds(e.QueueWait), PausedSeconds: jsonSeconds(e.Paused),
		ThreadCPU: jsonSeconds(e.ThreadCPU), Traceback: e.Stack, Folded: e.Folded,
		LagFirst: e.LagFirst, LagLast: e.LagLast, LagJobs: e.LagJobs, LagMore: e.LagMore,
	}
	if e.Type != EventLagged {
		percent, duration := e.Percent, jsonSeconds(e.Duration)
		w.Percent, w.DurationSeconds = &percent, &duration
	}
	if e.Type == EventComplete {
		ok := e.Success()
		w.Success = &ok
	}
	if e.Type == EventLog {
		level := e.Level
		w.Level, w.Attrs = &level, e.Attrs
	}
	if e.Err != nil {
		w.Error = errorText(e.Err)
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes the form MarshalJSON writes. The error comes back
// as an error with the same message; its type is not kept.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w eventJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type == 0 {
		return errors.New("bgjob: event has no type")
	}
	*e = Event{
		Type: w.Type, Seq: w.Seq, Time: w.Timestamp,
		JobID: w.JobID, JobName: w.Name, WorkerID: w.ThreadID, WorkerName: w.ThreadName,
		ProcessID: w.ProcessID, OSThreadID: w.OSThreadID, Alive: w.IsAlive, State: w.State, Stalled: w.Stalled,
		Message: w.Message, Step: w.Step, Total: w.Total, Rate: w.Rate,
		ETA: time.Duration(w.ETASeconds), Metrics: w.Metrics, StartTime: w.StartTime,
		QueuePosition: w.QueuePosition, QueueWait: time.Duration(w.QueueWait), Paused: time.Duration(w.PausedSeconds),
		ThreadCPU: time.Duration(w.ThreadCPU), Err: errorFrom(w.Error),
		Stack: w.Traceback, Attrs: w.Attrs, Folded: w.Folded,
		LagFirst: w.LagFirst, LagLast: w.LagLast, LagJobs: w.LagJobs, LagMore: w.LagMore,
	}
	if w.Percent != nil {
		e.Percent = *w.Percent
	}
	if w.DurationSeconds != nil {
		e.Duration = time.Duration(*w.DurationSeconds)
	}
	if w.Level != nil {
		e.Level = *w.Level
	}
	return nil
}
