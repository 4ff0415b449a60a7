package browsertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/dashboard"
)

// timeout bounds every wait for the browser: real time, so generous, and
// polled, never slept.
const timeout = 30 * time.Second

// chromium returns the path of a Chromium, skipping the test without one
// unless CI=true, where a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on the PATH (chromium, chromium-browser or google-chrome): apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// fixture is a Runner with a dashboard behind an httptest server, and a
// headless browser. Cleanups run in the order that lets each end: the
// browser first (an open event stream would keep the server waiting),
// then the handler's streams, the server, and the Runner.
type fixture struct {
	r       *bgjob.Runner
	h       *dashboard.Handler
	url     string // the dashboard's page, mounted under /jobs/
	browser context.Context
}

func setup(t *testing.T, runnerOpts []bgjob.Option, opts ...dashboard.Option) *fixture {
	t.Helper()
	exe := chromium(t)
	r, err := bgjob.NewRunner(append([]bgjob.Option{
		bgjob.WithProgressInterval(50 * time.Millisecond),
		bgjob.WithResourceInterval(100 * time.Millisecond),
	}, runnerOpts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r.Shutdown(ctx) // cancels what still runs
		r.Shutdown(context.Background())
	})
	h, err := dashboard.New(r, opts...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/jobs/", http.StripPrefix("/jobs", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)

	// A short directory of the test's own: Chromium keeps a socket in
	// TMPDIR, and a socket's path must fit in 108 bytes, which the
	// directories of t.TempDir, named after the test, may not.
	tmp, err := os.MkdirTemp("", "bt")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.WindowSize(1280, 900),
		// Nothing but the test server: no request leaves the machine.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// Start the browser now, so that a failure to start says so.
	require.NoError(t, chromedp.Do(browser))
	return &fixture{r: r, h: h, url: srv.URL + "/jobs/", browser: browser}
}

// tab is a browser tab that records what the page writes to its console,
// the Content-Security-Policy violations it reports and the dialogs it
// opens (which it dismisses, so that none blocks the page).
type tab struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string // console errors, exceptions, failed loads
	dialog []string
}

// recordCSP runs in the page before its own script: the violations it
// reports are kept where the test can read them.
const recordCSP = `window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || e.sample)));`

func (f *fixture) tab(t *testing.T, bypassCSP bool) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(f.browser)
	tb := &tab{ctx: ctx}
	messages := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || m.Type == "error" || m.Type == "warning" && m.Source == "security" {
				tb.mu.Lock()
				tb.errors = append(tb.errors, m.String())
				tb.mu.Unlock()
			}
		}
	})
	wg.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialog = append(tb.dialog, string(ev.Type)+": "+ev.Message)
			tb.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordCSP})
	require.NoError(t, err)
	if bypassCSP {
		_, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		require.NoError(t, err)
	}
	return tb
}

func (tb *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// open loads url and waits until the page's stream is live.
func (tb *tab) open(t *testing.T, url string) {
	t.Helper()
	tb.do(t, chromedp.Navigate(url))
	tb.waitFor(t, `document.getElementById('conn').textContent === 'live'`)
}

// waitFor polls the JavaScript expression until it is true.
func (tb *tab) waitFor(t *testing.T, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("waiting for %s: %v\nconsole: %v", expr, err, tb.consoleErrors())
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

func (tb *tab) consoleErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.errors...)
}

func (tb *tab) dialogs() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialog...)
}

// clean returns an error naming the console errors, CSP violations and
// dialogs the page produced, if any.
func (tb *tab) clean(t *testing.T) error {
	t.Helper()
	csp := eval[[]string](t, tb, `window.__csp || []`)
	var problems []string
	problems = append(problems, tb.consoleErrors()...)
	for _, v := range csp {
		problems = append(problems, "CSP violation: "+v)
	}
	for _, d := range tb.dialogs() {
		problems = append(problems, "dialog: "+d)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// screenshot saves a screenshot of the page as a test artifact.
func (tb *tab) screenshot(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(t.ArtifactDir(), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
	return path
}

// train returns a job that trains for steps steps of every each, its loss
// falling as it goes, with a checkpoint at every step.
func train(steps int, every time.Duration) bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(int64(steps))
		log := p.Logger()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 1; i <= steps; i++ {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-tick.C:
			}
			x := float64(i) / float64(steps)
			loss := 0.05 + 1.2*math.Exp(-4*x) + 0.03*math.Sin(float64(i)/3)
			p.SetStep(int64(i))
			p.Metrics(bgjob.Scalar{Name: "loss", Value: loss}, bgjob.Scalar{Name: "accuracy", Value: 0.97 - 0.45*math.Exp(-5*x)})
			p.SetMessage(fmt.Sprintf("epoch %d", i/10+1))
			if i%10 == 0 {
				log.Info("epoch done", "epoch", i/10, "loss", math.Round(loss*1000)/1000)
			}
		}
		return nil
	})
}

// row is a CSS selector of the jobs table's row for the job.
func row(h *bgjob.Handle) string { return `tr[data-job-id="` + h.ID().String() + `"]` }
