package bgjobtest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestAssertState(t *testing.T) {
	r := newRunner(t)
	h := start(t, r, "hangs", HangUntilCanceled())
	defer h.Cancel(nil)

	assert.True(t, AssertState(t, h, bgjob.StateRunning))
	ft := newFakeTB(t)
	assert.False(t, AssertState(ft, h, bgjob.StatePaused))
	assert.Contains(t, ft.failures(), "bgjobtest: job hangs/"+h.ID().String()[:8]+" is running step 0/0, want paused")
}

func TestAssertEnded(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)

	t.Run("holds", func(t *testing.T) {
		h := start(t, r, "ok", Succeed(3))
		assert.True(t, AssertEnded(ctx, t, h, bgjob.StateSucceeded))
		assert.Equal(t, int64(3), h.Status().Step)
	})
	t.Run("other state", func(t *testing.T) {
		h := start(t, r, "fails", Fail(errors.New("boom")))
		ft := newFakeTB(t)
		assert.False(t, AssertEnded(ctx, ft, h, bgjob.StateSucceeded))
		assert.Contains(t, ft.failures(), `ended failed step 0/0 err="boom", want succeeded`)
	})
	t.Run("not a terminal state", func(t *testing.T) {
		h := start(t, r, "ok", Succeed(1))
		ft := newFakeTB(t)
		assert.False(t, AssertEnded(ctx, ft, h, bgjob.StateRunning))
		assert.Contains(t, ft.failures(), "running is not a state a job ends in")
	})
	t.Run("does not end", func(t *testing.T) {
		h := start(t, r, "hangs", HangUntilCanceled())
		defer h.Cancel(nil)
		ft := newFakeTB(t)
		assert.False(t, AssertEnded(canceledCtx(), ft, h, bgjob.StateCanceled))
		assert.Contains(t, ft.failures(), "job hangs/"+h.ID().String()[:8]+" did not end: context canceled; it is running")
	})
	t.Run("nil context", func(t *testing.T) {
		h := start(t, r, "ok", Succeed(1))
		ft := newFakeTB(t)
		var nilCtx context.Context
		assert.False(t, AssertEnded(nilCtx, ft, h, bgjob.StateSucceeded))
		assert.Contains(t, ft.failures(), "nil context")
	})
}

func TestAssertErrorIs(t *testing.T) {
	ctx := testCtx(t)
	r := newRunner(t)
	errBoom := errors.New("boom")
	errStop := errors.New("stop")
	tests := []struct {
		name     string
		give     bgjob.Job
		cancel   error // when not nil, the job is canceled with it
		target   error
		wantFail string // empty: the assertion holds
	}{
		{name: "success and nil", give: Succeed(1), target: nil},
		{name: "error", give: Fail(errBoom), target: errBoom},
		{name: "panic with an error", give: Panic(errBoom), target: errBoom},
		{name: "cancel cause", give: HangUntilCanceled(), cancel: errStop, target: errStop},
		{name: "cancel is a context cancellation", give: HangUntilCanceled(), cancel: errStop, target: context.Canceled,
			wantFail: `ended canceled step 0/0 err="stop", want an error matching context canceled`},
		{name: "other error", give: Fail(errBoom), target: errStop, wantFail: `ended failed step 0/0 err="boom", want an error matching stop`},
		{name: "failure and nil", give: Fail(errBoom), target: nil, wantFail: "want an error matching <nil>"},
		{name: "success and an error", give: Succeed(1), target: errBoom, wantFail: "ended succeeded step 1/1, want an error matching boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, r, "job", tt.give)
			if tt.cancel != nil {
				require.NoError(t, h.Cancel(tt.cancel))
			}
			ft := newFakeTB(t)
			got := AssertErrorIs(ctx, ft, h, tt.target)
			if tt.wantFail == "" {
				assert.True(t, got)
				assert.Empty(t, ft.failures())
				return
			}
			assert.False(t, got)
			assert.Contains(t, ft.failures(), tt.wantFail)
		})
	}

	t.Run("does not end", func(t *testing.T) {
		h := start(t, r, "hangs", HangUntilCanceled())
		defer h.Cancel(nil)
		ft := newFakeTB(t)
		assert.False(t, AssertErrorIs(canceledCtx(), ft, h, context.Canceled))
		assert.Contains(t, ft.failures(), "did not end: context canceled")
	})
}
