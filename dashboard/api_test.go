package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/bgjob/bgjob/dashboard"
)

func TestAPIServesTheLibrarysJSON(t *testing.T) {
	ctx := t.Context()
	r := newRunner(t)
	h := newHandler(t, r)
	hd, err := r.Start(ctx, "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(4)
		for i := range 4 {
			p.SetStep(int64(i + 1))
			p.Metrics(bgjob.Scalar{Name: "loss", Value: 1 / float64(i+1)})
			p.Logger().Info("epoch done", "epoch", i+1)
		}
		return nil
	}))
	require.NoError(t, err)
	require.NoError(t, hd.Wait(ctx))

	var st bgjob.JobStatus
	getJSON(t, h, "/api/jobs/"+hd.ID().String(), &st)
	assert.Equal(t, hd.ID(), st.ID)
	assert.Equal(t, bgjob.StateSucceeded, st.State)
	assert.Equal(t, 100.0, st.Percent)

	var series []bgjob.MetricSeries
	getJSON(t, h, "/api/jobs/"+hd.ID().String()+"/metrics", &series)
	require.Len(t, series, 1)
	assert.Equal(t, "loss", series[0].Name)
	assert.Len(t, series[0].Points, 4)

	var tl []bgjob.TimelinePoint
	getJSON(t, h, "/api/jobs/"+hd.ID().String()+"/timeline", &tl)

	var logs []bgjob.LogRecord
	getJSON(t, h, "/api/jobs/"+hd.ID().String()+"/logs?limit=2", &logs)
	require.Len(t, logs, 2)
	assert.Equal(t, "epoch done", logs[1].Message)
	assert.Equal(t, int64(4), logs[1].Attrs[0].Value.Int64())

	var rs bgjob.RunnerStatus
	getJSON(t, h, "/api/status", &rs)
	assert.Equal(t, 1, rs.Counts[bgjob.StateSucceeded])
	assert.NotNil(t, rs.Jobs)

	var cfg dashboard.Config
	getJSON(t, h, "/api/config", &cfg)
	assert.False(t, cfg.Control)
	assert.Empty(t, cfg.Actions)
}

func TestHistoryFiltersAndPages(t *testing.T) {
	ctx := t.Context()
	r := newRunner(t)
	h := newHandler(t, r)
	for i := range 5 {
		hd, err := r.Start(ctx, "ok", bgjobtest.Succeed(1))
		require.NoError(t, err)
		require.NoError(t, hd.Wait(ctx), i)
	}
	bad, err := r.Start(ctx, "bad", bgjobtest.Fail(errors.New("diverged")))
	require.NoError(t, err)
	<-bad.Done()

	var page dashboard.HistoryPage
	getJSON(t, h, "/api/history?limit=4", &page)
	require.Len(t, page.Records, 4)
	assert.Equal(t, "bad", page.Records[0].Name, "newest first")
	assert.Equal(t, 4, page.NextOffset)
	page = dashboard.HistoryPage{}
	getJSON(t, h, "/api/history?limit=4&offset=4", &page)
	assert.Len(t, page.Records, 2)
	assert.Zero(t, page.NextOffset, "the last page")
	page = dashboard.HistoryPage{}
	getJSON(t, h, "/api/history?limit=6", &page)
	assert.Len(t, page.Records, 6)
	assert.Zero(t, page.NextOffset, "a page that ends with the history is the last")
	page = dashboard.HistoryPage{}
	getJSON(t, h, "/api/history?limit=2&offset=3", &page)
	assert.Len(t, page.Records, 2)
	assert.Equal(t, 5, page.NextOffset)

	getJSON(t, h, "/api/history?state=failed", &page)
	require.Len(t, page.Records, 1)
	assert.Equal(t, "diverged", page.Records[0].Err.Error())
	getJSON(t, h, "/api/history?state=failed,canceled&state=succeeded&name=ok", &page)
	assert.Len(t, page.Records, 5)
	getJSON(t, h, "/api/history?name="+url.QueryEscape("<img src=x>"), &page)
	assert.Empty(t, page.Records)
	assert.NotNil(t, page.Records, "[] rather than null")
}

