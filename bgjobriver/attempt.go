package bgjobriver

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// attempt is what a durable job's context carries about the River attempt
// running it: the job's identity, its input, its checkpoint.
type attempt struct {
	c           *Client
	jobID       int64
	number      int
	maxAttempts int
	kind        string
	input       json.RawMessage
	resumed     bool // an earlier attempt saved a checkpoint

	// saving is held (a one-slot semaphore, so that waiting for it can
	// honour a context) from a save's write to the row until checkpoint
	// holds what it wrote: saves one after another, so that the state in
	// memory is never older than the row's.
	saving chan struct{}

	mu         sync.Mutex      // guards checkpoint; taken inside saving
	checkpoint json.RawMessage // the last state stored, nil for none
}

func newAttempt(c *Client, jobID int64, number, maxAttempts int, kind string, input, checkpoint json.RawMessage) *attempt {
	if string(checkpoint) == "null" {
		checkpoint = nil
	}
	return &attempt{
		c: c, jobID: jobID, number: number, maxAttempts: maxAttempts,
		kind: kind, input: input, resumed: checkpoint != nil,
		saving: make(chan struct{}, 1), checkpoint: checkpoint,
	}
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) (*attempt, bool) {
	if ctx == nil {
		return nil, false
	}
	a, ok := ctx.Value(attemptKey{}).(*attempt)
	return a, ok
}

// Attempt describes the attempt a durable job runs in.
type Attempt struct {
	// JobID is the job's id (River's), the one Client methods take.
	JobID int64
	// Number counts the job's attempts, from 1; MaxAttempts is how many it
	// gets.
	Number      int
	MaxAttempts int
	// Kind is the kind the job was registered under.
	Kind string
	// Node is the id of the client working it.
	Node string
	// Resumed reports that an earlier attempt saved a checkpoint: the
	// attempt started from it. It stays false on an attempt that started
	// from scratch, whatever that attempt saves.
	Resumed bool
}

// CurrentAttempt returns the attempt the durable job whose context ctx is
// runs in; false outside a durable job (for a job run on a plain Runner).
func CurrentAttempt(ctx context.Context) (Attempt, bool) {
	a, ok := attemptFrom(ctx)
	if !ok {
		return Attempt{}, false
	}
	return Attempt{
		JobID: a.jobID, Number: a.number, MaxAttempts: a.maxAttempts,
		Kind: a.kind, Node: a.c.cfg.id, Resumed: a.resumed,
	}, true
}

// Input decodes the job's input (the value given to Client.Start) into v.
// It leaves v alone when the job was started without input, and returns
// ErrNotInJob outside a durable job.
func Input(ctx context.Context, v any) error {
	a, ok := attemptFrom(ctx)
	if !ok {
		return ErrNotInJob
	}
	if len(a.input) == 0 {
		return nil
	}
	if err := json.Unmarshal(a.input, v); err != nil {
		return fmt.Errorf("bgjobriver: input: %w", err)
	}
	return nil
}

// SaveCheckpoint stores v (any value JSON can encode, at most
// MaxCheckpointSize bytes of it) with the job, in its row: when it returns
// nil, the state is durable, and an attempt that follows — after a crash,
// a hand-over or a retry — reads it back with LoadCheckpoint. It costs one
// write to the database, so call it at the end of an epoch or a batch, not in
// the innermost loop. Saves made at once from several goroutines are made
// one after another; the last to return is the state stored.
//
// It honours ctx, and gives up after half the rescue window in any case
// (the attempt is fenced off by then). The job's context is canceled when
// the job is asked to stop (Cancel, the node closing, ErrLeaseLost); to
// store the state on the way out, pass context.WithoutCancel(ctx).
//
// It returns ErrLeaseLost when this attempt no longer owns the job (another
// node took it over): the job should stop; its context is canceled too.
// It returns ErrNotInJob outside a durable job.
func SaveCheckpoint(ctx context.Context, v any) error {
	a, ok := attemptFrom(ctx)
	if !ok {
		return ErrNotInJob
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bgjobriver: checkpoint: %w", err)
	}
	if len(b) > MaxCheckpointSize {
		return fmt.Errorf("%w: %d bytes", ErrCheckpointTooLarge, len(b))
	}
	// A busy database may take a while; past half the window the attempt
	// is fenced off, and the write would be refused anyway.
	qctx, cancel := context.WithTimeout(ctx, a.c.cfg.rescueAfter/2)
	defer cancel()
	select {
	case a.saving <- struct{}{}:
	case <-qctx.Done():
		return fmt.Errorf("bgjobriver: checkpoint: %w", context.Cause(qctx))
	}
	defer func() { <-a.saving }()
	n, err := a.c.conn.exec(qctx, a.c.dialect.checkpoint, a.jobID, a.number, a.c.cfg.id, string(b))
	if err != nil {
		return fmt.Errorf("bgjobriver: checkpoint: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	a.mu.Lock()
	a.checkpoint = b
	a.mu.Unlock()
	return nil
}

// LoadCheckpoint decodes the job's last checkpoint into v and reports
// whether there was one: false on a job's first attempt, or when no attempt
// saved one. It reads what the attempt started with, or what it saved since,
// without going to the database. It returns ErrNotInJob outside a durable
// job.
func LoadCheckpoint(ctx context.Context, v any) (bool, error) {
	a, ok := attemptFrom(ctx)
	if !ok {
		return false, ErrNotInJob
	}
	a.mu.Lock()
	b := a.checkpoint
	a.mu.Unlock()
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("bgjobriver: checkpoint: %w", err)
	}
	return true, nil
}
