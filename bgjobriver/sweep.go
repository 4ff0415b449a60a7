package bgjobriver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// River's own rescuer takes back only the jobs that ran past their timeout,
// and bgjob jobs have none (a training run has no natural deadline). So every
// working node sweeps: a running job whose heartbeat is older than the rescue
// window goes back to the queue, as River's rescuer would put it — retried by
// the retry policy with the loss counted as an attempt and recorded as an
// error, discarded when it has no attempts left, canceled when a cancellation
// was asked for. The move is one conditional UPDATE that checks again that
// the heartbeat is stale and the attempt the same, so nodes sweeping at once,
// or a heartbeat landing at the last moment, cannot take a job twice.

// schedulerInterval is River's: a job to retry sooner than this is made
// available directly, as River's executor does, rather than waiting for the
// scheduler.
const schedulerInterval = 5 * time.Second

func (c *Client) sweepLoop(ctx context.Context) {
	defer close(c.sweepDone)
	t := time.NewTicker(max(c.cfg.rescueAfter/4, c.cfg.heartbeat))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.sweep(ctx); err != nil && ctx.Err() == nil {
				c.cfg.logger.Warn("bgjobriver: sweep failed", "err", err)
			}
		}
	}
}

// sweep takes back the stale jobs of this client's queue and returns the
// first error met.
func (c *Client) sweep(ctx context.Context) error {
	staleMS := c.cfg.rescueAfter.Milliseconds()
	pairs, err := c.conn.queryPairs(ctx, c.dialect.stale, c.cfg.queue, RiverKind, staleMS)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		row, err := c.river.JobGet(ctx, p[0])
		if errors.Is(err, rivertype.ErrNotFound) {
			continue // deleted since the look: nothing to take back
		}
		if err != nil {
			return err
		}
		if row.State != rivertype.JobStateRunning || int64(row.Attempt) != p[1] {
			continue
		}
		state, delay := c.rescueDecision(row)
		lost := ""
		if n := len(row.AttemptedBy); n > 0 {
			lost = row.AttemptedBy[n-1]
		}
		errJSON, err := json.Marshal(rivertype.AttemptError{
			At:      time.Now().UTC(),
			Attempt: row.Attempt,
			Error: fmt.Sprintf("bgjobriver: no heartbeat from node %s for %s; taken back by node %s",
				lost, c.cfg.rescueAfter, c.cfg.id),
		})
		if err != nil {
			return err
		}
		args := []any{row.ID, row.Attempt, staleMS, string(errJSON)}
		if state == rivertype.JobStateAvailable || state == rivertype.JobStateRetryable {
			args = append(args, delay.Seconds())
		}
		n, err := c.conn.exec(ctx, c.dialect.rescue[state], args...)
		if err != nil {
			return err
		}
		if n == 1 {
			c.cfg.logger.Info("bgjobriver: took back a job from a silent node",
				"job_id", row.ID, "attempt", row.Attempt, "node", lost, "state", state)
		}
	}
	return nil
}

// rescueDecision says where a stale job goes, and after how long.
func (c *Client) rescueDecision(row *rivertype.JobRow) (rivertype.JobState, time.Duration) {
	var meta jobMeta
	_ = json.Unmarshal(row.Metadata, &meta)
	switch {
	case meta.Cancel != nil || meta.CancelAttemptedAt != nil:
		return rivertype.JobStateCancelled, 0
	case row.Attempt >= row.MaxAttempts:
		return rivertype.JobStateDiscarded, 0
	}
	policy := c.cfg.retryPolicy
	if policy == nil {
		policy = &river.DefaultClientRetryPolicy{}
	}
	delay := max(time.Until(policy.NextRetry(row)), 0)
	if delay <= schedulerInterval {
		return rivertype.JobStateAvailable, delay
	}
	return rivertype.JobStateRetryable, delay
}
