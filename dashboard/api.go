package dashboard

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/bgjob/bgjob"
)

// Config is what GET api/config returns: what the page may show.
type Config struct {
	// Control reports whether control is on (WithAuthorizer); Actions
	// lists the actions the authorizer allows for this request.
	Control bool     `json:"control"`
	Actions []Action `json:"actions"`
	// Stacks reports whether stacks are shown (WithStacks).
	Stacks bool `json:"stacks"`
	// Streams says how the streams are served.
	Streams Stats `json:"streams"`
}

func (h *Handler) serveConfig(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r, ""); err != nil {
		writeInputError(w, err)
		return
	}
	c := Config{Control: h.c.authorize != nil, Actions: []Action{}, Stacks: h.c.stacks, Streams: h.hub.stats()}
	if c.Control {
		for _, a := range actions {
			if h.c.authorize(r, a) == nil {
				c.Actions = append(c.Actions, a)
			}
		}
	}
	writeJSON(w, http.StatusOK, c)
}

// runnerStatus returns the Runner's status, without stacks unless shown.
func (h *Handler) runnerStatus() bgjob.RunnerStatus {
	st := h.r.GetStatus()
	for i := range st.Jobs {
		st.Jobs[i] = h.jobStatus(st.Jobs[i])
	}
	if st.Jobs == nil {
		st.Jobs = []bgjob.JobStatus{}
	}
	return st
}

func (h *Handler) jobStatus(st bgjob.JobStatus) bgjob.JobStatus {
	if !h.c.stacks {
		st.Stack = ""
	}
	return st
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r, ""); err != nil {
		writeInputError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.runnerStatus())
}

func (h *Handler) serveJob(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r, ""); err != nil {
		writeInputError(w, err)
		return
	}
	if hd, ok := h.job(w, r); ok {
		writeJSON(w, http.StatusOK, h.jobStatus(hd.Status()))
	}
}

func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r, ""); err != nil {
		writeInputError(w, err)
		return
	}
	if hd, ok := h.job(w, r); ok {
		writeJSON(w, http.StatusOK, orEmpty(hd.Metrics()))
	}
}

func (h *Handler) serveTimeline(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r, ""); err != nil {
		writeInputError(w, err)
		return
	}
	if hd, ok := h.job(w, r); ok {
		writeJSON(w, http.StatusOK, orEmpty(hd.Timeline()))
	}
}

// serveLogs returns the tail of the job's log; limit keeps its last
// lines only.
func (h *Handler) serveLogs(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "", "limit")
	if err != nil {
		writeInputError(w, err)
		return
	}
	limit, err := intParam(q, "limit", maxLogLimit, 1, maxLogLimit)
	if err != nil {
		writeInputError(w, err)
		return
	}
	if hd, ok := h.job(w, r); ok {
		logs := hd.Logs()
		writeJSON(w, http.StatusOK, orEmpty(logs[max(0, len(logs)-limit):]))
	}
}

// HistoryPage is what GET api/history returns: a page of finished jobs,
// newest first.
type HistoryPage struct {
	// Records are the final statuses of the jobs; their logs, timelines
	// and metric series are read by job (api/jobs/{id}/…).
	Records []bgjob.JobStatus `json:"records"`
	// NextOffset is the offset of the next page, absent on the last.
	NextOffset int `json:"next_offset,omitempty"`
}

// serveHistory pages through the history: state (terminal states,
// repeated or comma-separated) and name filter it, limit and offset page
// it. Offsets count from the newest record, so a page read while jobs
// finish may repeat a record of the page before.
func (h *Handler) serveHistory(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "state", "name", "limit", "offset")
	if err != nil {
		writeInputError(w, err)
		return
	}
	var f bgjob.HistoryFilter
	if f.States, err = parseStates(q["state"]); err != nil {
		writeInputError(w, err)
		return
	}
	f.Name = q.Get("name")
	if err := text("name", f.Name, bgjob.MaxNameLen); err != nil {
		writeInputError(w, err)
		return
	}
	limit, err := intParam(q, "limit", defaultPage, 1, maxHistoryPage)
	if err != nil {
		writeInputError(w, err)
		return
	}
	offset, err := intParam(q, "offset", 0, 0, maxOffset)
	if err != nil {
		writeInputError(w, err)
		return
	}
	page := HistoryPage{Records: []bgjob.JobStatus{}}
	i := 0
	for rec := range h.r.History(f) {
		if i == offset+limit {
			page.NextOffset = i
			break
		}
		if i >= offset {
			page.Records = append(page.Records, h.jobStatus(rec.JobStatus))
		}
		i++
		if r.Context().Err() != nil {
			// The client left: a HistoryStore may have a million
			// records to skip.
			return
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// serveRunnerEvents streams the events of every job; types limits them
// to some event types (comma-separated), as for a table that needs no
// log lines.
func (h *Handler) serveRunnerEvents(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "", "types")
	if err != nil {
		writeInputError(w, err)
		return
	}
	types, err := parseTypes(q.Get("types"))
	if err != nil {
		writeInputError(w, err)
		return
	}
	h.serveStream(w, r, filter{types: types}, r.Header.Get("Last-Event-ID"), func() ([]byte, bool) {
		b, _ := json.Marshal(h.runnerStatus())
		return b, false
	}, nil)
}

// serveJobEvents streams the events of one job, and ends after its
// worker_stopped.
func (h *Handler) serveJobEvents(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "", "types")
	if err != nil {
		writeInputError(w, err)
		return
	}
	types, err := parseTypes(q.Get("types"))
	if err != nil {
		writeInputError(w, err)
		return
	}
	hd, ok := h.job(w, r)
	if !ok {
		return
	}
	if len(types) > 0 && !slices.Contains(types, bgjob.EventWorkerStopped) {
		// The stream ends at the job's last event: always send it.
		types = append(types, bgjob.EventWorkerStopped)
	}
	h.serveStream(w, r, filter{job: hd.ID(), types: types}, r.Header.Get("Last-Event-ID"), func() ([]byte, bool) {
		st := hd.Status()
		b, _ := json.Marshal(h.jobStatus(st))
		return b, stoppedStatus(st)
	}, func() bool { return stoppedStatus(hd.Status()) })
}

// stoppedStatus reports whether st shows the job ended with no worker
// left: such a status was committed before worker_stopped was published,
// and nothing more will come. (Done closes a moment later, once the job
// is retired, and a stream opened in between would wait for ever.)
func stoppedStatus(st bgjob.JobStatus) bool { return st.State.Terminal() && !st.Alive }

// orEmpty returns s, or an empty slice for nil, so that the JSON is []
// rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
