package bgjob

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/bgjob/bgjob/internal/metrics"
)

// Bounds on a job's metrics. A job records at most MaxMetrics names; each
// keeps a series of at most MaxMetricPoints points, whatever the length of
// the run: when a series is full, neighbouring points merge, keeping the
// minimum, the maximum and the last value of each, so a loss spike is
// never averaged away and a week-long run fits in the memory of a
// minute-long one.
const (
	MaxMetrics       = 32
	MaxMetricPoints  = 256
	MaxMetricNameLen = metrics.MaxNameLen
)

var (
	// ErrInvalidMetricName is returned by Progress.Metric for a name that
	// is empty, longer than MaxMetricNameLen bytes, not valid UTF-8 or
	// holding a control character. The value is dropped and counted in
	// JobStatus.MetricsDropped.
	ErrInvalidMetricName = metrics.ErrInvalidName
	// ErrTooManyMetrics is returned by Progress.Metric for a new name once
	// a job has MaxMetrics of them. The value is dropped and counted.
	ErrTooManyMetrics = metrics.ErrTooMany
)

// Metric is the latest value of a named scalar a job records, such as its
// loss or its accuracy, and the step it was recorded at.
//
// Its JSON form is {"name": …, "value": …, "step": …}; a NaN or an
// infinite value — a diverging loss is information — is the string "NaN",
// "+Inf" or "-Inf".
type Metric struct {
	Name  string
	Value float64
	Step  int64
}

type metricJSON struct {
	Name  string    `json:"name"`
	Value jsonFloat `json:"value"`
	Step  int64     `json:"step"`
}

// MarshalJSON encodes the metric; see Metric.
func (m Metric) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricJSON{m.Name, jsonFloat(m.Value), m.Step})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var w metricJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Metric{w.Name, float64(w.Value), w.Step}
	return nil
}

// MetricPoint is one point of a metric's series: the values recorded from
// step Step up to the next point's, by their minimum, maximum and last
// value and their count. Its JSON form writes NaN and the infinities as
// strings, as Metric does.
type MetricPoint struct {
	Step  int64
	Min   float64
	Max   float64
	Last  float64
	Count int64
}

type metricPointJSON struct {
	Step  int64     `json:"step"`
	Min   jsonFloat `json:"min"`
	Max   jsonFloat `json:"max"`
	Last  jsonFloat `json:"last"`
	Count int64     `json:"count"`
}

// MarshalJSON encodes the point; see MetricPoint.
func (p MetricPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricPointJSON{p.Step, jsonFloat(p.Min), jsonFloat(p.Max), jsonFloat(p.Last), p.Count})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (p *MetricPoint) UnmarshalJSON(b []byte) error {
	var w metricPointJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = MetricPoint{w.Step, float64(w.Min), float64(w.Max), float64(w.Last), w.Count}
	return nil
}

// MetricSeries is the bounded history of one metric of a job, oldest
// point first.
type MetricSeries struct {
	Name   string        `json:"name"`
	Points []MetricPoint `json:"points"`
}

// Scalar is a named value for Progress.Metrics.
type Scalar struct {
	Name  string
	Value float64
}

// Metric records value under name at the job's current step (see
// SetStep), for the job's status, its events and its series (Handle.Metrics).
// Recording a name already seen takes one uncontended lock and allocates
// nothing: call it from the innermost loop if need be. NaN and infinite
// values are recorded as they are. It returns ErrInvalidMetricName or
// ErrTooManyMetrics, and drops the value, for a name it cannot keep.
func (p *Progress) Metric(name string, value float64) error {
	j := p.j
	if j.snap.Load().state.Terminal() {
		return nil // after the end: changes nothing, as the other reports
	}
	step := max(j.step.Load(), 0)
	j.metricMu.Lock()
	if j.metrics == nil {
		j.newMetricsLocked()
	}
	err := j.metrics.Record(name, step, value)
	j.metricMu.Unlock()
	return err
}

// newMetricsLocked makes the job's metric set, on its first metric.
func (j *job) newMetricsLocked() {
	j.metrics = metrics.NewSet(MaxMetrics, MaxMetricPoints)
	j.hasMetrics.Store(true)
}

// metricVersionNow returns the version of the job's metrics: it grows at
// every value recorded, so that the progress loop can tell a change.
func (j *job) metricVersionNow() uint64 {
	if !j.hasMetrics.Load() {
		return 0
	}
	j.metricMu.Lock()
	defer j.metricMu.Unlock()
	return j.metrics.Version()
}

// Metrics records several values at the job's current step in one call,
// such as the loss and the accuracy at the end of an epoch:
//
//	p.Metrics(bgjob.Scalar{"loss", loss}, bgjob.Scalar{"accuracy", acc})
//
// It keeps every value it can and returns the first error, as Metric.
func (p *Progress) Metrics(values ...Scalar) error {
	j := p.j
	if j.snap.Load().state.Terminal() {
		return nil
	}
	step := max(j.step.Load(), 0)
	j.metricMu.Lock()
	if j.metrics == nil {
		j.newMetricsLocked()
	}
	var first error
	for _, v := range values {
		if err := j.metrics.Record(v.Name, step, v.Value); err != nil && first == nil {
			first = err
		}
	}
	j.metricMu.Unlock()
	return first
}

// latestMetrics returns the latest value of each of the job's metrics, in
// the order they were first recorded, and how many values were dropped.
// The slice is the caller's own.
func (j *job) latestMetrics() ([]Metric, uint64) {
	j.metricMu.Lock()
	defer j.metricMu.Unlock()
	if j.metrics == nil || j.metrics.Len() == 0 {
		if j.metrics == nil {
			return nil, 0
		}
		return nil, j.metrics.Dropped()
	}
	vals := j.metrics.Latest(nil)
	out := make([]Metric, len(vals))
	for i, v := range vals {
		out[i] = Metric{Name: v.Name, Value: v.Value, Step: v.Step}
	}
	return out, j.metrics.Dropped()
}

// metricSeries returns a copy of every series of the job.
func (j *job) metricSeries() []MetricSeries {
	j.metricMu.Lock()
	defer j.metricMu.Unlock()
	if j.metrics == nil || j.metrics.Len() == 0 {
		return nil
	}
	names := j.metrics.Names()
	out := make([]MetricSeries, 0, len(names))
	for _, name := range names {
		pts, _ := j.metrics.Series(name)
		s := MetricSeries{Name: name, Points: make([]MetricPoint, len(pts))}
		for i, pt := range pts {
			s.Points[i] = MetricPoint{pt.Step, pt.Min, pt.Max, pt.Last, pt.Count}
		}
		out = append(out, s)
	}
	return out
}

// Metrics returns a copy of the series of each metric the job recorded
// (Progress.Metric), in the order they were first recorded: the metric
// part of its timeline, bounded by MaxMetricPoints points each.
func (h *Handle) Metrics() []MetricSeries { return h.j.metricSeries() }

// formatMetric renders a metric's value with four significant digits, as
// a training log shows a loss.
func formatMetric(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v != 0 && (math.Abs(v) < 1e-3 || math.Abs(v) >= 1e5):
		return strconv.FormatFloat(v, 'e', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// appendMetrics writes "name value" for each metric, separated by spaces.
func appendMetrics(b []byte, ms []Metric) []byte {
	for i, m := range ms {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%s %s", m.Name, formatMetric(m.Value))
	}
	return b
}
