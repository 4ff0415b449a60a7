package dashboard

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// retryMillis is how long a browser waits before reconnecting a stream
// that broke: long enough not to hammer a server that restarts, short
// enough to resume from the replay.
const retryMillis = 2000

// snapshotFunc returns the JSON of what a stream watches now, and whether
// nothing more will happen to it (a job that has stopped).
type snapshotFunc func() (data []byte, over bool)

// stoppedFunc reports whether the job a stream watches has stopped; nil
// for the Runner's stream.
type stoppedFunc func() bool

// serveStream serves server-sent events: a snapshot (event "snapshot"),
// then every event f selects as it is published (unnamed, id = its
// sequence number), a reset (event "reset", with a fresh snapshot) when
// the client fell behind the replay, and "end" when nothing more will
// come. A client that sends Last-Event-ID (an id it received) and is
// still within the replay gets the events after it instead of the
// snapshot; for a job that stopped, only if they reach its
// worker_stopped, and a reset with its final status otherwise. The
// stream holds one batch of frames at most; it ends when the client
// leaves, the handler is closed, or a write blocks longer than the write
// timeout.
func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, f filter, lastID string, snap snapshotFunc, stopped stoppedFunc) {
	var resumeSeq uint64
	if lastID != "" {
		seq, err := strconv.ParseUint(strings.TrimSpace(lastID), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Last-Event-ID is not an event id")
			return
		}
		resumeSeq = seq
	}
	if err := h.hub.attach(); err != nil {
		if errors.Is(err, errClosed) {
			writeError(w, http.StatusServiceUnavailable, "the dashboard is shutting down")
		} else {
			writeError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	defer h.hub.detach()

	s := &stream{w: w, rc: http.NewResponseController(w), timeout: h.c.writeTimeout}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s.write([]byte("retry: " + strconv.Itoa(retryMillis) + "\n\n"))

	var pos int64
	resumed := false
	if lastID != "" {
		// Asked before the replay is read: a job not stopped yet
		// publishes its worker_stopped after the event resumed from.
		var job uuid.UUID
		if stopped != nil && stopped() {
			job = f.job
		}
		pos, resumed = h.hub.resume(resumeSeq, job)
	}
	if !resumed {
		// A client that asked to resume and cannot is told it missed
		// events: a reset rather than a first snapshot.
		name := "snapshot"
		if lastID != "" {
			name = "reset"
		}
		var over bool
		if pos, over = s.snapshot(name, h.hub, snap); over {
			s.end("stopped")
			return
		}
	}
	heartbeat := time.NewTicker(h.c.heartbeat)
	defer heartbeat.Stop()
	frames := make([][]byte, 0, maxBatch)
	for s.err == nil {
		var state readState
		var wake <-chan struct{}
		frames, pos, state, wake = h.hub.read(pos, &f, frames[:0])
		for _, fr := range frames {
			s.write(fr)
		}
		clear(frames) // hold no frame longer than needed
		switch state {
		case readReset:
			var over bool
			if pos, over = s.snapshot("reset", h.hub, snap); over {
				s.end("stopped")
				return
			}
		case readJobEnd:
			s.end("stopped")
			return
		case readEnded:
			s.end("shutdown")
			return
		case readClosed:
			return
		}
		s.flush() // what this round wrote, if anything
		if wake == nil {
			continue
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			s.write([]byte(": ping\n\n"))
			s.flush()
		case <-r.Context().Done():
			return
		}
	}
}

// stream writes one client's frames, each write bounded by the write
// timeout; after the first error it writes nothing more.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	err     error
	dirty   bool // written since the last flush
}

func (s *stream) write(b []byte) {
	if s.err != nil {
		return
	}
	s.deadline()
	_, s.err = s.w.Write(b)
	s.dirty = true
}

// flush sends what was written since the last flush; with nothing
// written, it costs nothing.
func (s *stream) flush() {
	if s.err != nil || !s.dirty {
		return
	}
	s.deadline()
	s.err = s.rc.Flush()
	s.dirty = false
}

func (s *stream) deadline() {
	err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = err
	}
}

// snapshot writes a snapshot of what the stream watches, named name, and
// returns the position the stream reads on from. The position is taken
// before the snapshot, so the two leave no gap: an event published while
// the snapshot is taken may show in both.
func (s *stream) snapshot(name string, hb *hub, snap snapshotFunc) (int64, bool) {
	pos, id := hb.position()
	data, over := snap()
	b := make([]byte, 0, len(data)+64)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\nid: "...)
	b = append(b, id...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	s.write(append(b, "\n\n"...))
	return pos, over
}

// end tells the client that nothing more will come, so that it closes
// its EventSource instead of reconnecting.
func (s *stream) end(reason string) {
	s.write([]byte(`event: end` + "\n" + `data: {"reason":"` + reason + `"}` + "\n\n"))
	s.flush()
}
