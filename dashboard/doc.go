// Package dashboard serves a web dashboard for a bgjob Runner: a page that
// shows the jobs live, and the JSON API and event streams it reads, in
// one http.Handler built on the standard library alone.
//
//	h, err := dashboard.New(runner)
//	if err != nil {
//		return err
//	}
//	defer h.Close()
//	mux.Handle("/jobs/", http.StripPrefix("/jobs", h))
//
// The page (GET /) lists the jobs with live progress bars, state, rate, ETA
// and latest metrics; a job's page draws its metric curves and its
// progress over time (pauses and stalls marked) as SVG, with the
// resources sampled while it ran, its log as it is written and its
// events; the history lists finished jobs with their outcome, run time and
// error. It is embedded in the binary: no build step, no CDN, no request
// to anywhere but the handler. Every string a job provides reaches it as
// text, never as markup.
//
// # What is exposed
//
// Paths are relative to where the handler is mounted. The JSON is the
// library's own (bgjob.RunnerStatus, bgjob.JobStatus, bgjob.Event, …);
// job ids are the canonical UUID form.
//
//	GET  /api/config                 Config: whether control is on, which actions this request may take
//	GET  /api/status                 bgjob.RunnerStatus: the live jobs and the counts
//	GET  /api/jobs/{id}              bgjob.JobStatus of a live or remembered job
//	GET  /api/jobs/{id}/metrics      []bgjob.MetricSeries
//	GET  /api/jobs/{id}/timeline     []bgjob.TimelinePoint
//	GET  /api/jobs/{id}/logs         []bgjob.LogRecord, the tail; ?limit=N keeps the last N
//	GET  /api/history                HistoryPage; ?state=failed&name=…&limit=50&offset=0
//	GET  /api/events                 server-sent events of every job; ?types=progress,complete,…
//	GET  /api/jobs/{id}/events       server-sent events of one job, ending after it stopped
//	POST /api/jobs/{id}/cancel       control (see below), with {"reason": "…"}
//	POST /api/jobs/{id}/pause
//	POST /api/jobs/{id}/resume
//
// A malformed id is 400 Bad Request, an unknown one 404 Not Found; an
// unknown parameter, a value given twice or longer than 512 bytes, or out
// of its range is 400; a query over 2 KB is 414; a wrong method is 405.
// Errors are JSON: {"error": "…"}.
//
// # Event streams
//
// A stream starts with an event named "snapshot" holding the status of
// what it watches (a RunnerStatus, or one JobStatus), then sends each
// event as it is published, unnamed, its data the event's JSON and its id
// the event's sequence number (bgjob.Event.Seq). The snapshot and the
// events leave no gap; an event published while the snapshot is taken
// may show in both. The handler keeps the latest events (WithReplay),
// encoded once for every stream: a browser that reconnects with
// Last-Event-ID gets the events it missed, and one that asks for more than
// the replay holds gets an event named "reset" with a fresh snapshot — as
// does one resuming the stream of a job that stopped when its end is not
// among the events after its id, before the stream's "end".
//
// Each stream reads the replay at its own pace. A stream that falls
// behind gets a job's latest progress rather than a queue of it; every
// other event reaches it, in order, while it stays within the replay;
// beyond, it gets a reset with a fresh snapshot, never a silent gap. What
// one stream holds is bounded, whatever its client does: a batch of at
// most 256 events, shared with every other stream; a write that blocks for
// longer than the write timeout (WithWriteTimeout) ends the stream — as
// long as the http.ResponseWriter can take a write deadline
// (http.ResponseController): middleware that wraps the writer must
// provide Unwrap, or a stalled client holds its stream until its
// connection dies. An
// idle stream sends a comment every heartbeat (WithHeartbeat). A stream
// ends with an event named "end" when nothing more will come: after its
// job's worker_stopped, or after the Runner shut down.
//
// The replay is fed by one goroutine from one subscription to the Runner
// (bgjob.Runner.Subscribe), started by the first stream and ended by the
// idle timeout after the last (WithIdleTimeout), by Close, or by the
// Runner's Shutdown. With no stream open, the handler runs nothing and
// holds no event.
//
// # Control
//
// Cancel, pause and resume are off unless the application passes an
// Authorizer (WithAuthorizer): a function given the request and the
// Action, which returns nil to allow it. Without one, the page shows no
// buttons and the control endpoints answer 403. Control requests are
// POSTs behind http.CrossOriginProtection, so a page on another origin
// cannot make a signed-in browser send them; the authorizer then decides
// who may do what. A cancel's reason becomes the cause the job's context
// sees and the job's error. A job whose state does not allow the action
// is 409 Conflict. Starting jobs is not part of the dashboard.
//
// Stacks of panics and stalls are left out of every response unless
// WithStacks(true) is given: they tell whoever reads them about the code.
//
// Every response carries a Content-Security-Policy that allows the
// page's own script, style and API only (no inline script, no other
// origin, no framing), with X-Content-Type-Options: nosniff and
// X-Frame-Options: DENY.
//
// # Mounting and authentication
//
// The page uses relative URLs, so the handler works under any prefix:
// strip the prefix without its trailing slash, and the page is at the
// prefix with it ("/jobs/"; ServeMux redirects "/jobs" there).
//
// The dashboard shows job names, messages, metrics and logs to whoever
// can reach it. Put it behind the service's own authentication by
// wrapping it, as any handler:
//
//	mux.Handle("/jobs/", requireLogin(http.StripPrefix("/jobs", h)))
//
// and let the authorizer read what that middleware put in the request's
// context to decide who may steer jobs:
//
//	dashboard.WithAuthorizer(func(r *http.Request, a dashboard.Action) error {
//		if !userFrom(r.Context()).IsOperator() {
//			return errors.New("operators only")
//		}
//		return nil
//	})
//
// # Shutting down
//
// An http.Server's Shutdown waits for open responses, and a stream never
// finishes on its own: register Close so that Shutdown ends the streams
// first.
//
//	srv.RegisterOnShutdown(h.Close)
package dashboard
