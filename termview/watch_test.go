package termview

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/bgjob/bgjob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shortJob reports some progress and a metric, and returns.
var shortJob = bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
	p.SetTotal(3)
	for range 3 {
		p.Add(1)
	}
	return p.Metric("loss", 0.25)
})

// watch runs Watch on a goroutine and returns a function that waits for
// it to return.
func watch(ctx context.Context, w io.Writer, sub *bgjob.Subscription, o Options) func() error {
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, w, sub, o) }()
	return func() error { return <-done }
}

func TestWatchEndsWhenChannelCloses(t *testing.T) {
	ctx := t.Context()
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	sub, err := r.Subscribe()
	require.NoError(t, err)
	var out bytes.Buffer
	wait := watch(ctx, &out, sub, Options{Live: new(false)})

	_, err = r.Start(ctx, "short", shortJob)
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(ctx))
	require.NoError(t, wait(), "Watch returns nil once the Runner closes the channel")

	got := out.String()
	assert.Contains(t, got, "short started in background\n")
	assert.Contains(t, got, "100% 3/3")
	assert.Contains(t, got, "loss 0.25")
	assert.Contains(t, got, "short completed successfully")
	assert.True(t, strings.HasSuffix(got, "short worker 1 stopped\n"), got)
}

// TestWatchLive checks Watch in live mode, and that it shows a job that
// started before the subscription, from the subscription's snapshot.
func TestWatchLive(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	ctx := t.Context()
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	release := make(chan struct{})
	// The job reports no progress, so that only the snapshot can show
	// it before it completes.
	_, err = r.Start(ctx, "early", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-release
		return nil
	}))
	require.NoError(t, err)

	sub, err := r.Subscribe()
	require.NoError(t, err)
	var (
		scr screen
		raw bytes.Buffer
	)
	wait := watch(ctx, io.MultiWriter(&scr, &raw), sub, Options{Live: new(true), Width: 80})
	close(release)
	require.NoError(t, r.Shutdown(ctx))
	require.NoError(t, wait())

	require.Contains(t, raw.String(), "early running ░░░░░░░░░░░░░░░░░░░░   0%\n", "the snapshot's job is shown")
	require.Empty(t, scr.unknown)
	lines := scr.lines()
	require.NotEmpty(t, lines)
	assert.Equal(t, "early completed successfully", strings.SplitN(lines[len(lines)-2], " (", 2)[0])
	assert.Equal(t, "early worker 1 stopped", lines[len(lines)-1])
	assert.Equal(t, len(lines), scr.row, "Watch closed the view: no live line is left")
}

func TestWatchEndsWithContext(t *testing.T) {
	r, err := bgjob.NewRunner()
	require.NoError(t, err)
	sub, err := r.Subscribe()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	wait := watch(ctx, io.Discard, sub, Options{})
	cancel()
	require.ErrorIs(t, wait(), context.Canceled)

	sub.Close()
	require.NoError(t, r.Shutdown(t.Context()))
}
