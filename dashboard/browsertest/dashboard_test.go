package browsertest

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/dashboard"
)

func TestLiveProgressReachesHundredPercent(t *testing.T) {
	f := setup(t, nil)
	tb := f.tab(t, false)
	tb.open(t, f.url)
	h, err := f.r.Start(t.Context(), "resnet-finetune", train(40, 25*time.Millisecond))
	require.NoError(t, err)
	sel := row(h)
	// Seen on its way, not only at the end: the bar moves live.
	tb.waitFor(t, `(() => { const r = document.querySelector('`+sel+`');
		if (!r) return false; const p = parseFloat(r.querySelector('.pct').textContent); return p > 0 && p < 100; })()`)
	tb.waitFor(t, `(() => { const r = document.querySelector('`+sel+`');
		return r.querySelector('.pct').textContent.startsWith('100%') && r.querySelector('.fill').style.width === '100%'
			&& r.querySelector('.badge').textContent === 'succeeded'; })()`)
	assert.Equal(t, "resnet-finetune", eval[string](t, tb, `document.querySelector('`+sel+` a.job-link').textContent`))
	assert.Contains(t, eval[string](t, tb, `document.querySelector('`+sel+` .metrics').textContent`), "loss ")
	require.NoError(t, tb.clean(t))

	// Leaving the page closes its stream: the server frees it at once.
	require.Equal(t, 1, f.h.Stats().Streams)
	tb.do(t, chromedp.Navigate("about:blank"))
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for f.h.Stats().Streams != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the page left its stream open")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestHistoryShowsOutcomesWithTheTracebackFolded(t *testing.T) {
	f := setup(t, nil, dashboard.WithStacks(true))
	ctx := t.Context()
	ok, err := f.r.Start(ctx, "nightly-eval", train(5, time.Millisecond))
	require.NoError(t, err)
	bad, err := f.r.Start(ctx, "buggy-loader", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
		var shards []int
		_ = shards[3] // index out of range
		return nil
	}))
	require.NoError(t, err)
	<-ok.Done()
	<-bad.Done()
	tb := f.tab(t, false)
	tb.do(t, chromedp.Navigate(f.url+"#/history"))
	tb.waitFor(t, `document.querySelectorAll('#history-body tr').length === 2`)
	failed := `#history-body tr[data-job-id="` + bad.ID().String() + `"]`
	assert.Equal(t, "failed", eval[string](t, tb, `document.querySelector('`+failed+` .badge').textContent`))
	assert.Contains(t, eval[string](t, tb, `document.querySelector('`+failed+` td.error').firstChild.textContent`), "index out of range")
	assert.False(t, eval[bool](t, tb, `document.querySelector('`+failed+` details').open`), "the traceback is folded")
	assert.Contains(t, eval[string](t, tb, `document.querySelector('`+failed+` details pre').textContent`), "goroutine")
	tb.do(t, chromedp.SetValue(chromedp.CSS(`#history-state`), "succeeded"), chromedp.Click(chromedp.CSS(`#history-filter button`)))
	tb.waitFor(t, `document.querySelectorAll('#history-body tr').length === 1 && document.querySelector('#history-body .badge').textContent === 'succeeded'`)
	require.NoError(t, tb.clean(t))
}

func TestMetricCurveGainsPointsWhileTraining(t *testing.T) {
	f := setup(t, nil)
	h, err := f.r.Start(t.Context(), "bert-distill", train(300, 20*time.Millisecond))
	require.NoError(t, err)
	defer h.Cancel(errors.New("test over"))
	tb := f.tab(t, false)
	tb.open(t, f.url+"#/job/"+h.ID().String())
	loss := `document.querySelector('svg.metric-chart[data-metric="loss"]')`
	tb.waitFor(t, loss+` && +`+loss+`.getAttribute('data-points') >= 3`)
	first := eval[string](t, tb, loss+`.getAttribute('data-points')`)
	n, err := strconv.Atoi(first)
	require.NoError(t, err)
	tb.waitFor(t, `+`+loss+`.getAttribute('data-points') >= `+strconv.Itoa(n+10))
	assert.Equal(t, 1, eval[int](t, tb, loss+`.querySelectorAll('path.line').length`), "drawn as a line")
	tb.waitFor(t, `+document.querySelector('svg.progress-chart').getAttribute('data-points') > 2`)
	tb.waitFor(t, `document.querySelectorAll('.log li').length > 0 && document.querySelector('.log').textContent.includes('epoch done')`)
	tb.waitFor(t, `document.querySelectorAll('.events li.ev-progress').length > 0`)
	assert.Equal(t, "bert-distill", eval[string](t, tb, `document.querySelector('.job-head h1').textContent`))
	require.NoError(t, tb.clean(t))
}

const hostile = `<img src=x onerror=alert(1)>`

// hostileShown returns an error unless the hostile name shows as text in
// every place given and nothing of it became markup or ran: no img
// element, no dialog, no console error, no CSP violation.
func hostileShown(t *testing.T, tb *tab, selectors ...string) error {
	t.Helper()
	var problems []error
	for _, sel := range selectors {
		got := eval[string](t, tb, `(document.querySelector('`+sel+`') || {}).textContent || ''`)
		if got != hostile {
			problems = append(problems, errors.New(sel+" shows "+strconv.Quote(got)+", not the name as text"))
		}
	}
	if n := eval[int](t, tb, `document.querySelectorAll('img').length`); n > 0 {
		problems = append(problems, errors.New("the name became markup: "+strconv.Itoa(n)+" img element(s)"))
	}
	problems = append(problems, tb.clean(t))
	return errors.Join(problems...)
}

