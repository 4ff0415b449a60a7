package bgjobriver

import (
	"errors"
	"time"

	"github.com/bgjob/bgjob"
)

var (
	// ErrNotFound is returned for a job id the database does not hold (never
	// inserted, or deleted by River's cleaner after its retention period),
	// or that is not a bgjob job (a River job of another kind).
	ErrNotFound = errors.New("bgjobriver: job not found")

	// ErrJobDone is returned by Cancel, Pause and Resume for a job that has
	// already ended (completed, canceled or discarded).
	ErrJobDone = errors.New("bgjobriver: job already finished")

	// ErrUnknownKind is returned by Start for a kind the client has no job
	// registered for (see WithJob). A node that picks up a job of a kind it
	// does not know puts it back (River's snooze) without using one of its
	// attempts, so a node running an older build delays the job rather than
	// losing it.
	ErrUnknownKind = errors.New("bgjobriver: unknown job kind")

	// ErrNotInJob is returned by SaveCheckpoint, LoadCheckpoint and Input
	// when the context is not the context of a durable job's attempt.
	ErrNotInJob = errors.New("bgjobriver: not in a durable job")

	// ErrLeaseLost is the cause given to a job's context when its node could
	// not renew the job's heartbeat for half the rescue window (the database
	// was unreachable, or the node paused), or when another node has taken the
	// job over. The attempt stops before any other node may start the job
	// again, so two nodes never work the same job at once as long as the
	// job returns promptly once its context is canceled.
	ErrLeaseLost = errors.New("bgjobriver: lost ownership of the job")

	// ErrNodeStopping is the cause given to a job's context when its node
	// closes before the job ends (Client.Close's context expired). The
	// attempt is handed back to the queue without counting against the job's
	// attempts, and another node resumes it from its last checkpoint.
	ErrNodeStopping = errors.New("bgjobriver: node stopping")

	// ErrCheckpointTooLarge is returned by SaveCheckpoint for a state whose
	// JSON form is larger than MaxCheckpointSize.
	ErrCheckpointTooLarge = errors.New("bgjobriver: checkpoint too large")

	// ErrInputTooLarge is returned by Start for an input whose JSON form is
	// larger than MaxInputSize.
	ErrInputTooLarge = errors.New("bgjobriver: input too large")

	// ErrClosed is returned by the methods of a Client after Close.
	ErrClosed = errors.New("bgjobriver: client closed")
)

// CancelError is the cause a durable job's context carries when it was
// canceled with Client.Cancel, from whichever node: context.Cause(ctx) in
// the job returns it. The cause given to Cancel crosses processes as its
// message, Reason.
//
// It matches bgjob.ErrCanceled with errors.Is.
type CancelError struct {
	// Reason is the message of the cause given to Client.Cancel.
	Reason string
	// Node is the id of the client that asked for the cancellation.
	Node string
	// At is when it was asked, by the database's clock.
	At time.Time
}

// Error returns the reason, prefixed.
func (e *CancelError) Error() string {
	return "bgjobriver: job canceled: " + e.Reason
}

// Is reports whether target is bgjob.ErrCanceled.
func (e *CancelError) Is(target error) bool {
	return target == bgjob.ErrCanceled
}
