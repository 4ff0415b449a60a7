package bgjobriver

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// checkpointDB stands for the database in the tests of SaveCheckpoint: it
// stores each checkpoint as its statement starts, as a row lock taken at
// the start would order them, and lets a test hold a statement's return.
type checkpointDB struct {
	mu   sync.Mutex
	row  string        // the checkpoint stored last
	hold chan struct{} // when not nil, the next exec waits for it to close
}

func (d *checkpointDB) exec(ctx context.Context, _ string, args ...any) (int64, error) {
	d.mu.Lock()
	d.row = args[len(args)-1].(string)
	hold := d.hold
	d.hold = nil
	d.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return 1, nil
}

func (d *checkpointDB) queryRow(context.Context, string, []any, ...any) error { return errNoRow }

func (d *checkpointDB) queryPairs(context.Context, string, ...any) ([][2]int64, error) {
	return nil, nil
}

// testAttempt is an attempt on db, with the checkpoint it started from.
func testAttempt(db conn, checkpoint string) (context.Context, *attempt) {
	c := &Client{cfg: config{id: "node", rescueAfter: time.Minute}, conn: db, dialect: &dialect{}}
	var cp json.RawMessage
	if checkpoint != "" {
		cp = json.RawMessage(checkpoint)
	}
	a := newAttempt(c, 1, 1, 3, "k", nil, cp)
	return context.WithValue(context.Background(), attemptKey{}, a), a
}

// TestConcurrentSavesLeaveMemoryAsTheRow: a save that reaches the row first
// but returns last must not leave its older state in memory, where
// LoadCheckpoint reads it, while the row holds the newer one.
func TestConcurrentSavesLeaveMemoryAsTheRow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &checkpointDB{hold: make(chan struct{})}
		hold := db.hold
		ctx, _ := testAttempt(db, "")
		errs := make(chan error, 2)
		go func() { errs <- SaveCheckpoint(ctx, 1) }()
		synctest.Wait() // the first save is in its statement, held
		go func() { errs <- SaveCheckpoint(ctx, 2) }()
		synctest.Wait()
		close(hold)
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)

		var got int
		ok, err := LoadCheckpoint(ctx, &got)
		require.NoError(t, err)
		require.True(t, ok)
		db.mu.Lock()
		row := db.row
		db.mu.Unlock()
		require.Equal(t, row, jsonOf(t, got), "memory and row agree")
	})
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestSaveCheckpointHonoursItsContext: a save waits neither for the
// database nor for another save past its context; the job can still save
// on its way out with a context that is not canceled.
func TestSaveCheckpointHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &checkpointDB{hold: make(chan struct{})}
		ctx, _ := testAttempt(db, "")
		start := time.Now()

		jobCtx, cancel := context.WithCancel(ctx)
		first := make(chan error, 1)
		go func() { first <- SaveCheckpoint(jobCtx, 1) }()
		synctest.Wait() // held in its statement
		second := make(chan error, 1)
		go func() { second <- SaveCheckpoint(jobCtx, 2) }()
		synctest.Wait() // waiting for the first
		cancel()
		require.ErrorIs(t, <-first, context.Canceled)
		require.ErrorIs(t, <-second, context.Canceled)
		require.Zero(t, time.Since(start), "no wait past the context")

		require.NoError(t, SaveCheckpoint(context.WithoutCancel(jobCtx), 3))
		var got int
		_, err := LoadCheckpoint(ctx, &got)
		require.NoError(t, err)
		require.Equal(t, 3, got)
	})
}

// TestSaveCheckpointGivesUpAtTheFence: with a context that never ends, a
// save waits at most half the rescue window, when the attempt is fenced.
func TestSaveCheckpointGivesUpAtTheFence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &checkpointDB{hold: make(chan struct{})}
		ctx, a := testAttempt(db, "")
		start := time.Now()
		require.ErrorIs(t, SaveCheckpoint(ctx, 1), context.DeadlineExceeded)
		require.Equal(t, a.c.cfg.rescueAfter/2, time.Since(start))
	})
}

// TestResumedOnlyFromAnEarlierAttempt: Attempt.Resumed tells that the
// attempt started from an earlier attempt's checkpoint, not that it saved
// one of its own.
func TestResumedOnlyFromAnEarlierAttempt(t *testing.T) {
	for _, tt := range []struct {
		give string
		want bool
	}{
		{give: "", want: false},
		{give: "null", want: false},
		{give: "7", want: true},
	} {
		t.Run(tt.give, func(t *testing.T) {
			ctx, _ := testAttempt(&checkpointDB{}, tt.give)
			att, ok := CurrentAttempt(ctx)
			require.True(t, ok)
			require.Equal(t, tt.want, att.Resumed)
			require.NoError(t, SaveCheckpoint(ctx, 8))
			att, _ = CurrentAttempt(ctx)
			require.Equal(t, tt.want, att.Resumed, "after a save of its own")
		})
	}
}
