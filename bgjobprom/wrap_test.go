package bgjobprom_test

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestWrappedRegisterersKeepEachSeriesLabels registers one Collector
// twice, under two labels, as a service exporting several Runners does.
// Series share label pairs, and the wrapping adds its label to them: each
// series must come out with its own labels, and the race detector sees
// that the shared pairs are not written.
func TestWrappedRegisterersKeepEachSeriesLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScene(t)
		reg := prometheus.NewPedanticRegistry()
		for _, runner := range []string{"a", "b"} {
			prometheus.WrapRegistererWith(prometheus.Labels{"runner": runner}, reg).MustRegister(s.collector)
		}
		var want strings.Builder
		want.WriteString(`
# HELP bgjob_job_metric Latest value of each metric a running job records (Progress.Metric), such as its loss or accuracy.
# TYPE bgjob_job_metric gauge
`)
		for _, runner := range []string{"a", "b"} {
			want.WriteString(strings.ReplaceAll(`bgjob_job_metric{job_id="{train}",job_name="train",metric="accuracy",runner="R"} 0.875
bgjob_job_metric{job_id="{train}",job_name="train",metric="loss",runner="R"} 0.25
`, "R", runner))
		}
		want.WriteString(`# HELP bgjob_jobs_finished_total Jobs that ended, by outcome (succeeded, failed, canceled), over the Runner's life.
# TYPE bgjob_jobs_finished_total counter
`)
		for _, runner := range []string{"a", "b"} {
			want.WriteString(strings.ReplaceAll(`bgjob_jobs_finished_total{outcome="canceled",runner="R"} 1
bgjob_jobs_finished_total{outcome="failed",runner="R"} 2
bgjob_jobs_finished_total{outcome="succeeded",runner="R"} 1
`, "R", runner))
		}
		// Twice: the pairs made once for all scrapes must come out of the
		// first one as they went in.
		for range 2 {
			err := testutil.GatherAndCompare(reg, strings.NewReader(s.withIDs(want.String())),
				"bgjob_job_metric", "bgjob_jobs_finished_total")
			if err != nil {
				t.Error(err)
			}
		}
	})
}