func TestBadInputGetsAClearStatus(t *testing.T) {
	ctx := t.Context()
	r := newRunner(t)
	h := newHandler(t, r, dashboard.WithAuthorizer(func(*http.Request, dashboard.Action) error { return nil }))
	hd, err := r.Start(ctx, "done", bgjobtest.Succeed(1))
	require.NoError(t, err)
	<-hd.Done()
	job := "/api/jobs/" + hd.ID().String()
	unknown := "/api/jobs/" + uuid.New().String()
	for _, tt := range []struct {
		give, method, body, ctype string
		header                    []string
		want                      int
	}{
		{give: "/api/jobs/not-a-uuid", want: http.StatusBadRequest},
		{give: "/api/jobs/" + strings.ToUpper(uuid.NewString()[:35]), want: http.StatusBadRequest},
		{give: "/api/jobs/%7B" + hd.ID().String()[:34] + "%7D", want: http.StatusBadRequest},
		{give: unknown, want: http.StatusNotFound},
		{give: unknown + "/logs", want: http.StatusNotFound},
		{give: unknown + "/events", want: http.StatusNotFound},
		{give: job + "?x=1", want: http.StatusBadRequest},
		{give: job + "/logs?limit=0", want: http.StatusBadRequest},
		{give: job + "/logs?limit=1&limit=2", want: http.StatusBadRequest},
		{give: job + "/logs?limit=" + strings.Repeat("9", 600), want: http.StatusBadRequest},
		{give: job + "/logs?limit=%zz", want: http.StatusBadRequest},
		{give: "/api/status?" + strings.Repeat("a", 3000), want: http.StatusRequestURITooLong},
		{give: "/api/history?state=running", want: http.StatusBadRequest},
		{give: "/api/history?state=bogus", want: http.StatusBadRequest},
		{give: "/api/history?name=%00", want: http.StatusBadRequest},
		{give: "/api/history?name=%ff", want: http.StatusBadRequest},
		{give: "/api/history?limit=501", want: http.StatusBadRequest},
		{give: "/api/history?offset=-1", want: http.StatusBadRequest},
		{give: "/api/events?types=progress,bogus", want: http.StatusBadRequest},
		{give: "/api/events?types=lagged", want: http.StatusBadRequest},
		{give: "/api/events", header: []string{"Last-Event-ID", "abc"}, want: http.StatusBadRequest},
		{give: "/api/nothing", want: http.StatusNotFound},
		{give: "/static/nothing.js", want: http.StatusNotFound},
		{give: "/api/status", method: http.MethodPost, want: http.StatusMethodNotAllowed},
		{give: job, method: http.MethodDelete, want: http.StatusMethodNotAllowed},
		{give: job + "/cancel", method: http.MethodGet, want: http.StatusMethodNotAllowed},
		{give: job + "/start", method: http.MethodPost, want: http.StatusNotFound},
		{give: "/api/jobs/x/cancel", method: http.MethodPost, want: http.StatusBadRequest},
		{give: unknown + "/cancel", method: http.MethodPost, want: http.StatusNotFound},
		{give: job + "/cancel", method: http.MethodPost, want: http.StatusConflict},
		{give: job + "/pause", method: http.MethodPost, want: http.StatusConflict},
		{give: job + "/resume", method: http.MethodPost, want: http.StatusConflict},
		{give: job + "/cancel", method: http.MethodPost, body: strings.Repeat("x", 5000), ctype: "application/json", want: http.StatusRequestEntityTooLarge},
		{give: job + "/cancel", method: http.MethodPost, body: `{"reason":"x","force":true}`, ctype: "application/json", want: http.StatusBadRequest},
		{give: job + "/cancel", method: http.MethodPost, body: `{"reason":"x"}{}`, ctype: "application/json", want: http.StatusBadRequest},
		{give: job + "/cancel", method: http.MethodPost, body: `{"reason":"a\u0007b"}`, ctype: "application/json", want: http.StatusBadRequest},
		{give: job + "/cancel", method: http.MethodPost, body: "reason=x", ctype: "text/plain", want: http.StatusUnsupportedMediaType},
		{give: job + "/cancel", method: http.MethodPost, body: "reason=a&reason=b", ctype: "application/x-www-form-urlencoded", want: http.StatusBadRequest},
		{give: job + "/pause", method: http.MethodPost, body: `{"reason":"x"}`, ctype: "application/json", want: http.StatusBadRequest},
		{give: job + "/cancel", method: http.MethodPost, header: []string{"Sec-Fetch-Site", "cross-site"}, want: http.StatusForbidden},
		{give: job + "/cancel", method: http.MethodPost, header: []string{"Origin", "https://evil.example"}, want: http.StatusForbidden},
	} {
		t.Run(fmt.Sprintf("%s %s", tt.method, tt.give), func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			header := tt.header
			if tt.ctype != "" {
				header = append(header, "Content-Type", tt.ctype)
			}
			w := do(h, method, tt.give, strings.NewReader(tt.body), header...)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			assert.NotEmpty(t, w.Header().Get("Content-Security-Policy"))
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHandler(t, newRunner(t))
	for _, target := range []string{"/", "/static/app.js", "/static/app.css", "/api/status", "/api/nothing"} {
		w := do(h, http.MethodGet, target, nil)
		csp := w.Header().Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", target)
		assert.Contains(t, csp, "frame-ancestors 'none'", target)
		assert.NotContains(t, csp, "unsafe-inline", target)
		assert.NotContains(t, csp, "unsafe-eval", target)
		assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"), target)
		assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"), target)
	}
	w := do(h, http.MethodGet, "/", nil)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Header().Get("Content-Type"), "text/html")
	w = do(h, http.MethodGet, "/static/app.js", nil)
	assert.Contains(t, w.Header().Get("Content-Type"), "javascript")
	etag := w.Header().Get("ETag")
	require.NotEmpty(t, etag)
	w = do(h, http.MethodGet, "/static/app.js", nil, "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, w.Code)
}

// The page must never take a job's text as markup: its script sets text
// only, and holds no way to set markup at all.
func TestPageSetsTextNeverMarkup(t *testing.T) {
	h := newHandler(t, newRunner(t))
	js := do(h, http.MethodGet, "/static/app.js", nil).Body.String()
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "setAttribute(\"style\""} {
		assert.NotContains(t, js, sink)
	}
	html := do(h, http.MethodGet, "/", nil).Body.String()
	assert.NotContains(t, html, "<script>", "no inline script")
	assert.NotContains(t, html, "style=", "no inline style")
	assert.NotContains(t, html, "http://", "no external request")
	assert.NotContains(t, html, "https://", "no external request")
}

func TestNewRefusesBadOptions(t *testing.T) {
	r := newRunner(t)
	for _, opt := range []dashboard.Option{
		dashboard.WithAuthorizer(nil), dashboard.WithReplay(0), dashboard.WithReplay(dashboard.MaxReplay + 1),
		dashboard.WithHeartbeat(0), dashboard.WithWriteTimeout(-1), dashboard.WithIdleTimeout(-1),
	} {
		_, err := dashboard.New(r, opt)
		assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
	}
	_, err := dashboard.New(nil)
	assert.Error(t, err)
}

// endlessStore is a HistoryStore with records without end; it counts
// those it yields.
type endlessStore struct{ yielded atomic.Int64 }

func (s *endlessStore) Add(bgjob.JobRecord) error { return nil }
func (s *endlessStore) Records() iter.Seq[bgjob.JobRecord] {
	return func(yield func(bgjob.JobRecord) bool) {
		for {
			s.yielded.Add(1)
			if !yield(bgjob.JobRecord{JobStatus: bgjob.JobStatus{ID: uuid.New(), Name: "old", State: bgjob.StateSucceeded}}) {
				return
			}
		}
	}
}

// A history request whose client left stops reading the store: skipping
// to a far offset can take a store a long time.
func TestHistoryStopsWhenTheClientLeaves(t *testing.T) {
	store := &endlessStore{}
	h := newHandler(t, newRunner(t, bgjob.WithHistoryStore(store)))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/history?offset=1000000", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.Equal(t, int64(1), store.yielded.Load())
}
