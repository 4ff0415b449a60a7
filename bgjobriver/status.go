package bgjobriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Status is a durable job's status as any node reads it from the job's row:
// the bgjob status its node last wrote (at most a heartbeat old), with its
// state taken from River's, and what River and this package know of the job
// across attempts. It is a plain value, the caller's own.
//
// State maps River's states: available, scheduled, retryable and pending
// read queued (with the last attempt's progress and error, if any);
// running reads as its node last wrote it (running, pausing, paused,
// canceling); completed reads succeeded, cancelled canceled, discarded
// failed. Alive is true while the job is running and its heartbeat is
// fresher than the rescue window, by the reading node's clock.
type Status struct {
	bgjob.JobStatus

	// JobID is River's id of the job, the one Client methods take. The
	// embedded ID is the job's own UUID, the same across attempts.
	JobID int64
	// Kind is the kind the job was registered under.
	Kind string
	// RiverState is River's state of the job.
	RiverState rivertype.JobState
	// Attempt counts the attempts so far, from 1 once the job has run;
	// MaxAttempts is how many it gets.
	Attempt     int
	MaxAttempts int
	// Node is the id of the client working the job, or that worked it last;
	// RunID is that attempt's job id on that node's Runner (its history).
	Node  string
	RunID uuid.UUID
	// Heartbeat is when the node working the job last wrote, by the
	// database's clock.
	Heartbeat time.Time
	// CancelRequested and PauseRequested tell that Cancel or Pause was asked
	// for (from any node), before the node working the job acted on it.
	CancelRequested bool
	PauseRequested  bool
	// HasCheckpoint tells that the job saved a checkpoint.
	HasCheckpoint bool
	// Rescues counts the times the job was taken back from a silent node.
	Rescues int
	// Errors are the errors of the attempts that failed, oldest first, as
	// River records them.
	Errors []rivertype.AttemptError
	// CreatedAt is when the job was inserted; ScheduledAt when it is, or
	// was, due to run.
	CreatedAt   time.Time
	ScheduledAt time.Time
}

// Finished reports whether the job has ended for good: completed, canceled
// or discarded. A failed attempt with attempts left is not finished.
func (s Status) Finished() bool {
	return s.RiverState == rivertype.JobStateCompleted ||
		s.RiverState == rivertype.JobStateCancelled ||
		s.RiverState == rivertype.JobStateDiscarded
}

// MarshalJSON encodes the bgjob status's JSON object (see
// bgjob.JobStatus.MarshalJSON, where "job_id" is the job's UUID) with the
// durable fields added in snake_case, River's id as "river_job_id".
func (s Status) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(s.JobStatus)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	extra := map[string]any{
		"river_job_id": s.JobID, "kind": s.Kind, "river_state": s.RiverState,
		"attempt": s.Attempt, "max_attempts": s.MaxAttempts,
		"node": s.Node, "run_id": s.RunID, "heartbeat": s.Heartbeat,
		"cancel_requested": s.CancelRequested, "pause_requested": s.PauseRequested,
		"has_checkpoint": s.HasCheckpoint, "rescues": s.Rescues,
		"errors": s.Errors, "created_at": s.CreatedAt, "scheduled_at": s.ScheduledAt,
	}
	for k, v := range extra {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = b
	}
	return json.Marshal(m)
}

// Status returns the status of the job with the given id, from any node.
// It returns ErrNotFound for an id the database does not hold, or that is
// a River job of another kind.
func (c *Client) Status(ctx context.Context, id int64) (Status, error) {
	if ctx == nil {
		return Status{}, bgjob.ErrNilContext
	}
	if c.isClosed() {
		return Status{}, ErrClosed
	}
	row, err := c.river.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return Status{}, ErrNotFound
	}
	if err != nil {
		return Status{}, fmt.Errorf("bgjobriver: status: %w", err)
	}
	if err := checkBgjob(row); err != nil {
		return Status{}, err
	}
	return statusFromRow(row, c.cfg.rescueAfter, time.Now()), nil
}

// ListFilter selects jobs for List. The zero value selects the newest
// DefaultListLimit jobs of the client's queue.
type ListFilter struct {
	// States, when not empty, keeps the jobs in one of these states.
	States []bgjob.State
	// Kind, when not empty, keeps the jobs of this kind.
	Kind string
	// Limit bounds the rows read, newest first (default DefaultListLimit,
	// at most MaxListLimit); Kind is applied to those rows. Each row is
	// read whole, input (up to MaxInputSize) and checkpoint included.
	Limit int
}

// Bounds of ListFilter.Limit.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1_000
)

// List returns the status of the jobs of the client's queue that f selects,
// newest first, from any node.
func (c *Client) List(ctx context.Context, f ListFilter) ([]Status, error) {
	if ctx == nil {
		return nil, bgjob.ErrNilContext
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	params := river.NewJobListParams().Kinds(RiverKind).Queues(c.cfg.queue).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit)
	if len(f.States) > 0 {
		var states []rivertype.JobState
		for _, s := range f.States {
			for _, rs := range riverStates(s) {
				if !slices.Contains(states, rs) {
					states = append(states, rs)
				}
			}
		}
		params = params.States(states...)
	}
	res, err := c.river.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("bgjobriver: list: %w", err)
	}
	now := time.Now()
	out := make([]Status, 0, len(res.Jobs))
	for _, row := range res.Jobs {
		s := statusFromRow(row, c.cfg.rescueAfter, now)
		if f.Kind != "" && s.Kind != f.Kind {
			continue
		}
		if len(f.States) > 0 && !slices.Contains(f.States, s.State) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// riverStates returns the River states a bgjob state is read from.
func riverStates(s bgjob.State) []rivertype.JobState {
	switch s {
	case bgjob.StateQueued:
		return []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStateScheduled,
			rivertype.JobStateRetryable, rivertype.JobStatePending}
	case bgjob.StateSucceeded:
		return []rivertype.JobState{rivertype.JobStateCompleted}
	case bgjob.StateFailed:
		return []rivertype.JobState{rivertype.JobStateDiscarded}
	case bgjob.StateCanceled:
		return []rivertype.JobState{rivertype.JobStateCancelled}
	default:
		return []rivertype.JobState{rivertype.JobStateRunning}
	}
}

