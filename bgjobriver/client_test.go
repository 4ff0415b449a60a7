package bgjobriver

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

// fastRetry retries at once, so that retry tests take no time.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

func wait(t testing.TB, c *Client, id int64) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := c.Wait(ctx, id)
	require.NoError(t, err)
	return st
}

func TestJobRunsAndReportsToAnotherClient(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		worker := b.open(t, WithJob("steps", stepsJob))
		watcher := b.open(t)
		id, err := watcher.Start(context.Background(), "steps", stepsInput{Steps: 5, StepMS: 5}, WithName("count to five"))
		require.NoError(t, err)

		st := wait(t, watcher, id)
		require.Equal(t, bgjob.StateSucceeded, st.State, "%+v", st)
		require.Equal(t, "count to five", st.Name)
		require.EqualValues(t, 5, st.Step)
		require.Equal(t, 100.0, st.Percent)
		require.Equal(t, worker.NodeID(), st.Node)
		require.Equal(t, 1, st.Attempt)
		require.True(t, st.HasCheckpoint)
		require.False(t, st.Alive)
		require.True(t, st.HasWorker)
		require.Len(t, st.Metrics, 1)
		require.Equal(t, "loss", st.Metrics[0].Name)

		// The attempt is a run in the worker's local history, logs and all.
		h, err := worker.Runner().Job(st.RunID)
		require.NoError(t, err)
		require.Equal(t, bgjob.StateSucceeded, h.Status().State)
		require.Contains(t, h.Logs()[0].Message, "durable attempt")
	})
}

func TestRetriesFollowThePolicyEachAttemptARun(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		worker := b.open(t, WithJob("steps", stepsJob), WithRetryPolicy(fastRetry{}))
		id, err := worker.Start(context.Background(), "steps", stepsInput{Steps: 2, FailAttempts: 2}, WithAttempts(3))
		require.NoError(t, err)
		st := wait(t, worker, id)
		require.Equal(t, bgjob.StateSucceeded, st.State, "%+v", st)
		require.Equal(t, 3, st.Attempt)
		require.Len(t, st.Errors, 2)
		require.Contains(t, st.Errors[1].Error, "attempt 2 fails on purpose")

		var states []bgjob.State
		for rec := range worker.Runner().History(bgjob.HistoryFilter{}) {
			states = append(states, rec.State)
		}
		require.Equal(t, []bgjob.State{bgjob.StateSucceeded, bgjob.StateFailed, bgjob.StateFailed}, states)
	})
}

func TestAttemptsUsedUpFails(t *testing.T) {
	t.Parallel()
	worker := sqliteBackend(t).open(t, WithJob("steps", stepsJob), WithRetryPolicy(fastRetry{}), WithMaxAttempts(2))
	id, err := worker.Start(context.Background(), "steps", stepsInput{Steps: 2, FailAttempts: 5})
	require.NoError(t, err)
	st := wait(t, worker, id)
	require.Equal(t, bgjob.StateFailed, st.State)
	require.Equal(t, rivertype.JobStateDiscarded, st.RiverState)
	require.ErrorContains(t, st.Err, "attempt 2 fails on purpose")
	require.Equal(t, 2, st.MaxAttempts)
}

// receive receives from ch within 20s, or fails the test.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("nothing received within 20s")
		var zero T
		return zero
	}
}

// causeJob blocks until canceled and hands its context's cause over.
func causeJob(causes chan<- error) bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return context.Cause(ctx)
	})
}

func TestCancelArrivesAsCause(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		causes := make(chan error, 1)
		worker := b.open(t, WithJob("block", causeJob(causes)))
		watcher := b.open(t)
		ctx := context.Background()
		id, err := watcher.Start(ctx, "block", nil)
		require.NoError(t, err)
		waitFor(t, "running on the worker", 10*time.Second, statusOf(watcher, id), func(s Status) bool {
			return s.State == bgjob.StateRunning && s.Alive && s.RunID != [16]byte{}
		})

		require.NoError(t, watcher.Cancel(ctx, id, errors.New("no longer needed")))
		cause := receive(t, causes)
		var ce *CancelError
		require.ErrorAs(t, cause, &ce)
		require.Equal(t, "no longer needed", ce.Reason)
		require.Equal(t, watcher.NodeID(), ce.Node)
		require.ErrorIs(t, cause, bgjob.ErrCanceled)

		st := wait(t, worker, id)
		require.Equal(t, bgjob.StateCanceled, st.State)
		require.Equal(t, rivertype.JobStateCancelled, st.RiverState)
		require.ErrorContains(t, st.Err, "no longer needed")
		require.True(t, st.CancelRequested)
	})
}

