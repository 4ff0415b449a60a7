package bgjobotel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bgjob/bgjob"
)

// handle applies one of the Runner's events to its job's span. Everything
// here runs on the reader goroutine.
func (t *Telemetry) handle(ev bgjob.Event) {
	switch ev.Type {
	case bgjob.EventLagged:
		t.resync(ev)
		return
	case bgjob.EventComplete:
		if ev.StartTime.IsZero() { // canceled while queued: no middleware, no span yet
			e := jobEnd{name: ev.JobName, workerID: ev.WorkerID, queueWait: ev.QueueWait, err: ev.Err, at: ev.Time}
			if h, err := t.runner.Job(ev.JobID); err == nil {
				e.priority = h.Status().Priority // the one figure the event lacks
			}
			t.endQueued(ev.JobID, e)
		}
		return
	case bgjob.EventWorkerStopped:
		if js := t.take(ev.JobID); js != nil {
			t.end(js, js.h.Status(), ev.Time)
		}
		return
	}
	js := t.lookup(ev.JobID)
	if js == nil {
		return // not a job this Telemetry's middleware ran
	}
	at := trace.WithTimestamp(ev.Time)
	switch ev.Type {
	case bgjob.EventProgress:
		t.progress(js, ev.Percent, ev.Step, ev.Total, ev.Message, ev.Metrics, ev.Time)
	case bgjob.EventPaused:
		js.span.AddEvent(eventPaused, at, trace.WithAttributes(withFolded(ev, keyPercent.Float64(ev.Percent))...))
	case bgjob.EventResumed:
		js.span.AddEvent(eventResumed, at, trace.WithAttributes(withFolded(ev, keyPaused.Float64(ev.Paused.Seconds()))...))
	case bgjob.EventStalled:
		js.span.AddEvent(eventStalled, at, trace.WithAttributes(withFolded(ev, semconv.CodeStacktrace(ev.Stack))...))
	case bgjob.EventUnstalled:
		js.span.AddEvent(eventUnstalled, at, trace.WithAttributes(withFolded(ev)...))
	case bgjob.EventAbandoned:
		js.span.AddEvent(eventAbandoned, at)
	}
}

// withFolded adds to attrs the number of events of the job that ev
// replaced before the reader received it, when it replaced any: a pause
// and its resume that folded into one event are then counted, not lost.
func withFolded(ev bgjob.Event, attrs ...attribute.KeyValue) []attribute.KeyValue {
	if ev.Folded > 0 {
		attrs = append(attrs, keyFolded.Int(ev.Folded))
	}
	return attrs
}

// progress adds a progress event to the job's span when its percent has
// crossed a multiple of the progress step since the last one: at most
// 100/step events a job, whatever the number of updates.
func (t *Telemetry) progress(js *jobSpan, percent float64, step, total int64, msg string, metrics []bgjob.Metric, at time.Time) {
	if t.cfg.progressEvery == 0 {
		return
	}
	m := int(percent / t.cfg.progressEvery)
	if m <= js.milestone {
		return
	}
	js.milestone = m
	js.span.AddEvent(eventProgress, trace.WithTimestamp(at),
		trace.WithAttributes(progressAttrs(percent, step, total, msg, metrics)...))
}

// end ends the span of a job that ran, at the time at, with its final
// status st, and records its duration and queue wait. A job that has not
// ended — one abandoned when the Runner's last event was out — ends with
// the outcome "abandoned" and no duration recorded.
func (t *Telemetry) end(js *jobSpan, st bgjob.JobStatus, at time.Time) {
	if st.State.Terminal() {
		t.inst.recordEnd(context.Background(), st)
	}
	span := js.span
	if !span.IsRecording() { // a no-op provider, or not sampled
		span.End()
		return
	}
	t.progress(js, st.Percent, st.Step, st.Total, st.Message, st.Metrics, at) // one the events did not bring
	outcome := st.State.String()
	if !st.State.Terminal() {
		outcome = outcomeAbandoned
	}
	attrs := progressAttrs(st.Percent, st.Step, st.Total, "", st.Metrics)
	attrs = append(attrs,
		keyOutcome.String(outcome),
		keyDuration.Float64(st.Duration.Seconds()),
		keyPaused.Float64(st.Paused.Seconds()),
	)
	span.SetAttributes(attrs...)
	switch st.State {
	case bgjob.StateSucceeded:
		// Unset, as the conventions ask of instrumentation on success.
	case bgjob.StateFailed:
		recordFailure(span, st.Err, st.Stack, at)
	case bgjob.StateCanceled:
		span.SetAttributes(semconv.ErrorType(st.Err))
		span.SetStatus(codes.Error, errText(st.Err))
	default:
		span.SetStatus(codes.Error, "abandoned: still running when the Runner's last event was out")
	}
	span.End(trace.WithTimestamp(at))
}

