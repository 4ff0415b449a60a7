package bgjobotel_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
	"github.com/bgjob/bgjob/bgjobtest"
)

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		give bgjobotel.Option
	}{
		{"nil tracer provider", bgjobotel.WithTracerProvider(nil)},
		{"nil meter provider", bgjobotel.WithMeterProvider(nil)},
		{"attribute without a key", bgjobotel.WithAttributes(attribute.String("", "x"))},
		{"negative progress step", bgjobotel.WithProgressEvents(-1)},
		{"progress step over 100", bgjobotel.WithProgressEvents(101)},
		{"NaN progress step", bgjobotel.WithProgressEvents(math.NaN())},
		{"progress step below the minimum", bgjobotel.WithProgressEvents(bgjobotel.MinProgressEvery / 2)},
		{"tiny progress step", bgjobotel.WithProgressEvents(1e-300)},
		{"negative series limit", bgjobotel.WithMaxJobSeries(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := bgjobotel.New(tt.give)
			require.ErrorIs(t, err, bgjobotel.ErrInvalidOption)
			require.Nil(t, tel)
		})
	}
}

// A Telemetry instruments one Runner; a Runner option that fails leaves
// it free for another try.
func TestOneRunnerPerTelemetry(t *testing.T) {
	tel, err := bgjobotel.New()
	require.NoError(t, err)
	_, err = tel.NewRunner(bgjob.WithMaxRunning(0))
	require.ErrorIs(t, err, bgjob.ErrInvalidOption)

	r, err := tel.NewRunner() // the global providers: no-ops here
	require.NoError(t, err)
	_, err = tel.NewRunner()
	require.ErrorIs(t, err, bgjobotel.ErrAttached)

	h, err := r.Start(context.Background(), "job", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil }))
	require.NoError(t, err)
	require.NoError(t, h.Wait(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
	<-tel.Done()
}

// Done closes after Shutdown even if no job ever ran.
func TestDoneWithoutJobs(t *testing.T) {
	g := newRig(t, nil)
	g.shutdown(t)
	require.Empty(t, g.spans.Ended())
}

func TestWatchSubscriptionBadInput(t *testing.T) {
	g := newRig(t, nil)
	sub, err := g.r.Subscribe()
	require.NoError(t, err)
	defer sub.Close()
	require.ErrorIs(t, g.tel.WatchSubscription("ui", nil), bgjobotel.ErrInvalidSubscription)
	require.ErrorIs(t, g.tel.WatchSubscription("", sub), bgjobotel.ErrInvalidSubscription)
	require.ErrorIs(t, g.tel.WatchSubscription("\xff", sub), bgjobotel.ErrInvalidSubscription)
	require.ErrorIs(t, g.tel.WatchSubscription("bgjobotel", sub), bgjobotel.ErrInvalidSubscription)
	require.NoError(t, g.tel.WatchSubscription("ui", sub))
	require.ErrorIs(t, g.tel.WatchSubscription("ui", sub), bgjobotel.ErrInvalidSubscription)
}

// The smallest and largest steps WithProgressEvents takes.
func TestProgressEventsBounds(t *testing.T) {
	for _, every := range []float64{0, bgjobotel.MinProgressEvery, 100} {
		_, err := bgjobotel.New(bgjobotel.WithProgressEvents(every))
		require.NoError(t, err, every)
	}
}

// A Runner shut down without ever running a job, whose Done nobody waits
// for, still has its metric callback unregistered: the first collection
// after Shutdown starts the reader, which finds the channel closed.
func TestCallbackStopsAfterShutdownWithoutJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, nil)
		require.NoError(t, g.r.Shutdown(t.Context()))
		require.True(t, hasMetric(g.collect(t), "bgjob.job.started"), "the collection that sees the Runner shut down")
		synctest.Wait()
		require.False(t, hasMetric(g.collect(t), "bgjob.job.started"), "the callback stops after Shutdown")
		select {
		case <-g.tel.Done():
		default:
			t.Fatal("Done is not closed, though the reader has ended")
		}
	})
}

// refusingMeterProvider's meters refuse the first callback registered.
type refusingMeterProvider struct {
	metric.MeterProvider
	refused atomic.Bool
}

func (p *refusingMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return refusingMeter{Meter: p.MeterProvider.Meter(name, opts...), p: p}
}

type refusingMeter struct {
	metric.Meter
	p *refusingMeterProvider
}

func (m refusingMeter) RegisterCallback(f metric.Callback, obs ...metric.Observable) (metric.Registration, error) {
	if m.p.refused.CompareAndSwap(false, true) {
		return nil, errors.New("refused")
	}
	return m.Meter.RegisterCallback(f, obs...)
}

// A NewRunner that failed at the metric callback leaves nothing behind:
// a Done called then does not start a reader on the dead subscription,
// and the next NewRunner's jobs get their spans ended with their outcome.
func TestNewRunnerFailureLeavesNoReader(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := &refusingMeterProvider{MeterProvider: sdkmetric.NewMeterProvider()}
	tel, err := bgjobotel.New(bgjobotel.WithTracerProvider(tp), bgjobotel.WithMeterProvider(mp))
	require.NoError(t, err)
	_, err = tel.NewRunner()
	require.ErrorContains(t, err, "refused")
	done := tel.Done()

	r, err := tel.NewRunner()
	require.NoError(t, err)
	h, err := r.Start(t.Context(), "job", bgjobtest.Succeed(1))
	require.NoError(t, err)
	require.NoError(t, h.Wait(t.Context()))
	require.NoError(t, r.Shutdown(t.Context()))
	<-done

	ended := spans.Ended()
	require.Len(t, ended, 1)
	outcome, _ := attr(ended[0], "bgjob.job.outcome")
	require.Equal(t, "succeeded", outcome.AsString())
}
