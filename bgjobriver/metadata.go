package bgjobriver

import (
	"encoding/json"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
)

// The keys this package keeps in a River job's metadata, beside River's own.
// Each has one writer:
//
//	bgjob_run         the attempt working the job (its heartbeat writer)
//	bgjob_heartbeat   the same, in milliseconds since 1970 by the database's clock
//	bgjob_checkpoint  the job's code, through SaveCheckpoint
//	bgjob_cancel      any node, through Client.Cancel
//	bgjob_pause       any node, through Client.Pause and Client.Resume
//	bgjob_rescues     the sweep that takes jobs back from dead nodes
const (
	keyCancel = "bgjob_cancel"
	keyPause  = "bgjob_pause"
)

// jobMeta is the part of a job's metadata this package reads.
type jobMeta struct {
	Run        *runRecord      `json:"bgjob_run"`
	Heartbeat  int64           `json:"bgjob_heartbeat"`
	Checkpoint json.RawMessage `json:"bgjob_checkpoint"`
	Cancel     *cancelRequest  `json:"bgjob_cancel"`
	Pause      bool            `json:"bgjob_pause"`
	Rescues    int             `json:"bgjob_rescues"`
	// CancelAttemptedAt is River's own mark of a cancellation request.
	CancelAttemptedAt *time.Time `json:"cancel_attempted_at"`
}

// runRecord is what the node working an attempt publishes about it.
type runRecord struct {
	Attempt int             `json:"attempt"`
	Node    string          `json:"node"`
	RunID   uuid.UUID       `json:"run_id"`
	Status  bgjob.JobStatus `json:"status"`
}

// cancelRequest is what Client.Cancel leaves in the job's row.
type cancelRequest struct {
	Reason string `json:"reason"`
	Node   string `json:"node"`
	AtMS   int64  `json:"at_ms"`
}

func (r *cancelRequest) cause() *CancelError {
	return &CancelError{Reason: r.Reason, Node: r.Node, At: time.UnixMilli(r.AtMS)}
}

// parseCancel decodes a cancel request read back from the row; "" is none.
func parseCancel(s string) *cancelRequest {
	if s == "" {
		return nil
	}
	var r cancelRequest
	if json.Unmarshal([]byte(s), &r) != nil {
		return &cancelRequest{Reason: "canceled"}
	}
	return &r
}

// jobArgs are the River job's arguments: which registered job to run,
// under which name, with which input. The River kind is the same for every
// bgjob job, so that one worker runs them all.
type jobArgs struct {
	ID      uuid.UUID       `json:"id"`
	JobKind string          `json:"kind"`
	Name    string          `json:"name"`
	Input   json.RawMessage `json:"input,omitempty"`
}

// RiverKind is the River job kind under which every bgjob job is stored.
const RiverKind = "bgjob"

// Kind returns RiverKind, for River.
func (jobArgs) Kind() string { return RiverKind }
