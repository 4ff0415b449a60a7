package bgjobriver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/stretchr/testify/require"
)

// Short intervals, so that the tests take real time in tenths of seconds,
// and a rescue window long enough for SQLite under the race detector on a
// busy machine. The node processes have theirs (internal/testnode).
const (
	testHeartbeat   = 100 * time.Millisecond
	testRescueAfter = 10 * time.Second
	testFetchPoll   = 100 * time.Millisecond
)

func testOptions() []Option {
	return []Option{
		WithHeartbeat(testHeartbeat, testRescueAfter),
		WithFetchPollInterval(testFetchPoll),
		WithHandOver(5 * time.Second),
		withTestOnly(),
	}
}

func withTestOnly() Option {
	return optionFunc(func(c *config) error {
		c.testOnly = true
		return nil
	})
}

// testLogger writes to the test's log at warn and above, when verbose.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BGJOBRIVER_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func sqlitePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "jobs.db")
}

func openSQLite(t testing.TB, path string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := append(testOptions(), WithLogger(testLogger(t)))
	c, err := OpenSQLite(ctx, path, append(all, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

func closeClient(t testing.TB, c *Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// waitFor polls read until ok says yes, or fails the test at the deadline.
func waitFor[T any](t testing.TB, what string, within time.Duration, read func(ctx context.Context) (T, error), ok func(T) bool) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last T
	var lastErr error
	for {
		v, err := read(ctx)
		if err == nil {
			last = v
			if ok(v) {
				return v
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s; last %+v, last error %v", what, within, last, lastErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stepsInput drives the steps job.
type stepsInput struct {
	Steps        int    `json:"steps"`
	StepMS       int    `json:"step_ms"`
	FailAttempts int    `json:"fail_attempts"` // the first n attempts fail at step 1
	Log          string `json:"log"`           // a file each attempt appends its steps to
}

type stepsCheckpoint struct {
	Done int `json:"done"`
}

// stepsJob counts Steps steps, checkpointing after each, resuming from the
// last checkpoint; it logs each step it does to Log, with its process id.
var stepsJob = bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
	var in stepsInput
	if err := Input(ctx, &in); err != nil {
		return err
	}
	att, _ := CurrentAttempt(ctx)
	var cp stepsCheckpoint
	if _, err := LoadCheckpoint(ctx, &cp); err != nil {
		return err
	}
	p.SetTotal(int64(in.Steps))
	p.SetStep(int64(cp.Done))
	note(in.Log, "start attempt=%d from=%d", att.Number, cp.Done)
	for i := cp.Done + 1; i <= in.Steps; i++ {
		if err := p.Checkpoint(); err != nil {
			note(in.Log, "stop attempt=%d cause=%v", att.Number, context.Cause(ctx))
			return err
		}
		if att.Number <= in.FailAttempts {
			note(in.Log, "fail attempt=%d", att.Number)
			return fmt.Errorf("attempt %d fails on purpose", att.Number)
		}
		select {
		case <-ctx.Done():
			note(in.Log, "stop attempt=%d cause=%v", att.Number, context.Cause(ctx))
			return context.Cause(ctx)
		case <-time.After(time.Duration(in.StepMS) * time.Millisecond):
		}
		if err := SaveCheckpoint(ctx, stepsCheckpoint{Done: i}); err != nil {
			return err
		}
		p.SetStep(int64(i))
		p.SetMessage(fmt.Sprintf("step %d", i))
		_ = p.Metric("loss", 1/float64(i))
		note(in.Log, "step attempt=%d i=%d", att.Number, i)
	}
	note(in.Log, "end attempt=%d", att.Number)
	return nil
})

// note appends a line with the process id and a timestamp to path.
func note(path, format string, args ...any) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d %d "+format+"\n", append([]any{time.Now().UnixNano(), os.Getpid()}, args...)...)
}
