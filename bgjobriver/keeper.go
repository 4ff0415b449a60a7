package bgjobriver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/bgjob/bgjob"
)

// keeper writes one attempt's heartbeat and status to the job's row at every
// heartbeat interval, and applies the requests it reads back in the same
// statement: cancel and pause from any node. Its goroutine owns the fields
// below; it starts with the attempt and ends, after a last write with the
// run's final status, before the attempt returns to River.
type keeper struct {
	c *Client
	a *attempt
	h *bgjob.Handle

	pauseApplied bool      // the pause request last applied to h
	lastOK       time.Time // when the last heartbeat that succeeded was sent

	stop chan struct{}
	done chan struct{}
}

func startKeeper(c *Client, a *attempt, h *bgjob.Handle, paused bool) *keeper {
	k := &keeper{
		c: c, a: a, h: h, pauseApplied: paused, lastOK: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go k.run()
	return k
}

// finish makes the last write, with the run's final status, and waits for
// the keeper to end.
func (k *keeper) finish() {
	close(k.stop)
	<-k.done
}

func (k *keeper) run() {
	defer close(k.done)
	// The first write waits a heartbeat, so that the job has set its
	// progress (a resumed job, its checkpoint's) before others read it; the
	// sweep counts a fresh attempt from River's attempted_at until then.
	t := time.NewTicker(k.c.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			k.beat()
			return
		case <-k.c.abandon:
			return
		case <-t.C:
			k.beat()
		}
	}
}

func (k *keeper) beat() {
	rec := runRecord{Attempt: k.a.number, Node: k.c.cfg.id, RunID: k.h.ID(), Status: k.h.Status()}
	b, err := json.Marshal(rec)
	if err != nil {
		k.c.cfg.logger.Error("bgjobriver: encode status", "job_id", k.a.jobID, "err", err)
		k.fenceIfStale()
		return
	}
	// A job's message or error may hold a NUL, which JSON escapes as
	// \u0000 and PostgreSQL's jsonb refuses: every heartbeat would fail
	// and the node would give the job up. (A literal backslash before
	// "u0000" in a string becomes "\ufffd" too; only the text changes.)
	b = bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
	sent := time.Now()
	qctx, cancel := context.WithTimeout(context.Background(), k.c.queryTimeout())
	defer cancel()
	var (
		cancelJSON  string
		pause       bool
		riverCancel bool
	)
	err = k.c.conn.queryRow(qctx, k.c.dialect.heartbeat, []any{&cancelJSON, &pause, &riverCancel},
		k.a.jobID, k.a.number, k.c.cfg.id, string(b))
	switch {
	case errors.Is(err, errNoRow):
		// The job is no longer this attempt's: another node took it back.
		if k.h.Cancel(ErrLeaseLost) == nil {
			k.c.cfg.logger.Warn("bgjobriver: lost the job to another node", "job_id", k.a.jobID, "attempt", k.a.number)
		}
	case err != nil:
		k.c.cfg.logger.Warn("bgjobriver: heartbeat failed", "job_id", k.a.jobID, "err", err)
		k.fenceIfStale()
	default:
		k.lastOK = sent
		k.apply(cancelJSON, pause, riverCancel)
	}
}

// apply carries out the requests read back from the row.
func (k *keeper) apply(cancelJSON string, pause, riverCancel bool) {
	if r := parseCancel(cancelJSON); r != nil {
		_ = k.h.Cancel(r.cause())
	} else if riverCancel {
		_ = k.h.Cancel(&CancelError{Reason: "canceled through River"})
	}
	if pause == k.pauseApplied {
		return
	}
	if pause {
		_ = k.h.Pause()
	} else {
		_ = k.h.Resume()
	}
	k.pauseApplied = pause
}

// queryTimeout bounds one statement of a heartbeat, so that a database that
// hangs is noticed within the rescue window: at half of it, the attempt
// fences itself off (ErrLeaseLost) whatever the statement is doing.
func (c *Client) queryTimeout() time.Duration {
	return c.cfg.rescueAfter / 2
}

// fenceIfStale cancels the job once no heartbeat has been written for half
// the rescue window: it stops before any other node may take the job.
func (k *keeper) fenceIfStale() {
	if time.Since(k.lastOK) > k.c.cfg.rescueAfter/2 {
		_ = k.h.Cancel(ErrLeaseLost)
	}
}
