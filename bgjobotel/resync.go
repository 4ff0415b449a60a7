package bgjobotel

import (
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/bgjob/bgjob"
)

// resync reads again the status of the jobs whose events a lag notice
// says were lost, and ends the spans of those that ended meanwhile; with
// more jobs than the notice names, of every job with an open span. A
// job canceled while queued that the notice does not name is left out:
// the metrics count it, but it gets no span.
func (t *Telemetry) resync(ev bgjob.Event) {
	named := make(map[uuid.UUID]bool, len(ev.LagJobs))
	for _, id := range ev.LagJobs {
		named[id] = true
	}
	ids := ev.LagJobs
	if ev.LagMore {
		for _, id := range t.openIDs() {
			if !named[id] {
				ids = append(ids, id)
			}
		}
	}
	now := time.Now()
	for _, id := range ids {
		if js := t.lookup(id); js != nil {
			if named[id] {
				js.span.AddEvent(eventLagged, trace.WithTimestamp(now),
					trace.WithAttributes(keyLost.Int64(int64(ev.Lost()))))
			}
			t.resyncJob(js)
			continue
		}
		h, err := t.runner.Job(id)
		if err != nil {
			continue // forgotten already (bgjob.WithHistoryLimit)
		}
		if st := h.Status(); st.State.Terminal() && !st.HasWorker {
			t.endQueued(id, jobEnd{
				name: st.Name, workerID: st.WorkerID, priority: st.Priority,
				queueWait: st.QueueWait, err: st.Err, at: st.EndTime,
			})
		}
	}
}

// resyncJob brings the span of a job up to its status: its progress,
// and its end if it has ended. The status turns terminal before the
// Runner publishes complete, so a job whose complete or worker_stopped
// the notice counts as lost reads as ended here, even if its Done is not
// closed yet; if those events were not lost after all, they find the span
// ended and change nothing.
func (t *Telemetry) resyncJob(js *jobSpan) {
	st := js.h.Status()
	if !st.State.Terminal() {
		t.progress(js, st.Percent, st.Step, st.Total, st.Message, st.Metrics, time.Now())
		return
	}
	if t.take(js.h.ID()) != nil {
		t.end(js, st, st.EndTime)
	}
}

// endRemaining ends the spans still open once the Runner's channel is
// closed: jobs that ended after it, and abandoned jobs that may still run.
func (t *Telemetry) endRemaining() {
	t.mu.Lock()
	left := t.open
	t.open = nil
	t.mu.Unlock()
	now := time.Now()
	for _, js := range left {
		st := js.h.Status()
		at := now
		if st.State.Terminal() {
			at = st.EndTime
		}
		t.end(js, st, at)
	}
}
