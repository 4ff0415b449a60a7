package bgjobriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/riverqueue/river/rivertype"
)

// Cancel cancels the job with the given id, from any node. A job waiting in
// the queue is canceled at once and never runs. A running job's context is
// canceled on the node working it, with a *CancelError carrying cause's
// message as context.Cause: within moments when River is notified (its
// notifications poll every 50ms on SQLite and use LISTEN/NOTIFY on
// PostgreSQL), within a heartbeat otherwise. The job is then canceled for
// good if it returns an error, completed if it returns nil. A nil cause
// reads "canceled". Cancel does not wait for the job: Wait does.
//
// It returns ErrJobDone for a job that has ended, ErrNotFound for an
// unknown id or a River job of another kind.
func (c *Client) Cancel(ctx context.Context, id int64, cause error) error {
	reason := "canceled"
	if cause != nil {
		reason = cause.Error()
	}
	if len(reason) > bgjob.MaxMessageLen {
		// Cut where a rune ends: JSON would turn a cut rune into U+FFFD.
		reason = strings.ToValidUTF8(reason[:bgjob.MaxMessageLen], "")
	}
	// PostgreSQL's jsonb refuses a NUL (JSON's \u0000), as in keeper.beat.
	reason = strings.ReplaceAll(reason, "\x00", "\uFFFD")
	req := cancelRequest{Reason: reason, Node: c.cfg.id, AtMS: time.Now().UnixMilli()}
	if err := c.setControl(ctx, id, keyCancel, req); err != nil {
		return err
	}
	if _, err := c.river.JobCancel(ctx, id); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("bgjobriver: cancel: %w", err)
	}
	return nil
}

// Pause asks the job to pause at its next checkpoint (bgjob.Progress
// .Checkpoint), from any node: the node working it reads the request at its
// next heartbeat and pauses the job on its Runner, and the status reads
// pausing, then paused. A paused job keeps its worker slot and its
// heartbeat, so it is not taken back from its node. The request stays with
// the job: a job paused while queued, or whose node dies, pauses at its
// first checkpoint on the node that runs it next. It returns ErrJobDone for a
// job that has ended, ErrNotFound for an unknown id or a River job of another
// kind.
func (c *Client) Pause(ctx context.Context, id int64) error {
	return c.setControl(ctx, id, keyPause, true)
}

// Resume withdraws a pause request, from any node: the node working the job
// resumes it at its next heartbeat. It returns ErrJobDone for a job that has
// ended, ErrNotFound for an unknown id or a River job of another kind.
func (c *Client) Resume(ctx context.Context, id int64) error {
	return c.setControl(ctx, id, keyPause, false)
}

// setControl sets one request key in the row of a bgjob job not yet
// finalized; the statement leaves River jobs of other kinds alone, so that
// Cancel never reaches them.
func (c *Client) setControl(ctx context.Context, id int64, key string, v any) error {
	if ctx == nil {
		return bgjob.ErrNilContext
	}
	if c.isClosed() {
		return ErrClosed
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	n, err := c.conn.exec(ctx, c.dialect.control, id, key, string(b))
	if err != nil {
		return fmt.Errorf("bgjobriver: %s: %w", key, err)
	}
	if n == 1 {
		return nil
	}
	row, err := c.river.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	if err := checkBgjob(row); err != nil {
		return err
	}
	return ErrJobDone
}