// recordFailure marks span failed with err: the error status with its
// message, error.type, and an exception event — for a panic, with the
// panic's value and stack.
func recordFailure(span trace.Span, err error, stack string, at time.Time) {
	typ, msg := fmt.Sprintf("%T", err), errText(err)
	if pe, ok := panicOf(err); ok {
		typ, msg = fmt.Sprintf("%T", pe.Value), fmt.Sprint(pe.Value)
		if stack == "" {
			stack = string(pe.Stack)
		}
	}
	attrs := []attribute.KeyValue{semconv.ExceptionType(typ), semconv.ExceptionMessage(msg)}
	if stack != "" {
		attrs = append(attrs, semconv.ExceptionStacktrace(stack))
	}
	span.AddEvent(semconv.ExceptionEventName, trace.WithTimestamp(at), trace.WithAttributes(attrs...))
	span.SetAttributes(semconv.ErrorType(err))
	span.SetStatus(codes.Error, errText(err))
}

// An error is the job's own value, and its Error method the job's code: a
// typed nil pointer, say, panics there. The telemetry must not take the
// process down for it, so such a panic is recovered and named instead.
func errText(err error) (text string) {
	if err == nil {
		return ""
	}
	defer func() {
		if v := recover(); v != nil {
			text = fmt.Sprintf("%T (its Error method panicked: %v)", err, v)
		}
	}()
	return err.Error()
}

// panicOf returns the *bgjob.PanicError in err's chain, if there is one;
// a panic in the chain's own Unwrap methods is taken for none.
func panicOf(err error) (pe *bgjob.PanicError, ok bool) {
	defer func() {
		if recover() != nil {
			pe, ok = nil, false
		}
	}()
	return errors.AsType[*bgjob.PanicError](err)
}

// jobEnd is what the span of a job canceled while queued is made of.
type jobEnd struct {
	name      string
	workerID  int64
	priority  int
	queueWait time.Duration
	err       error
	at        time.Time
}

// endQueued makes and ends at once the span of a job canceled while
// queued, which never ran the middleware: from its acceptance to its
// cancellation. The context given to Start is not known here, so it is a
// root span.
func (t *Telemetry) endQueued(id uuid.UUID, e jobEnd) {
	if t.settled.has(id) {
		return
	}
	t.settled.add(id)
	attrs := make([]attribute.KeyValue, 0, 8+len(t.cfg.attrs))
	attrs = append(attrs,
		keyJobID.String(id.String()),
		keyJobName.String(e.name),
		keyWorkerID.Int64(e.workerID),
		keyPriority.Int(e.priority),
		keyQueueWait.Float64(e.queueWait.Seconds()),
		keyOutcome.String(bgjob.StateCanceled.String()),
		keyDuration.Float64(0),
	)
	attrs = append(attrs, t.cfg.attrs...)
	_, span := t.tracer.Start(context.Background(), e.name,
		trace.WithTimestamp(e.at.Add(-e.queueWait)), trace.WithAttributes(attrs...))
	span.AddEvent(eventCanceled, trace.WithTimestamp(e.at), trace.WithAttributes(causeAttr(e.err)))
	span.SetAttributes(semconv.ErrorType(e.err))
	span.SetStatus(codes.Error, errText(e.err))
	span.End(trace.WithTimestamp(e.at))
}

func (t *Telemetry) lookup(id uuid.UUID) *jobSpan {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open[id]
}

// take removes the job's span from the open ones and returns it, or nil
// if it was not open: whoever takes it ends it, once.
func (t *Telemetry) take(id uuid.UUID) *jobSpan {
	t.mu.Lock()
	defer t.mu.Unlock()
	js := t.open[id]
	delete(t.open, id)
	return js
}

func (t *Telemetry) openIDs() []uuid.UUID {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(t.open))
	for id := range t.open {
		ids = append(ids, id)
	}
	return ids
}