func TestCancelThroughTheLocalHandleIsForGood(t *testing.T) {
	t.Parallel()
	causes := make(chan error, 1)
	worker := sqliteBackend(t).open(t, WithJob("block", causeJob(causes)))
	id, err := worker.Start(context.Background(), "block", nil)
	require.NoError(t, err)
	st := waitFor(t, "running", 10*time.Second, statusOf(worker, id), func(s Status) bool { return s.RunID != [16]byte{} })
	h, err := worker.Runner().Job(st.RunID)
	require.NoError(t, err)
	require.NoError(t, h.Cancel(errors.New("operator said so")))
	receive(t, causes)
	st = wait(t, worker, id)
	require.Equal(t, bgjob.StateCanceled, st.State)
	require.Equal(t, 1, st.Attempt)
}

func TestCancelQueuedJobNeverRuns(t *testing.T) {
	t.Parallel()
	watcher := sqliteBackend(t).open(t)
	ctx := context.Background()
	id, err := watcher.Start(ctx, "anything", nil)
	require.NoError(t, err)
	st, err := watcher.Status(ctx, id)
	require.NoError(t, err)
	require.Equal(t, bgjob.StateQueued, st.State)
	require.False(t, st.HasWorker)

	require.NoError(t, watcher.Cancel(ctx, id, nil))
	st, err = watcher.Status(ctx, id)
	require.NoError(t, err)
	require.Equal(t, bgjob.StateCanceled, st.State)
	require.EqualError(t, st.Err, "bgjobriver: job canceled: canceled")
	require.ErrorIs(t, watcher.Pause(ctx, id), ErrJobDone)
	require.ErrorIs(t, watcher.Resume(ctx, id), ErrJobDone)
	require.ErrorIs(t, watcher.Cancel(ctx, id, nil), ErrJobDone)
	require.ErrorIs(t, watcher.Cancel(ctx, 1_000_000, nil), ErrNotFound)
	_, err = watcher.Status(ctx, 1_000_000)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestCancelReasonOfAnyText: a cause's message with a NUL, or longer than a
// message may be, still cancels the job, on both databases.
func TestCancelReasonOfAnyText(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		c := b.open(t)
		ctx := context.Background()
		for _, tt := range []struct {
			give string
			want string
		}{
			{give: "disk\x00full", want: "disk\uFFFDfull"},
			{give: strings.Repeat("x", bgjob.MaxMessageLen-1) + "é", want: strings.Repeat("x", bgjob.MaxMessageLen-1)},
		} {
			id, err := c.Start(ctx, "x", nil)
			require.NoError(t, err)
			require.NoError(t, c.Cancel(ctx, id, errors.New(tt.give)))
			st, err := c.Status(ctx, id)
			require.NoError(t, err)
			require.Equal(t, bgjob.StateCanceled, st.State)
			var ce *CancelError
			require.ErrorAs(t, st.Err, &ce)
			require.Equal(t, tt.want, ce.Reason)
		}
	})
}

// gateJob takes steps at checkpoints, as fast as it can, until it has done
// n; it pauses wherever it is asked to.
func gateJob(n int64) bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(n)
		for i := int64(1); i <= n; i++ {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
			p.SetStep(i)
		}
		return nil
	})
}

func TestPauseRequestedWhileQueuedPausesAtFirstCheckpoint(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	watcher := b.open(t)
	ctx := context.Background()
	id, err := watcher.Start(ctx, "gate", nil)
	require.NoError(t, err)
	require.NoError(t, watcher.Pause(ctx, id))

	b.open(t, WithJob("gate", gateJob(50)))
	st := waitFor(t, "paused", 10*time.Second, statusOf(watcher, id), func(s Status) bool { return s.State == bgjob.StatePaused })
	require.Zero(t, st.Step)
	require.True(t, st.PauseRequested)
	require.True(t, st.Alive)

	require.NoError(t, watcher.Resume(ctx, id))
	st = wait(t, watcher, id)
	require.Equal(t, bgjob.StateSucceeded, st.State)
	require.EqualValues(t, 50, st.Step)
	require.Positive(t, st.Paused)
}

