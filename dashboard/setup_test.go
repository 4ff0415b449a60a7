package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/dashboard"
)

// newRunner returns a Runner shut down when the test ends.
func newRunner(t *testing.T, opts ...bgjob.Option) *bgjob.Runner {
	t.Helper()
	r, err := bgjob.NewRunner(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// newHandler returns a Handler closed when the test ends.
func newHandler(t *testing.T, r *bgjob.Runner, opts ...dashboard.Option) *dashboard.Handler {
	t.Helper()
	h, err := dashboard.New(r, opts...)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h
}

// do serves one request and returns the response.
func do(h http.Handler, method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// getJSON serves a GET and decodes its JSON body into v, requiring 200.
func getJSON(t *testing.T, h http.Handler, target string, v any) {
	t.Helper()
	w := do(h, http.MethodGet, target, nil)
	require.Equal(t, http.StatusOK, w.Code, "%s: %s", target, w.Body)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), v), w.Body.String())
}

// frame is one server-sent event as a client parses it.
type frame struct {
	event, id, data string
	comment         bool
}

// decode decodes the frame's data into v.
func (f frame) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(f.data), v), f.data)
}

// sseClient reads a stream served by a handler through a pipe, with no
// network, so that it runs inside a testing/synctest bubble. The pipe
// holds nothing: a client that does not read blocks the stream's writes,
// as a full socket does.
type sseClient struct {
	w      *pipeWriter
	rd     *bufio.Reader
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

// openStream starts serving target to a new client; header holds
// name-value pairs.
func openStream(h http.Handler, target string, header ...string) *sseClient {
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	pr, pw := io.Pipe()
	c := &sseClient{w: &pipeWriter{hdr: http.Header{}, pw: pw}, rd: bufio.NewReader(pr), pr: pr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer pw.Close()
		h.ServeHTTP(c.w, req)
	}()
	return c
}

// next returns the next frame with data or a comment, skipping those
// with neither (retry); ok is false at the end of the stream.
func (c *sseClient) next() (frame, bool) {
	var f frame
	for {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			return frame{}, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if f.data != "" || f.comment {
				return f, true
			}
			f = frame{}
		case strings.HasPrefix(line, ":"):
			f.comment = true
		case strings.HasPrefix(line, "event: "):
			f.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id:"):
			f.id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data: "):
			f.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// maxIdle is how many heartbeats in a row a test waits through before it
// takes the stream for stuck: in a bubble, heartbeats would otherwise keep
// a stream that never ends going for ever.
const maxIdle = 100

// nextData returns the next frame that is not a comment.
func (c *sseClient) nextData(t *testing.T) frame {
	t.Helper()
	for range maxIdle {
		f, ok := c.next()
		require.True(t, ok, "the stream ended")
		if !f.comment {
			return f
		}
	}
	t.Fatalf("nothing but heartbeats for %d of them", maxIdle)
	return frame{}
}

// rest reads the frames until the stream ends, or until it sends nothing
// but heartbeats for maxIdle of them.
func (c *sseClient) rest() []frame {
	var fs []frame
	for idle := 0; idle < maxIdle; {
		f, ok := c.next()
		if !ok {
			return fs
		}
		if f.comment {
			idle++
			continue
		}
		idle = 0
		fs = append(fs, f)
	}
	return append(fs, frame{event: "stuck"})
}

// close leaves the stream, as a browser closing the tab, and waits for
// the handler to return.
func (c *sseClient) close() {
	c.cancel()
	c.pr.Close()
	<-c.done
}

// pipeWriter is a ResponseWriter writing into a pipe. It counts the
// flushes and write deadlines the stream asks for.
type pipeWriter struct {
	hdr       http.Header
	code      int
	pw        *io.PipeWriter
	flushes   atomic.Int64
	deadlines atomic.Int64
}

func (p *pipeWriter) Header() http.Header { return p.hdr }
func (p *pipeWriter) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}
func (p *pipeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}
func (p *pipeWriter) Flush() { p.flushes.Add(1) }
func (p *pipeWriter) SetWriteDeadline(time.Time) error {
	p.deadlines.Add(1)
	return nil
}

// event decodes a frame holding a job's event.
func event(t *testing.T, f frame) bgjob.Event {
	t.Helper()
	require.Empty(t, f.event, "a job's event is unnamed: %+v", f)
	var ev bgjob.Event
	f.decode(t, &ev)
	return ev
}
