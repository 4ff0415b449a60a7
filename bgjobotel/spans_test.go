package bgjobotel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
	"github.com/bgjob/bgjob/bgjobtest"
)

// A job's span is a child of the span in Start's context, and a span the
// job makes from its own context is a child of the job's.
func TestSpanNesting(t *testing.T) {
	g := newRig(t, nil)
	ctx, parent := g.tp.Tracer("app").Start(context.Background(), "request")
	h, err := g.r.Start(ctx, "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		_, step := trace.SpanFromContext(ctx).TracerProvider().Tracer("app").Start(ctx, "epoch")
		step.End()
		return nil
	}))
	require.NoError(t, err)
	parent.End() // the job outlives the request that started it
	require.NoError(t, h.Wait(context.Background()))
	g.shutdown(t)

	job, epoch := g.span(t, "train"), g.span(t, "epoch")
	require.Equal(t, parent.SpanContext().TraceID(), job.SpanContext().TraceID())
	require.Equal(t, parent.SpanContext().SpanID(), job.Parent().SpanID())
	require.Equal(t, job.SpanContext().SpanID(), epoch.Parent().SpanID())
	require.Equal(t, job.SpanContext().TraceID(), epoch.SpanContext().TraceID())

	st := h.Status()
	require.Equal(t, st.StartTime.Add(-st.QueueWait), job.StartTime(), "the span starts when the job was accepted")
	require.False(t, job.EndTime().Before(st.EndTime), "and ends after it did")
	for key, want := range map[string]string{
		"bgjob.job.id":      h.ID().String(),
		"bgjob.job.name":    "train",
		"bgjob.job.outcome": "succeeded",
	} {
		v, ok := attr(job, key)
		require.True(t, ok, key)
		require.Equal(t, want, v.AsString(), key)
	}
	for _, key := range []string{"bgjob.worker.id", "bgjob.job.priority", "bgjob.job.queue_wait", "bgjob.job.duration"} {
		_, ok := attr(job, key)
		require.True(t, ok, key)
	}
}

// Without a span in Start's context, a job's span is a root.
func TestSpanWithoutParentIsARoot(t *testing.T) {
	g := newRig(t, nil)
	h, err := g.r.Start(context.Background(), "train", bgjobtest.Succeed(1))
	require.NoError(t, err)
	require.NoError(t, h.Wait(context.Background()))
	g.shutdown(t)
	require.False(t, g.span(t, "train").Parent().IsValid())
}

func TestSpanStatusByOutcome(t *testing.T) {
	boom := errors.New("boom")
	superseded := errors.New("superseded by a newer dataset")
	tests := []struct {
		name        string
		run         func(t *testing.T, g *rig) *bgjob.Handle
		wantOutcome string
		wantCode    codes.Code
		wantDesc    string
		wantEvent   string // a span event the outcome adds
	}{
		{
			name: "succeeded",
			run: func(t *testing.T, g *rig) *bgjob.Handle {
				h, err := g.r.Start(t.Context(), "job", bgjobtest.Succeed(3))
				require.NoError(t, err)
				return h
			},
			wantOutcome: "succeeded", wantCode: codes.Unset,
		},
		{
			name: "failed",
			run: func(t *testing.T, g *rig) *bgjob.Handle {
				h, err := g.r.Start(t.Context(), "job", bgjobtest.Fail(boom))
				require.NoError(t, err)
				return h
			},
			wantOutcome: "failed", wantCode: codes.Error, wantDesc: "boom", wantEvent: "exception",
		},
		{
			name: "panicked",
			run: func(t *testing.T, g *rig) *bgjob.Handle {
				h, err := g.r.Start(t.Context(), "job", bgjobtest.Panic("out of memory on the GPU"))
				require.NoError(t, err)
				return h
			},
			wantOutcome: "failed", wantCode: codes.Error, wantDesc: "bgjob: job panicked: out of memory on the GPU", wantEvent: "exception",
		},
		{
			name: "canceled with a cause",
			run: func(t *testing.T, g *rig) *bgjob.Handle {
				h, err := g.r.Start(t.Context(), "job", bgjobtest.HangUntilCanceled())
				require.NoError(t, err)
				require.NoError(t, h.Cancel(superseded))
				return h
			},
			wantOutcome: "canceled", wantCode: codes.Error, wantDesc: superseded.Error(), wantEvent: "canceled",
		},
		{
			name: "canceled while queued",
			run: func(t *testing.T, g *rig) *bgjob.Handle {
				gate := bgjobtest.NewGate(1)
				first, err := g.r.Start(t.Context(), "first", gate.Job())
				require.NoError(t, err)
				h, err := g.r.Start(t.Context(), "job", bgjobtest.Succeed(1))
				require.NoError(t, err)
				require.Equal(t, bgjob.StateQueued, h.Status().State)
				require.NoError(t, h.Cancel(superseded))
				gate.Release(1)
				require.NoError(t, first.Wait(t.Context()))
				return h
			},
			wantOutcome: "canceled", wantCode: codes.Error, wantDesc: superseded.Error(), wantEvent: "canceled",
		},
		{
			name: "timed out",
			run: func(t *testing.T, g *rig) *bgjob.Handle {
				h, err := g.r.Start(t.Context(), "job", bgjobtest.HangUntilCanceled(), bgjob.WithTimeout(time.Minute))
				require.NoError(t, err)
				return h
			},
			wantOutcome: "canceled", wantCode: codes.Error, wantDesc: bgjob.ErrTimeout.Error(), wantEvent: "canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newRig(t, nil, bgjob.WithMaxRunning(1))
				h := tt.run(t, g)
				<-h.Done()
				g.shutdown(t)

				s := g.span(t, "job")
				outcome, _ := attr(s, "bgjob.job.outcome")
				require.Equal(t, tt.wantOutcome, outcome.AsString())
				require.Equal(t, tt.wantCode, s.Status().Code)
				require.Equal(t, tt.wantDesc, s.Status().Description)
				if tt.wantEvent != "" {
					event(t, s, tt.wantEvent)
				}
				if tt.wantEvent == "canceled" {
					cause, _ := eventAttr(event(t, s, "canceled"), "bgjob.cancel.cause")
					require.Equal(t, tt.wantDesc, cause.AsString())
				}
				id, _ := attr(s, "bgjob.job.id")
				require.Equal(t, h.ID().String(), id.AsString())
				st := h.Status()
				accepted := st.StartTime.Add(-st.QueueWait)
				if !st.HasWorker {
					accepted = st.EndTime.Add(-st.QueueWait)
				}
				require.Equal(t, accepted, s.StartTime(), "the span starts when the job was accepted")
				require.False(t, s.EndTime().Before(st.EndTime), "and ends when it ended")
			})
		})
	}
}