// Wait polls the job's status, once a heartbeat interval, until it has
// finished (Status.Finished) and returns it. If ctx ends first, it returns
// the last status read and ctx's error. The job's own outcome is in the
// status: its State and Err.
func (c *Client) Wait(ctx context.Context, id int64) (Status, error) {
	if ctx == nil {
		return Status{}, bgjob.ErrNilContext
	}
	t := time.NewTicker(c.cfg.heartbeat)
	defer t.Stop()
	for {
		s, err := c.Status(ctx, id)
		if err != nil || s.Finished() {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-t.C:
		}
	}
}

// checkBgjob returns ErrNotFound, with the kind found, for a River job that
// is not a bgjob job: its row has none of what a Status reads.
func checkBgjob(row *rivertype.JobRow) error {
	if row.Kind != RiverKind {
		return fmt.Errorf("%w: job %d is a River job of kind %q, not %q", ErrNotFound, row.ID, row.Kind, RiverKind)
	}
	return nil
}

// statusFromRow builds a job's status from its River row.
func statusFromRow(row *rivertype.JobRow, rescueAfter time.Duration, now time.Time) Status {
	var args jobArgs
	_ = json.Unmarshal(row.EncodedArgs, &args)
	var meta jobMeta
	_ = json.Unmarshal(row.Metadata, &meta)

	s := Status{
		JobID: row.ID, Kind: args.JobKind, RiverState: row.State,
		Attempt: row.Attempt, MaxAttempts: row.MaxAttempts,
		CancelRequested: meta.Cancel != nil || meta.CancelAttemptedAt != nil,
		PauseRequested:  meta.Pause,
		HasCheckpoint:   len(meta.Checkpoint) > 0 && string(meta.Checkpoint) != "null",
		Rescues:         meta.Rescues,
		Errors:          row.Errors,
		CreatedAt:       row.CreatedAt,
		ScheduledAt:     row.ScheduledAt,
	}
	// The record is the current attempt's when both its number and its
	// node match: a job handed back by a stopping node runs again under the
	// same attempt number (River does not count it), on another node.
	current := false
	if meta.Run != nil {
		s.JobStatus = meta.Run.Status
		s.Node, s.RunID = meta.Run.Node, meta.Run.RunID
		current = meta.Run.Attempt == row.Attempt &&
			(len(row.AttemptedBy) == 0 || row.AttemptedBy[len(row.AttemptedBy)-1] == meta.Run.Node)
	}
	if meta.Heartbeat > 0 {
		s.Heartbeat = time.UnixMilli(meta.Heartbeat)
	}
	s.ID, s.Name = args.ID, args.Name
	if s.WorkerName == "" {
		s.WorkerName = args.Name
	}
	lastErr := func() error {
		if n := len(row.Errors); n > 0 {
			return errors.New(row.Errors[n-1].Error)
		}
		return nil
	}
	switch row.State {
	case rivertype.JobStateCompleted:
		s.State, s.Alive, s.Err, s.Stack = bgjob.StateSucceeded, false, nil, ""
	case rivertype.JobStateCancelled:
		s.State, s.Alive = bgjob.StateCanceled, false
		if meta.Cancel != nil {
			s.Err = meta.Cancel.cause()
		} else if s.Err == nil || !current {
			s.Err = lastErr()
		}
	case rivertype.JobStateDiscarded:
		s.State, s.Alive = bgjob.StateFailed, false
		if s.Err == nil || !current {
			s.Err = lastErr()
		}
	case rivertype.JobStateRunning:
		if n := len(row.AttemptedBy); n > 0 {
			s.Node = row.AttemptedBy[n-1]
		}
		if !current {
			// Just fetched: its node has not written yet. The progress of
			// the attempt before is the best guess of where it resumes.
			prev := s.JobStatus
			s.JobStatus = bgjob.JobStatus{
				ID: prev.ID, Name: prev.Name, WorkerName: prev.WorkerName, State: bgjob.StateRunning,
				Percent: prev.Percent, Step: prev.Step, Total: prev.Total, Message: prev.Message,
				Metrics: prev.Metrics,
			}
			s.RunID = uuid.Nil
			s.Alive = row.AttemptedAt != nil && now.Sub(*row.AttemptedAt) < rescueAfter
		} else {
			if s.State == 0 || s.State.Terminal() {
				s.State = bgjob.StateRunning
			}
			s.Alive = now.Sub(s.Heartbeat) < rescueAfter
		}
		s.HasWorker = true
	default:
		s.State, s.Alive = bgjob.StateQueued, false
		s.Err = lastErr()
	}
	return s
}
