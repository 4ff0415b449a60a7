package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/bgjob/bgjob/dashboard"
)

// FuzzHandler serves arbitrary paths, ids, queries, Last-Event-IDs and
// bodies: every answer is a clear status with the security headers,
// never a panic, a 500 or a hang. "{job}" and "{done}" in a path stand
// for the id of a running and of a finished job.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct {
		method                  uint8
		path, query, last, body string
	}{
		{0, "/", "", "", ""},
		{0, "/api/status", "", "", ""},
		{0, "/api/jobs/{job}", "", "", ""},
		{0, "/api/jobs/{done}/logs", "limit=3", "", ""},
		{0, "/api/history", "state=failed,canceled&name=%3Cimg%20src%3Dx%3E&limit=2&offset=1", "", ""},
		{0, "/api/events", "types=progress,complete", "", ""},
		{0, "/api/jobs/{done}/events", "", "7", ""},
		{1, "/api/jobs/{job}/pause", "", "", ""},
		{1, "/api/jobs/{job}/cancel", "", "", `{"reason":"\u0000<b>"}`},
		{1, "/api/jobs/{done}/resume", "", "", "reason=x"},
		{2, "/api/jobs/../../etc/passwd", "", "", ""},
		{0, "/api/jobs/{" + strings.Repeat("f", 32) + "}", "a=%zz", "-1", ""},
		{0, "/static/app.js", "", "", ""},
		{0, "/api/jobs/\xff\xfe", "\x00=\x00", "18446744073709551616", ""},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.last, seed.body)
	}
	r, err := bgjob.NewRunner()
	if err != nil {
		f.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	h, err := dashboard.New(r, dashboard.WithIdleTimeout(0), dashboard.WithStacks(true),
		dashboard.WithAuthorizer(func(*http.Request, dashboard.Action) error { return nil }))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	done, err := r.Start(ctx, "<img src=x onerror=alert(1)>", bgjobtest.Fail(io.ErrUnexpectedEOF))
	if err != nil {
		f.Fatal(err)
	}
	<-done.Done()
	running, err := r.Start(ctx, "hang", bgjobtest.HangUntilCanceled())
	if err != nil {
		f.Fatal(err)
	}
	defer running.Cancel(nil)

	methods := []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodDelete, http.MethodPut, http.MethodOptions}
	allowed := map[int]bool{200: true, 301: true, 307: true, 308: true, 304: true, 400: true, 403: true, 404: true, 405: true, 409: true, 413: true, 414: true, 415: true, 503: true}
	f.Fuzz(func(t *testing.T, method uint8, path, query, last, body string) {
		path = strings.ReplaceAll(path, "{job}", running.ID().String())
		path = strings.ReplaceAll(path, "{done}", done.ID().String())
		// A client gone at once: a stream serves its snapshot and ends.
		reqCtx, cancel := context.WithCancel(context.Background())
		cancel()
		req := (&http.Request{
			Method:     methods[int(method)%len(methods)],
			URL:        &url.URL{Path: path, RawQuery: query},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1, ProtoMinor: 1,
			Header:     http.Header{},
			Body:       io.NopCloser(strings.NewReader(body)),
			Host:       "example.com",
			RemoteAddr: "192.0.2.1:1234",
		}).WithContext(reqCtx)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		if body != "" {
			if strings.HasPrefix(body, "{") {
				req.Header.Set("Content-Type", "application/json")
			} else {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if !allowed[w.Code] {
			t.Fatalf("%s %q ?%q: status %d: %s", req.Method, path, query, w.Code, w.Body)
		}
		if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s %q: security headers missing", req.Method, path)
		}
	})
}
