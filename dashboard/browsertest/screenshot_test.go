package browsertest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/dashboard"
)

// diverge returns a job that trains for a while, then fails as a run whose
// loss blew up does.
func diverge(steps int, every time.Duration) bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		if err := train(steps, every).Run(ctx, p); err != nil {
			return err
		}
		return errors.New("training diverged: loss is NaN at epoch 4")
	})
}

// The dashboard and a job's page, at a laptop's width and a phone's, with
// jobs in every state a service sees: saved as test artifacts, and read
// at a phone's width with nothing wider than the screen.
func TestScreenshotsAtLaptopAndPhoneWidths(t *testing.T) {
	f := setup(t, []bgjob.Option{bgjob.WithMaxRunning(4)},
		dashboard.WithAuthorizer(func(*http.Request, dashboard.Action) error { return nil }))
	ctx := t.Context()
	start := func(name string, job bgjob.Job) *bgjob.Handle {
		h, err := f.r.Start(ctx, name, job)
		require.NoError(t, err)
		t.Cleanup(func() { h.Cancel(errors.New("test over")) })
		return h
	}
	failed := start("nightly-eval", diverge(40, 10*time.Millisecond))
	<-failed.Done()
	resnet := start("resnet50-finetune", train(3000, 10*time.Millisecond))
	start("bert-distill", train(4000, 12*time.Millisecond))
	sweep := start("mlp-sweep-lr-0.3", train(3000, 15*time.Millisecond))
	start("tokenizer-rebuild", train(2000, 20*time.Millisecond)) // queued: four run at once
	start("embeddings-backfill", train(2000, 20*time.Millisecond))

	tb := f.tab(t, false)
	tb.open(t, f.url)
	tb.waitFor(t, `document.querySelectorAll('#jobs-body tr').length === 6`)
	for resnet.Status().Percent < 12 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	require.NoError(t, sweep.Pause())
	tb.waitFor(t, `document.querySelector('`+row(sweep)+` .badge').textContent === 'paused'`)
	tb.waitFor(t, `[...document.querySelectorAll('.badge')].some((b) => b.textContent === 'queued')`)
	tb.screenshot(t, "dashboard.png")

	job := f.tab(t, false)
	job.open(t, f.url+"#/job/"+resnet.ID().String())
	job.waitFor(t, `+(document.querySelector('svg.metric-chart[data-metric="loss"]') || {getAttribute: () => 0}).getAttribute('data-points') >= 40`)
	job.waitFor(t, `+document.querySelector('svg.resource-chart').getAttribute('data-points') >= 4`)
	job.screenshot(t, "dashboard-job.png")

	for _, tt := range []*tab{tb, job} {
		tt.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		tt.waitFor(t, `window.innerWidth === 390`)
		assert.LessOrEqual(t, eval[int](t, tt, `document.documentElement.scrollWidth`), 390, "nothing wider than a phone")
	}
	tb.screenshot(t, "dashboard-phone.png")
	job.screenshot(t, "dashboard-job-phone.png")
	require.NoError(t, tb.clean(t))
	require.NoError(t, job.clean(t))
}