func TestLostOwnershipCancelsTheAttempt(t *testing.T) {
	t.Parallel()
	causes := make(chan error, 1)
	b := sqliteBackend(t)
	worker := b.open(t, WithJob("block", causeJob(causes)))
	ctx := context.Background()
	id, err := worker.Start(ctx, "block", nil)
	require.NoError(t, err)
	waitFor(t, "running", 10*time.Second, statusOf(worker, id), func(s Status) bool { return s.RunID != [16]byte{} })

	// Another attempt owns the row now, as after a rescue and a new fetch.
	_, err = worker.conn.exec(ctx, `UPDATE river_job SET attempt = attempt + 1 WHERE id = ?1`, id)
	require.NoError(t, err)
	select {
	case cause := <-causes:
		require.ErrorIs(t, cause, ErrLeaseLost)
	case <-time.After(10 * time.Second):
		t.Fatal("the attempt was not canceled")
	}
}

// TestUnknownKindOnANodeIsPutBack: a node of another build that fetches a
// kind it does not know puts the job back without using up its attempts.
func TestUnknownKindOnANodeIsPutBack(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	watcher := b.open(t)
	id, err := watcher.Start(context.Background(), "not-here", nil, WithAttempts(1))
	require.NoError(t, err)
	b.open(t, WithJob("steps", stepsJob))
	row := waitFor(t, "put back", 10*time.Second, func(ctx context.Context) (*rivertype.JobRow, error) {
		return watcher.river.JobGet(ctx, id)
	}, func(r *rivertype.JobRow) bool {
		return r.State != rivertype.JobStateAvailable && r.State != rivertype.JobStateRunning
	})
	require.Equal(t, rivertype.JobStateScheduled, row.State)
	require.Equal(t, 0, row.Attempt, "no attempt used")
	require.Empty(t, row.Errors)
	require.Contains(t, string(row.Metadata), `"snoozes"`)
	st, err := watcher.Status(context.Background(), id)
	require.NoError(t, err)
	require.False(t, st.Finished())
	require.Equal(t, bgjob.StateQueued, st.State)
}

// TestOtherRiverKindsAreNotBgjobJobs: the ids of River jobs of other kinds
// are refused, clearly, and their rows left alone.
func TestOtherRiverKindsAreNotBgjobJobs(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		c := b.open(t)
		ctx := context.Background()
		id, err := c.Start(ctx, "x", nil)
		require.NoError(t, err)
		// As a River job of another kind, sharing the database, would be.
		_, err = c.conn.exec(ctx, "UPDATE "+c.dialect.table+" SET kind = 'other' WHERE id = "+strconv.FormatInt(id, 10))
		require.NoError(t, err)

		_, err = c.Status(ctx, id)
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorContains(t, err, `kind "other"`)
		for name, op := range map[string]func() error{
			"cancel": func() error { return c.Cancel(ctx, id, nil) },
			"pause":  func() error { return c.Pause(ctx, id) },
			"resume": func() error { return c.Resume(ctx, id) },
		} {
			err := op()
			require.ErrorIs(t, err, ErrNotFound, name)
			require.ErrorContains(t, err, `kind "other"`, name)
		}
		row, err := c.river.JobGet(ctx, id)
		require.NoError(t, err)
		require.Equal(t, rivertype.JobStateAvailable, row.State, "not canceled")
		require.NotContains(t, string(row.Metadata), "bgjob_")
	})
}

