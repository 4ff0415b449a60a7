package bgjobotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
)

// A job started while handling a request gets a span under the request's,
// and the spans it makes go under its own.
func Example() {
	ctx := context.Background()
	exporter := tracetest.NewInMemoryExporter() // an OTLP exporter, in a service
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(ctx)

	tel, err := bgjobotel.New(bgjobotel.WithTracerProvider(tp))
	if err != nil {
		panic(err)
	}
	r, err := tel.NewRunner()
	if err != nil {
		panic(err)
	}

	reqCtx, request := tp.Tracer("api").Start(ctx, "POST /train")
	h, err := r.Start(reqCtx, "resnet-finetune", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(3)
		for range 3 {
			_, epoch := tp.Tracer("trainer").Start(ctx, "epoch")
			p.Add(1)
			epoch.End()
		}
		return p.Metric("loss", 0.25)
	}))
	if err != nil {
		panic(err)
	}
	request.End() // the request returns; the job goes on
	if err := h.Wait(ctx); err != nil {
		panic(err)
	}
	_ = r.Shutdown(ctx)
	<-tel.Done() // every job's span has ended

	spans := exporter.GetSpans()
	slices.SortStableFunc(spans, func(a, b tracetest.SpanStub) int { return strings.Compare(a.Name, b.Name) })
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID()] = s.Name
	}
	for _, s := range spans {
		fmt.Printf("%s (under %q)\n", s.Name, names[s.Parent.SpanID()])
		for _, kv := range s.Attributes {
			switch kv.Key {
			case "bgjob.job.outcome", "bgjob.metric.loss":
				fmt.Printf("  %s = %s\n", kv.Key, kv.Value.Emit())
			}
		}
	}
	// Output:
	// POST /train (under "")
	// epoch (under "resnet-finetune")
	// epoch (under "resnet-finetune")
	// epoch (under "resnet-finetune")
	// resnet-finetune (under "POST /train")
	//   bgjob.metric.loss = 0.25
	//   bgjob.job.outcome = succeeded
}

// The Runner's figures, read at each collection: here by a ManualReader,
// in a service by a periodic reader that exports them.
func Example_metrics() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	tel, err := bgjobotel.New(
		bgjobotel.WithMeterProvider(mp),
		bgjobotel.WithAttributes(attribute.String("bgjob.runner", "training")),
	)
	if err != nil {
		panic(err)
	}
	r, err := tel.NewRunner()
	if err != nil {
		panic(err)
	}
	defer func() {
		_ = r.Shutdown(ctx)
		<-tel.Done()
	}()

	for _, fail := range []bool{false, false, true} {
		h, err := r.Start(ctx, "eval", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
			if fail {
				return errors.New("dataset missing")
			}
			return nil
		}))
		if err != nil {
			panic(err)
		}
		<-h.Done()
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != "bgjob.job.finished" {
			continue
		}
		for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if p.Value > 0 {
				outcome, _ := p.Attributes.Value("bgjob.job.outcome")
				fmt.Println(m.Name, outcome.Emit(), p.Value)
			}
		}
	}
	// Unordered output:
	// bgjob.job.finished succeeded 2
	// bgjob.job.finished failed 1
}

// A subscription of the application's own — a dashboard's — reports what
// it delivered, coalesced and lost in the bgjob.subscription.* metrics.
func ExampleTelemetry_WatchSubscription() {
	tel, err := bgjobotel.New()
	if err != nil {
		panic(err)
	}
	r, err := tel.NewRunner()
	if err != nil {
		panic(err)
	}
	defer func() {
		_ = r.Shutdown(context.Background())
		<-tel.Done()
	}()
	sub, err := r.Subscribe()
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	if err := tel.WatchSubscription("dashboard", sub); err != nil {
		panic(err)
	}
	fmt.Println(tel.WatchSubscription("dashboard", sub))
	// Output:
	// bgjobotel: invalid subscription: name "dashboard" given twice
}