func TestHostileNameShowsAsTextAndRunsNothing(t *testing.T) {
	f := setup(t, nil)
	h, err := f.r.Start(t.Context(), hostile, train(500, 20*time.Millisecond))
	require.NoError(t, err)
	defer h.Cancel(errors.New("test over"))

	tb := f.tab(t, false)
	tb.open(t, f.url)
	link := row(h) + ` a.job-link`
	tb.waitFor(t, `(document.querySelector('`+link+`') || {}).textContent > ''`)
	require.NoError(t, hostileShown(t, tb, link))
	tb.open(t, f.url+"#/job/"+h.ID().String())
	tb.waitFor(t, `document.querySelector('.job-head h1') && document.querySelector('.job-head h1').textContent !== ''`)
	require.NoError(t, hostileShown(t, tb, `.job-head h1`))

	// The control case: the same check catches a page that sets the
	// name as markup. The policy blocks the handler, and the check
	// sees the element and the violation.
	t.Run("innerHTML is caught", func(t *testing.T) {
		tb := f.tab(t, false)
		tb.open(t, f.url)
		tb.waitFor(t, `(document.querySelector('`+link+`') || {}).textContent > ''`)
		tb.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector('`+link+`').innerHTML = document.querySelector('`+link+`').textContent`))
		tb.waitFor(t, `window.__csp.length > 0`)
		err := hostileShown(t, tb, link)
		require.Error(t, err)
		t.Logf("caught: %v", err)
	})
	// And without the policy the script would run: the check sees the
	// dialog it opens.
	t.Run("a script that runs is caught", func(t *testing.T) {
		tb := f.tab(t, true)
		tb.open(t, f.url)
		tb.waitFor(t, `(document.querySelector('`+link+`') || {}).textContent > ''`)
		tb.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector('`+link+`').innerHTML = document.querySelector('`+link+`').textContent`))
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		for len(tb.dialogs()) == 0 {
			select {
			case <-ctx.Done():
				t.Fatal("the injected script did not run: the control case proves nothing")
			case <-time.After(10 * time.Millisecond):
			}
		}
		err := hostileShown(t, tb, link)
		require.ErrorContains(t, err, "dialog: alert: 1")
	})
}

func TestControlButtonsAbsentWithoutAnAuthorizer(t *testing.T) {
	f := setup(t, nil)
	h, err := f.r.Start(t.Context(), "train", train(500, 20*time.Millisecond))
	require.NoError(t, err)
	defer h.Cancel(errors.New("test over"))
	tb := f.tab(t, false)
	tb.open(t, f.url)
	tb.waitFor(t, `!!document.querySelector('`+row(h)+` .badge')`)
	assert.Zero(t, eval[int](t, tb, `document.querySelectorAll('button[data-action]').length`))
	tb.open(t, f.url+"#/job/"+h.ID().String())
	tb.waitFor(t, `!!document.querySelector('.job-head h1')`)
	assert.Zero(t, eval[int](t, tb, `document.querySelectorAll('button[data-action], input.reason').length`))
	require.NoError(t, tb.clean(t))
}

func TestControlButtonsWorkWithAnAuthorizer(t *testing.T) {
	f := setup(t, nil, dashboard.WithAuthorizer(func(*http.Request, dashboard.Action) error { return nil }))
	h, err := f.r.Start(t.Context(), "train", train(5000, 20*time.Millisecond))
	require.NoError(t, err)
	tb := f.tab(t, false)
	tb.open(t, f.url)
	sel := row(h)
	button := func(a string) string { return sel + ` button[data-action="` + a + `"]` }
	tb.waitFor(t, `document.querySelector('`+button("pause")+`') && !document.querySelector('`+button("pause")+`').disabled`)
	tb.do(t, chromedp.Click(chromedp.CSS(button("pause"))))
	waitState(t, h, bgjob.StatePaused)
	tb.waitFor(t, `document.querySelector('`+sel+` .badge').textContent === 'paused'`)
	tb.waitFor(t, `!document.querySelector('`+button("resume")+`').disabled`)
	tb.do(t, chromedp.Click(chromedp.CSS(button("resume"))))
	waitState(t, h, bgjob.StateRunning)
	tb.waitFor(t, `document.querySelector('`+sel+` .badge').textContent === 'running'`)

	require.NoError(t, tb.clean(t))
	// The job's page, loaded on its own as from a link shared.
	tb = f.tab(t, false)
	tb.open(t, f.url+"#/job/"+h.ID().String())
	tb.waitFor(t, `document.querySelector('button[data-action="cancel"]') && !document.querySelector('button[data-action="cancel"]').disabled`)
	tb.do(t,
		chromedp.SendKeys(chromedp.CSS(`input.reason`), "superseded by a newer dataset"),
		chromedp.Click(chromedp.CSS(`button[data-action="cancel"]`)),
	)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	assert.EqualError(t, h.Wait(ctx), "superseded by a newer dataset")
	assert.Equal(t, bgjob.StateCanceled, h.Status().State)
	tb.waitFor(t, `(document.querySelector('.job-error') || {}).textContent === 'superseded by a newer dataset'`)
	require.NoError(t, tb.clean(t))
}

// waitState polls the job's status until it is in state want.
func waitState(t *testing.T, h *bgjob.Handle, want bgjob.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for h.Status().State != want {
		select {
		case <-ctx.Done():
			t.Fatalf("job %s, not %s", h.Status().State, want)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