func TestListFiltersByStateAndKind(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	watcher := b.open(t)
	ctx := context.Background()
	var ids []int64
	for _, kind := range []string{"a", "b", "a"} {
		id, err := watcher.Start(ctx, kind, map[string]int{"n": len(ids)})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	require.NoError(t, watcher.Cancel(ctx, ids[2], nil))

	all, err := watcher.List(ctx, ListFilter{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, ids[2], all[0].JobID, "newest first")

	queued, err := watcher.List(ctx, ListFilter{States: []bgjob.State{bgjob.StateQueued}, Kind: "a"})
	require.NoError(t, err)
	require.Len(t, queued, 1)
	require.Equal(t, ids[0], queued[0].JobID)

	canceled, err := watcher.List(ctx, ListFilter{States: []bgjob.State{bgjob.StateCanceled}, Limit: 1})
	require.NoError(t, err)
	require.Len(t, canceled, 1)
}

func TestStatusJSONHasTheDurableFields(t *testing.T) {
	t.Parallel()
	watcher := sqliteBackend(t).open(t)
	ctx := context.Background()
	id, err := watcher.Start(ctx, "x", nil, WithName("nightly import"))
	require.NoError(t, err)
	st, err := watcher.Status(ctx, id)
	require.NoError(t, err)
	b, err := json.Marshal(st)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, float64(id), m["river_job_id"])
	require.Equal(t, "nightly import", m["thread_name"])
	require.Equal(t, "queued", m["state"])
	require.Equal(t, "available", m["river_state"])
	require.Equal(t, st.ID.String(), m["job_id"])
}

func TestBadInputIsAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := sqlitePath(t)
	for _, opt := range []Option{
		WithJob("", stepsJob), WithJob("a b", stepsJob), WithJob("x", nil),
		WithHeartbeat(time.Second, 2*time.Second), WithHeartbeat(time.Microsecond, time.Second),
		WithMaxWorkers(0), WithQueue(""), WithFetchPollInterval(0), WithHandOver(-1),
		WithLogger(nil), WithNodeID(""), WithMaxAttempts(0), WithRetryPolicy(nil),
		WithSchema("no spaces"), nil,
	} {
		_, err := OpenSQLite(ctx, path, opt)
		require.ErrorIs(t, err, bgjob.ErrInvalidOption)
	}
	_, err := OpenSQLite(ctx, path, WithJob("x", stepsJob), WithJob("x", stepsJob))
	require.ErrorIs(t, err, bgjob.ErrInvalidOption)
	_, err = OpenSQLite(ctx, "a?b")
	require.ErrorIs(t, err, bgjob.ErrInvalidOption)
	//nolint:staticcheck // a nil context is the point
	_, err = OpenSQLite(nil, path)
	require.ErrorIs(t, err, bgjob.ErrNilContext)

	c := openSQLite(t, path, WithJob("steps", stepsJob))
	_, err = c.Start(ctx, "other", nil)
	require.ErrorIs(t, err, ErrUnknownKind)
	_, err = c.Start(ctx, "steps", nil, WithName("bad\nname"))
	require.ErrorIs(t, err, bgjob.ErrInvalidName)
	_, err = c.Start(ctx, "steps", nil, WithAttempts(0))
	require.ErrorIs(t, err, bgjob.ErrInvalidOption)
	_, err = c.Start(ctx, "steps", strings.Repeat("x", MaxInputSize))
	require.ErrorIs(t, err, ErrInputTooLarge)
	_, err = c.Start(ctx, "steps", func() {})
	require.Error(t, err)

	require.ErrorIs(t, SaveCheckpoint(ctx, 1), ErrNotInJob)
	_, err = LoadCheckpoint(ctx, new(int))
	require.ErrorIs(t, err, ErrNotInJob)
	require.ErrorIs(t, Input(ctx, new(int)), ErrNotInJob)
	_, ok := CurrentAttempt(ctx)
	require.False(t, ok)

	closeClient(t, c)
	require.NoError(t, c.Close(ctx), "twice")
	_, err = c.Start(ctx, "steps", nil)
	require.ErrorIs(t, err, ErrClosed)
	_, err = c.Status(ctx, 1)
	require.ErrorIs(t, err, ErrClosed)
}

func TestCheckpointTooLarge(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 1)
	c := sqliteBackend(t).open(t, WithJob("big", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		errs <- SaveCheckpoint(ctx, strings.Repeat("x", MaxCheckpointSize))
		return nil
	})))
	_, err := c.Start(context.Background(), "big", nil)
	require.NoError(t, err)
	require.ErrorIs(t, receive(t, errs), ErrCheckpointTooLarge)
}

// TestSweepDiscardsAStaleJobWithNoAttemptsLeft: a job left running by a
// node that is gone, on its last attempt, is discarded by the sweep, with
// the loss recorded as its error.
func TestSweepDiscardsAStaleJobWithNoAttemptsLeft(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	watcher := b.open(t)
	ctx := context.Background()
	id, err := watcher.Start(ctx, "steps", stepsInput{Steps: 1}, WithAttempts(1))
	require.NoError(t, err)
	_, err = watcher.conn.exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
		attempted_at = '2020-01-01 00:00:00.000', attempted_by = jsonb('["ghost"]') WHERE id = ?1`, id)
	require.NoError(t, err)
	st, err := watcher.Status(ctx, id)
	require.NoError(t, err)
	require.Equal(t, bgjob.StateRunning, st.State)
	require.Equal(t, "ghost", st.Node)
	require.False(t, st.Alive, "no heartbeat since 2020")

	b.open(t, WithJob("steps", stepsJob))
	st = wait(t, watcher, id)
	require.Equal(t, bgjob.StateFailed, st.State)
	require.Equal(t, rivertype.JobStateDiscarded, st.RiverState)
	require.ErrorContains(t, st.Err, "no heartbeat from node ghost")
	require.Equal(t, 1, st.Rescues)
}
