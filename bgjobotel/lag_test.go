package bgjobotel_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
	"github.com/bgjob/bgjob/bgjobtest"
)

// heldProcessor holds the first span that ends until released, so that
// the Telemetry's reader, which ends the spans, falls behind.
type heldProcessor struct {
	held    chan struct{} // closed once a span end is held
	release chan struct{}
	once    sync.Once
}

func (p *heldProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *heldProcessor) OnEnd(sdktrace.ReadOnlySpan) {
	first := false
	p.once.Do(func() { first = true })
	if first {
		close(p.held)
		<-p.release
	}
}
func (p *heldProcessor) Shutdown(context.Context) error   { return nil }
func (p *heldProcessor) ForceFlush(context.Context) error { return nil }

// A reader that falls behind loses events, is told so, reads the jobs'
// status again and ends every span all the same, with its outcome — more
// jobs than a lag notice names included (their spans are ended by a
// sweep of the open ones) — and never makes Start wait: the jobs start
// and end while the reader is stuck.
func TestLagLeavesNoSpanOpen(t *testing.T) {
	hold := &heldProcessor{held: make(chan struct{}), release: make(chan struct{})}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(hold), sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	tel, err := bgjobotel.New(bgjobotel.WithTracerProvider(tp),
		bgjobotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		bgjobotel.WithSmallBacklog(1))
	require.NoError(t, err)
	r, err := tel.NewRunner(bgjob.WithMaxRunning(1))
	require.NoError(t, err)
	ctx := context.Background()

	first, err := r.Start(ctx, "job", bgjobtest.Succeed(1))
	require.NoError(t, err)
	<-first.Done()
	<-hold.held // the reader is stuck ending the first span

	const jobs = 2 * bgjob.MaxLagJobs
	var handles []*bgjob.Handle
	gate := bgjobtest.NewGate(1)
	blocker, err := r.Start(ctx, "job", gate.Job())
	require.NoError(t, err)
	queued, err := r.Start(ctx, "queued", bgjobtest.Succeed(1))
	require.NoError(t, err)
	require.NoError(t, queued.Cancel(nil))
	gate.Release(1)
	for range jobs {
		h, err := r.Start(ctx, "job", bgjobtest.Succeed(10))
		require.NoError(t, err)
		handles = append(handles, h)
	}
	for _, h := range handles {
		<-h.Done()
	}
	<-blocker.Done()
	close(hold.release)
	require.NoError(t, r.Shutdown(ctx))
	<-tel.Done()

	ended := 0
	for _, s := range spans.Ended() {
		if s.Name() != "job" {
			continue
		}
		ended++
		outcome, _ := attr(s, "bgjob.job.outcome")
		require.Equal(t, "succeeded", outcome.AsString())
		percent, _ := attr(s, "bgjob.job.percent")
		require.Equal(t, 100.0, percent.AsFloat64())
	}
	require.Equal(t, jobs+2, ended, "every job that ran has its span ended")
	require.Len(t, spans.Started(), len(spans.Ended()), "no span left open")
	require.Greater(t, countEvents(spans.Ended(), "events lost"), 0, "the spans whose events were lost say so")
	var queuedSpans int
	for _, s := range spans.Ended() {
		if s.Name() == "queued" {
			queuedSpans++
		}
	}
	require.Equal(t, 1, queuedSpans, "the job canceled in the queue has one span, however its end was read")
}

func countEvents(spans []sdktrace.ReadOnlySpan, name string) int {
	n := 0
	for _, s := range spans {
		for _, e := range s.Events() {
			if e.Name == name {
				n++
			}
		}
	}
	return n
}
