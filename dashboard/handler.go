package dashboard

import (
	"errors"
	"net/http"

	"github.com/bgjob/bgjob"
)

// Handler serves the dashboard of one Runner: the page, its JSON API and
// its event streams. Make one with New; the zero value is not usable. It
// is safe for concurrent use.
//
// A Handler starts no goroutine until the first stream opens: then one
// goroutine feeds its replay from a subscription to the Runner, until
// the idle timeout after the last stream closed (WithIdleTimeout), Close,
// or the Runner's Shutdown, whichever comes first.
type Handler struct {
	r       *bgjob.Runner
	c       config
	hub     *hub
	mux     *http.ServeMux
	control http.Handler
}

// New returns a Handler for r configured by opts. It returns an error
// wrapping bgjob.ErrInvalidOption for an option out of its range.
func New(r *bgjob.Runner, opts ...Option) (*Handler, error) {
	if r == nil {
		return nil, errors.New("dashboard: nil runner")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	h := &Handler{r: r, c: c, hub: newHub(r, c), mux: http.NewServeMux()}
	// Unsafe methods from another origin are refused before they reach
	// the authorizer: a page elsewhere cannot make a signed-in browser
	// cancel a job.
	h.control = http.NewCrossOriginProtection().Handler(http.HandlerFunc(h.serveControl))
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := h.mux
	m.HandleFunc("GET /{$}", h.serveIndex)
	m.HandleFunc("GET /static/{file}", h.serveStatic)
	m.HandleFunc("GET /api/config", h.serveConfig)
	m.HandleFunc("GET /api/status", h.serveStatus)
	m.HandleFunc("GET /api/events", h.serveRunnerEvents)
	m.HandleFunc("GET /api/history", h.serveHistory)
	m.HandleFunc("GET /api/jobs/{id}", h.serveJob)
	m.HandleFunc("GET /api/jobs/{id}/metrics", h.serveMetrics)
	m.HandleFunc("GET /api/jobs/{id}/timeline", h.serveTimeline)
	m.HandleFunc("GET /api/jobs/{id}/logs", h.serveLogs)
	m.HandleFunc("GET /api/jobs/{id}/events", h.serveJobEvents)
	m.Handle("POST /api/jobs/{id}/{action}", h.control)
}

// ServeHTTP serves the dashboard. Every response carries a strict
// Content-Security-Policy (scripts and styles from the handler only, no
// inline script), nosniff, and refuses to be framed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if len(r.URL.RawQuery) > maxQueryLen {
		writeError(w, http.StatusRequestURITooLong, "query too long")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Close ends every open stream and the goroutine that feeds them, and
// waits for that goroutine; a stream's handler returns at its next wake,
// at once for a stream waiting for events. Streams opened after Close
// get 503 Service Unavailable; the page and the JSON API keep working.
// Close is safe to call more than once. An http.Server does not end
// streaming responses in its Shutdown: register Close with
// RegisterOnShutdown, or call it before.
func (h *Handler) Close() { h.hub.close() }

// Stats returns counters of the handler's streams.
func (h *Handler) Stats() Stats { return h.hub.stats() }
