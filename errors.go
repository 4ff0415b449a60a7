package bgjob

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

var (
	// ErrRunnerClosed is returned by Start and Subscribe once Shutdown has
	// been called.
	ErrRunnerClosed = errors.New("bgjob: runner is shut down")

	// ErrShutdown is the cause given to the context of a job that Shutdown
	// canceled because its deadline passed.
	ErrShutdown = errors.New("bgjob: runner shutting down")

	// ErrNilJob is returned by Start for a nil Job.
	ErrNilJob = errors.New("bgjob: nil job")

	// ErrInvalidName is returned by Start for a name that is empty, longer
	// than MaxNameLen bytes, not valid UTF-8 or holding control characters.
	ErrInvalidName = errors.New("bgjob: invalid job name")

	// ErrInvalidOption is returned for an option given a value out of its
	// range.
	ErrInvalidOption = errors.New("bgjob: invalid option")

	// ErrNilContext is returned by every method that takes a context and
	// returns an error, for a nil context.
	ErrNilContext = errors.New("bgjob: nil context")

	// ErrJobDone is returned by Handle.Cancel when the job has already
	// ended.
	ErrJobDone = errors.New("bgjob: job already finished")

	// ErrQueueFull is returned by Start when the queue of jobs waiting for
	// a worker holds WithMaxQueued jobs already.
	ErrQueueFull = errors.New("bgjob: job queue is full")

	// ErrNotRunning is returned by Pause and Resume for a job that is
	// queued, canceling, abandoned or finished.
	ErrNotRunning = errors.New("bgjob: job is not running")

	// ErrNotPaused is returned by Resume for a running job that was not
	// asked to pause.
	ErrNotPaused = errors.New("bgjob: job is not paused")

	// ErrTimeout is the cause given to the context of a job that ran past
	// its timeout (WithTimeout). It wraps context.DeadlineExceeded.
	ErrTimeout = fmt.Errorf("bgjob: job timed out: %w", context.DeadlineExceeded)

	// ErrUnknownJob is returned by Runner.Job and Subscribe (WithJob) for
	// an id the Runner does not know or no longer remembers.
	ErrUnknownJob = errors.New("bgjob: unknown job")

	// ErrCanceled is the cause recorded when a job is canceled through
	// Handle.Cancel with a nil cause.
	ErrCanceled = errors.New("bgjob: job canceled")
)

var errNilEventLog = fmt.Errorf("%w: nil event log", ErrInvalidOption)

// PanicError is the error of a job that panicked. It keeps the value given
// to panic and the stack of the goroutine that panicked, so that a crash in
// a background job is as easy to diagnose as one in the foreground.
type PanicError struct {
	// Value is the value the job passed to panic.
	Value any
	// Stack is the stack of the panicking goroutine, formatted as by
	// runtime/debug.Stack, at most MaxStackLen bytes (the innermost
	// frames kept).
	Stack []byte
}

// Error reports the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("bgjob: job panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, so that errors.Is and
// errors.As see through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ShutdownError is returned by Runner.Shutdown when its context ended while
// jobs were still running, or while the history store had not taken the
// records of every finished job, or the event log's handler (WithEventLog)
// had not written the last events. Those jobs have been canceled with
// ErrShutdown as the cause; they report their end through events as
// usual, and the records are handed over as the store takes them.
type ShutdownError struct {
	// Err is the context's error.
	Err error
	// Jobs are the jobs that had not stopped, with their status at the
	// moment Shutdown gave up waiting.
	Jobs []JobStatus
	// PendingRecords is the number of records the history store had not
	// taken yet (see WithHistoryStore).
	PendingRecords int
}

// Error names the jobs that had not stopped.
func (e *ShutdownError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bgjob: shutdown: %v", e.Err)
	if len(e.Jobs) > 0 {
		fmt.Fprintf(&b, "; %d job(s) still running:", len(e.Jobs))
		for i, j := range e.Jobs {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s (%s)", j.Name, shortID(j.ID))
		}
	}
	if e.PendingRecords > 0 {
		fmt.Fprintf(&b, "; %d record(s) not yet in the history store", e.PendingRecords)
	}
	return b.String()
}

// Unwrap returns the context's error.
func (e *ShutdownError) Unwrap() error { return e.Err }

func shortID(id uuid.UUID) string { return id.String()[:8] }

// errorText returns err's message. An error is the job's own value, and
// its Error method the job's code: one that panics (a nil pointer of the
// job's error type, say) must not take down a status read, an encoding or
// a log line, so the panic is recovered and the error named instead.
func errorText(err error) (text string) {
	if err == nil {
		return ""
	}
	defer func() {
		if v := recover(); v != nil {
			text = fmt.Sprintf("%T (its Error method panicked: %v)", err, v)
		}
	}()
	return err.Error()
}
