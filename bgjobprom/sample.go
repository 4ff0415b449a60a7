package bgjobprom

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample is the value of one series at one scrape. Its label pairs may be
// shared with other series: a running job's id and name are made into
// pairs once for all of its series, where prometheus.NewConstMetric would
// make them anew for each, and the pairs of the fixed series are made
// once for all scrapes. A metric's label pairs are immutable by the
// client library's contract, so sharing them is safe.
//
// A label value that is not valid UTF-8 is refused by the registry when
// it gathers, with an error that names the series; bgjob's job and metric
// names are valid UTF-8, and so are subscription names (WithSubscription).
type sample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair // sorted by name; never changed once made
	value  float64
	// counter or gauge, whichever the family is, points at value.
	counter dto.Counter
	gauge   dto.Gauge
}

var _ prometheus.Metric = (*sample)(nil)

func newSample(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []*dto.LabelPair) *sample {
	s := &sample{desc: d, labels: labels, value: v}
	if t == prometheus.CounterValue {
		s.counter.Value = &s.value
	} else {
		s.gauge.Value = &s.value
	}
	return s
}

// Desc returns the descriptor of the sample's family.
func (s *sample) Desc() *prometheus.Desc { return s.desc }

// Write fills out with the sample's labels and value.
func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels
	if s.counter.Value != nil {
		out.Counter = &s.counter
	} else {
		out.Gauge = &s.gauge
	}
	return nil
}

// labelPairs makes the label pairs of names and values, which must be in
// the order of their names. The slice is full, so that a caller that
// appends to it — a registry adding labels of its own — copies it rather
// than writing into what other series share.
func labelPairs(names []string, values ...string) []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, len(values))
	for i, v := range values {
		pairs[i] = &dto.LabelPair{Name: &names[i], Value: &v}
	}
	return pairs
}