// A panic's exception event holds its value's type, its message and the
// stack of the goroutine that panicked.
func TestPanicRecordsTheStack(t *testing.T) {
	g := newRig(t, nil)
	h, err := g.r.Start(context.Background(), "job", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
		panicInAFunctionWithAName()
		return nil
	}))
	require.NoError(t, err)
	<-h.Done()
	g.shutdown(t)

	ex := event(t, g.span(t, "job"), "exception")
	typ, _ := eventAttr(ex, "exception.type")
	msg, _ := eventAttr(ex, "exception.message")
	stack, _ := eventAttr(ex, "exception.stacktrace")
	require.Equal(t, "string", typ.AsString())
	require.Equal(t, "checkpoint file is corrupt", msg.AsString())
	require.Contains(t, stack.AsString(), "panicInAFunctionWithAName")
}

func panicInAFunctionWithAName() { panic("checkpoint file is corrupt") }

// Pause, resume, stall and the end of a stall are span events, in order.
func TestControlEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, nil, bgjob.WithStallTimeout(time.Minute))
		gate := bgjobtest.NewGate(4)
		h, err := g.r.Start(t.Context(), "job", gate.Job())
		require.NoError(t, err)

		gate.Release(1)
		<-gate.Reached(2)
		require.NoError(t, h.Pause())
		gate.Release(2) // parks at the checkpoint after the gate
		require.NoError(t, bgjobtest.WaitStatus(t.Context(), g.r, h, func(st bgjob.JobStatus) bool {
			return st.State == bgjob.StatePaused
		}))
		time.Sleep(time.Second)
		require.NoError(t, h.Resume())
		<-gate.Reached(3)
		require.NoError(t, bgjobtest.WaitStatus(t.Context(), g.r, h, func(st bgjob.JobStatus) bool {
			return st.Stalled
		}))
		gate.Release(4)
		<-h.Done()
		g.shutdown(t)

		s := g.span(t, "job")
		var control []string
		for _, name := range eventNames(s) {
			if name != "progress" {
				control = append(control, name)
			}
		}
		require.Equal(t, []string{"paused", "resumed", "stalled", "unstalled"}, control)
		paused, _ := eventAttr(event(t, s, "resumed"), "bgjob.job.paused")
		require.Equal(t, 1.0, paused.AsFloat64())
		stack, _ := eventAttr(event(t, s, "stalled"), "code.stacktrace")
		require.Contains(t, stack.AsString(), "bgjobtest")
	})
}

