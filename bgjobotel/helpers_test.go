package bgjobotel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
)

// rig is a Runner instrumented with the real SDK: spans go to a
// SpanRecorder, metrics to a ManualReader.
type rig struct {
	tel    *bgjobotel.Telemetry
	r      *bgjob.Runner
	tp     *sdktrace.TracerProvider
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newRig(t testing.TB, topts []bgjobotel.Option, ropts ...bgjob.Option) *rig {
	t.Helper()
	g := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	g.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(g.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(g.reader))
	opts := append([]bgjobotel.Option{bgjobotel.WithTracerProvider(g.tp), bgjobotel.WithMeterProvider(mp)}, topts...)
	tel, err := bgjobotel.New(opts...)
	require.NoError(t, err)
	r, err := tel.NewRunner(ropts...)
	require.NoError(t, err)
	g.tel, g.r = tel, r
	t.Cleanup(func() { g.shutdown(t) })
	return g
}

// shutdown shuts the Runner down and waits until the Telemetry has ended
// every span. It may be called more than once.
func (g *rig) shutdown(t testing.TB) {
	t.Helper()
	require.NoError(t, g.r.Shutdown(context.Background()))
	<-g.tel.Done()
}

// span returns the ended span named name; it fails unless there is
// exactly one.
func (g *rig) span(t testing.TB, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range g.spans.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "ended spans named %q", name)
	return found[0]
}

func (g *rig) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, g.reader.Collect(context.Background(), &rm))
	return rm
}

// attr returns the value of the span's attribute key, and whether it has it.
func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// events returns the names of the span's events, in order.
func eventNames(s sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	return names
}

// event returns the span's first event named name.
func event(t testing.TB, s sdktrace.ReadOnlySpan, name string) sdktrace.Event {
	t.Helper()
	for _, e := range s.Events() {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("span %q has no event %q: %v", s.Name(), name, eventNames(s))
	return sdktrace.Event{}
}

func eventAttr(e sdktrace.Event, key string) (attribute.Value, bool) {
	for _, kv := range e.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// metricNamed returns the metric named name from rm, or fails.
func metricNamed(t testing.TB, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %q", name)
	return metricdata.Metrics{}
}

// hasMetric reports whether rm holds a metric named name.
func hasMetric(rm metricdata.ResourceMetrics, name string) bool {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return true
			}
		}
	}
	return false
}

// points returns the value of each data point of a sum or gauge metric,
// by the attribute values named keys, joined with "/"; "" for none.
func points(t testing.TB, m metricdata.Metrics, keys ...string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	label := func(set attribute.Set) string {
		s := ""
		for i, k := range keys {
			v, _ := set.Value(attribute.Key(k))
			if i > 0 {
				s += "/"
			}
			s += v.Emit()
		}
		return s
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[label(p.Attributes)] = float64(p.Value)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out[label(p.Attributes)] = p.Value
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[label(p.Attributes)] = float64(p.Count)
		}
	default:
		t.Fatalf("metric %q: unexpected data %T", m.Name, m.Data)
	}
	return out
}
