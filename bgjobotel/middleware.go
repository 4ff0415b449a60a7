package bgjobotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/bgjob/bgjob"
)

// jobSpan is the span of a job that got a worker, from the middleware
// that starts it to the reader that ends it.
type jobSpan struct {
	span trace.Span
	h    *bgjob.Handle
	// milestone is how many multiples of the progress step the job's
	// percent had passed at its last progress event. Owned by the reader
	// goroutine.
	milestone int
}

// middleware wraps each job the Runner starts. Start calls it on the
// caller's goroutine; the job it returns runs on the job's goroutine.
func (t *Telemetry) middleware(next bgjob.Job) bgjob.Job {
	t.start()
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		ctx, js := t.startSpan(ctx, p.Handle())
		if !t.register(js) {
			// The reader has ended, so no one else will end this span.
			// It cannot happen while the Runner keeps its word (its
			// channel closes after its last job), but a span left open
			// would be worse than one ended without its outcome.
			defer js.span.End()
		}
		canceled := func() {
			js.span.AddEvent(eventCanceled, trace.WithAttributes(causeAttr(context.Cause(ctx))))
		}
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(fired)
			canceled()
		})
		defer func() {
			switch {
			case !stop():
				<-fired // the event is on the span before the job's end is
			case ctx.Err() != nil:
				// A context closes its Done channel before it runs its
				// AfterFuncs: the job saw the cancellation and returned
				// before the event was added.
				canceled()
			}
		}()
		return next.Run(ctx, p)
	})
}

// startSpan starts the span of a job that got its worker, as a child of
// the span in the context given to Start, if any, from the moment the
// Runner accepted the job, and returns the job's context with the span in
// it.
func (t *Telemetry) startSpan(ctx context.Context, h *bgjob.Handle) (context.Context, *jobSpan) {
	st := h.Status()
	attrs := make([]attribute.KeyValue, 0, 6+len(t.cfg.attrs))
	attrs = append(attrs,
		keyJobID.String(st.ID.String()),
		keyJobName.String(st.Name),
		keyWorkerID.Int64(st.WorkerID),
		keyPriority.Int(st.Priority),
		keyQueueWait.Float64(st.QueueWait.Seconds()),
	)
	if st.OSThreadID != 0 {
		attrs = append(attrs, semconv.ThreadID(st.OSThreadID))
	}
	attrs = append(attrs, t.cfg.attrs...)
	ctx, span := t.tracer.Start(ctx, st.Name,
		trace.WithTimestamp(st.StartTime.Add(-st.QueueWait)),
		trace.WithAttributes(attrs...))
	return ctx, &jobSpan{span: span, h: h}
}

// register hands js to the reader, which ends it at the job's end; it
// reports false once the reader has ended.
func (t *Telemetry) register(js *jobSpan) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.open == nil {
		return false
	}
	t.open[js.h.ID()] = js
	return true
}

func causeAttr(cause error) attribute.KeyValue {
	if cause == nil {
		return keyCause.String("")
	}
	return keyCause.String(errText(cause))
}