// A million progress updates make one span event per tenth of the work,
// at the most.
func TestProgressEventsAreRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, nil, bgjob.WithProgressInterval(time.Millisecond))
		sub, err := g.r.Subscribe(bgjob.WithTypes(bgjob.EventProgress), bgjob.WithPolicy(bgjob.Lossless))
		require.NoError(t, err)
		published := make(chan int)
		go func() {
			n := 0
			for range sub.Events() {
				n++
			}
			published <- n
		}()

		const steps = 1_000_000
		h, err := g.r.Start(t.Context(), "job", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(steps)
			for i := 1; i <= steps; i++ {
				p.Add(1)
				if i%1000 == 0 {
					_ = p.Metric("loss", 1/float64(i))
					time.Sleep(time.Millisecond) // the progress loop publishes
				}
			}
			return nil
		}))
		require.NoError(t, err)
		<-h.Done()
		g.shutdown(t)
		require.Greater(t, <-published, 500, "the Runner published progress hundreds of times")

		s := g.span(t, "job")
		var percents []float64
		for _, e := range s.Events() {
			if e.Name == "progress" {
				v, _ := eventAttr(e, "bgjob.job.percent")
				percents = append(percents, v.AsFloat64())
				_, ok := eventAttr(e, "bgjob.metric.loss")
				require.True(t, ok, "a progress event carries the job's metrics")
			}
		}
		require.LessOrEqual(t, len(percents), 10)
		require.GreaterOrEqual(t, len(percents), 5)
		require.Equal(t, 100.0, percents[len(percents)-1])
		for i := 1; i < len(percents); i++ {
			require.Greater(t, int(percents[i]/10), int(percents[i-1]/10), "one event per tenth: %v", percents)
		}
	})
}

// WithProgressEvents(0) turns progress events off.
func TestProgressEventsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, []bgjobotel.Option{bgjobotel.WithProgressEvents(0)})
		h, err := g.r.Start(t.Context(), "job", bgjobtest.Succeed(100))
		require.NoError(t, err)
		<-h.Done()
		g.shutdown(t)
		require.NotContains(t, strings.Join(eventNames(g.span(t, "job")), " "), "progress")
	})
}

// The Telemetry's middleware is the outermost: the application's own
// middleware sees the job's span in the context.
func TestApplicationMiddlewareSeesTheSpan(t *testing.T) {
	var seen trace.SpanContext
	mw := func(next bgjob.Job) bgjob.Job {
		return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			seen = trace.SpanContextFromContext(ctx)
			return next.Run(ctx, p)
		})
	}
	g := newRig(t, nil, bgjob.WithMiddleware(mw))
	h, err := g.r.Start(context.Background(), "job", bgjobtest.Succeed(1))
	require.NoError(t, err)
	require.NoError(t, h.Wait(context.Background()))
	g.shutdown(t)
	require.Equal(t, g.span(t, "job").SpanContext(), seen)
}

// WithAttributes adds its attributes to every span, a queued job's too.
func TestSpanAttributesOfTheRunner(t *testing.T) {
	g := newRig(t, []bgjobotel.Option{bgjobotel.WithAttributes(attribute.String("bgjob.runner", "nightly"))},
		bgjob.WithMaxRunning(1))
	gate := bgjobtest.NewGate(1)
	first, err := g.r.Start(context.Background(), "first", gate.Job())
	require.NoError(t, err)
	queued, err := g.r.Start(context.Background(), "queued", bgjobtest.Succeed(1))
	require.NoError(t, err)
	require.NoError(t, queued.Cancel(nil))
	gate.Release(1)
	<-first.Done()
	g.shutdown(t)
	for _, name := range []string{"first", "queued"} {
		v, ok := attr(g.span(t, name), "bgjob.runner")
		require.True(t, ok, name)
		require.Equal(t, "nightly", v.AsString())
	}
}

// A job that Shutdown cancels when its deadline passes says so.
func TestShutdownDeadlineIsTheCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, nil)
		h, err := g.r.Start(t.Context(), "job", bgjobtest.HangUntilCanceled())
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		require.ErrorIs(t, g.r.Shutdown(ctx), context.DeadlineExceeded)
		<-h.Done()
		<-g.tel.Done()

		s := g.span(t, "job")
		cause, _ := eventAttr(event(t, s, "canceled"), "bgjob.cancel.cause")
		require.Equal(t, bgjob.ErrShutdown.Error(), cause.AsString())
		require.Equal(t, bgjob.ErrShutdown.Error(), s.Status().Description)
	})
}

// brokenError's Error method panics on a nil receiver, as a job's own
// error type may.
type brokenError struct{ msg string }

func (e *brokenError) Error() string { return e.msg }

// A job whose error panics when asked its message fails as usual; the
// telemetry names the error instead of taking the process down.
func TestErrorThatPanicsIsNamed(t *testing.T) {
	g := newRig(t, nil)
	h, err := g.r.Start(context.Background(), "job", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
		var e *brokenError
		return e
	}))
	require.NoError(t, err)
	<-h.Done()
	g.shutdown(t)

	span := g.span(t, "job")
	require.Equal(t, codes.Error, span.Status().Code)
	require.Contains(t, span.Status().Description, "*bgjobotel_test.brokenError (its Error method panicked")
}
