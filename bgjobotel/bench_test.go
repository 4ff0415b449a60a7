package bgjobotel_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
)

// BenchmarkJob is what one job costs from Start to its end, bare and
// instrumented: with no-op providers (the globals, when the application
// set none), and with the SDK's, recording every span and histogram (no
// exporter, so that the export is not counted). Besides the time per job,
// which on a busy machine is mostly the scheduler's, it reports the CPU
// time the process spent per job (cpu-ns/op), every goroutine's included:
// the Runner's, the job's and the Telemetry's reader.
func BenchmarkJob(b *testing.B) {
	nothing := bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil })
	run := func(b *testing.B, r *bgjob.Runner) {
		ctx := context.Background()
		b.ReportAllocs()
		before := processCPU()
		for b.Loop() {
			h, err := r.Start(ctx, "job", nothing)
			if err != nil {
				b.Fatal(err)
			}
			<-h.Done()
		}
		b.ReportMetric(float64(processCPU()-before)/float64(b.N), "cpu-ns/op")
	}
	b.Run("bare", func(b *testing.B) {
		r, err := bgjob.NewRunner()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Shutdown(context.Background())
		run(b, r)
	})
	// The floor for an instrumented Runner: one lagging subscriber that
	// reads every event, as the Telemetry's does. A Runner nobody
	// subscribes to publishes no events at all.
	b.Run("subscribed", func(b *testing.B) {
		r, err := bgjob.NewRunner()
		if err != nil {
			b.Fatal(err)
		}
		sub, err := r.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for range sub.Events() {
			}
		}()
		defer func() {
			_ = r.Shutdown(context.Background())
			<-drained
		}()
		run(b, r)
	})
	instrumented := func(b *testing.B, opts ...bgjobotel.Option) {
		tel, err := bgjobotel.New(opts...)
		if err != nil {
			b.Fatal(err)
		}
		r, err := tel.NewRunner()
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			_ = r.Shutdown(context.Background())
			<-tel.Done()
		}()
		run(b, r)
	}
	b.Run("noop", func(b *testing.B) {
		instrumented(b, bgjobotel.WithTracerProvider(noop.NewTracerProvider()))
	})
	b.Run("sdk", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer tp.Shutdown(context.Background())
		instrumented(b, bgjobotel.WithTracerProvider(tp), bgjobotel.WithMeterProvider(mp))
	})
}

// processCPU returns the CPU time, user and system, the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCollect is one collection of the Runner's metrics while 1,000
// jobs run, each with two metrics; the per-job series are capped at the
// default DefaultMaxJobSeries.
func BenchmarkCollect(b *testing.B) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := bgjobotel.New(bgjobotel.WithMeterProvider(mp), bgjobotel.WithTracerProvider(noop.NewTracerProvider()))
	if err != nil {
		b.Fatal(err)
	}
	r, err := tel.NewRunner()
	if err != nil {
		b.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	for range 1000 {
		_, err := r.Start(context.Background(), "sweep", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			_ = p.Metrics(bgjob.Scalar{Name: "loss", Value: 0.5}, bgjob.Scalar{Name: "accuracy", Value: 0.8})
			started <- struct{}{}
			<-release
			return nil
		}))
		if err != nil {
			b.Fatal(err)
		}
		<-started
	}
	defer func() {
		close(release)
		_ = r.Shutdown(context.Background())
		<-tel.Done()
	}()
	b.Run("GetStatus", func(b *testing.B) { // the floor: the status the callback reads
		b.ReportAllocs()
		for b.Loop() {
			_ = r.GetStatus()
		}
	})
	b.Run("Collect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				b.Fatal(err)
			}
		}
	})
}
