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

	mu         sync.Mutex      // guards checkpoint
	checkpoint json.RawMessage // the last state stored, nil for none
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
	// Resumed reports that an earlier attempt saved a checkpoint.
	Resumed bool
}

// CurrentAttempt returns the attempt the durable job whose context ctx is
// runs in; false outside a durable job (for a job run on a plain Runner).
func CurrentAttempt(ctx context.Context) (Attempt, bool) {
	a, ok := attemptFrom(ctx)
	if !ok {
		return Attempt{}, false
	}
	a.mu.Lock()
	resumed := a.checkpoint != nil
	a.mu.Unlock()
	return Attempt{
		JobID: a.jobID, Number: a.number, MaxAttempts: a.maxAttempts,
		Kind: a.kind, Node: a.c.cfg.id, Resumed: resumed,
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
// the innermost loop.
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
	// A busy database may take a while; the fence is half the window.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.c.cfg.rescueAfter/2)
	defer cancel()
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
