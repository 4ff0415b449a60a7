package bgjobprom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scene is a Runner caught in a known state: four jobs ended, one of each
// outcome and one more failure (a panic), two running — one training,
// with metrics, one paused after waiting 2s in the queue — and one queued;
// two subscriptions, one read to the end, one never read.
type scene struct {
	runner    *bgjob.Runner
	collector *bgjobprom.Collector
	train     *bgjob.Handle
	tune      *bgjob.Handle
}

// newScene builds the scene, inside a synctest bubble, and stops it at the
// end of the test: the jobs still live are canceled and the Runner shut
// down.
func newScene(t *testing.T, opts ...bgjobprom.Option) *scene {
	t.Helper()
	ctx := t.Context()
	r, err := bgjob.NewRunner(bgjob.WithMaxRunning(2))
	if err != nil {
		t.Fatal(err)
	}
	audit, err := r.Subscribe(bgjob.WithTypes(bgjob.EventInfo))
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := r.Subscribe(bgjob.WithTypes(bgjob.EventInfo), bgjob.WithBuffer(1), bgjob.WithBacklog(1))
	if err != nil {
		t.Fatal(err)
	}
	var live []*bgjob.Handle
	t.Cleanup(func() {
		for _, h := range live {
			_ = h.Cancel(nil)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		audit.Close()
		stuck.Close()
	})
	start := func(name string, job bgjob.Job) *bgjob.Handle {
		t.Helper()
		h, err := r.Start(ctx, name, job)
		if err != nil {
			t.Fatal(err)
		}
		// Let the stuck subscription's pump settle, so that what it
		// loses is the same every run.
		synctest.Wait()
		return h
	}

	ended := []struct {
		name string
		job  bgjob.Job
		want bgjob.State
	}{
		{"prepare", bgjobtest.Succeed(3), bgjob.StateSucceeded},
		{"ingest", bgjobtest.Fail(errors.New("bad row 7")), bgjob.StateFailed},
		{"export", bgjobtest.Panic("disk full"), bgjob.StateFailed},
	}
	for _, e := range ended {
		bgjobtest.AssertEnded(ctx, t, start(e.name, e.job), e.want)
	}

	tj := newTrainingJob(4, 10, bgjob.Scalar{Name: "loss", Value: 0.25}, bgjob.Scalar{Name: "accuracy", Value: 0.875})
	train := start("train", tj)
	<-tj.recorded
	blocker := start("sweep", bgjobtest.HangUntilCanceled())
	gate := bgjobtest.NewGate(3)
	tune := start("tune", gate.Job())
	time.Sleep(2 * time.Second) // tune waits 2s in the queue
	_ = blocker.Cancel(nil)
	bgjobtest.AssertEnded(ctx, t, blocker, bgjob.StateCanceled)
	<-gate.Reached(1)
	if err := tune.Pause(); err != nil {
		t.Fatal(err)
	}
	gate.Release(1)
	paused := func(st bgjob.JobStatus) bool { return st.State == bgjob.StatePaused }
	if err := bgjobtest.WaitStatus(ctx, r, tune, paused); err != nil {
		t.Fatal(err)
	}
	queued := start("evaluate", bgjobtest.Succeed(1))
	live = append(live, train, tune, queued)
	time.Sleep(10 * time.Second) // train has run 12s, tune 0s: it is paused

	for range 7 { // the info events of the seven jobs
		<-audit.Events()
	}
	opts = append([]bgjobprom.Option{
		bgjobprom.WithSubscription("audit", audit),
		bgjobprom.WithSubscription("stuck", stuck),
	}, opts...)
	c, err := bgjobprom.NewCollector(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &scene{runner: r, collector: c, train: train, tune: tune}
}

// wantScene is the exposition of the scene, but for bgjob_job_eta_seconds,
// whose value follows the Runner's rate estimate (TestETAOnlyWhenKnown).
const wantScene = `
# HELP bgjob_history_records_dropped_total Records of finished jobs dropped because too many waited for a history store that did not keep up.
# TYPE bgjob_history_records_dropped_total counter
bgjob_history_records_dropped_total 0
# HELP bgjob_history_records_failed_total Records of finished jobs the history store refused.
# TYPE bgjob_history_records_failed_total counter
bgjob_history_records_failed_total 0
# HELP bgjob_history_records_pending Records of finished jobs waiting to be added to the history store.
# TYPE bgjob_history_records_pending gauge
bgjob_history_records_pending 0
# HELP bgjob_job_metric Latest value of each metric a running job records (Progress.Metric), such as its loss or accuracy.
# TYPE bgjob_job_metric gauge
bgjob_job_metric{job_id="{train}",job_name="train",metric="accuracy"} 0.875
bgjob_job_metric{job_id="{train}",job_name="train",metric="loss"} 0.25
# HELP bgjob_job_progress_ratio How far a running job has come, from 0 to 1.
# TYPE bgjob_job_progress_ratio gauge
bgjob_job_progress_ratio{job_id="{train}",job_name="train"} 0.4
bgjob_job_progress_ratio{job_id="{tune}",job_name="tune"} 0
# HELP bgjob_job_queue_wait_seconds How long a running job waited in the queue for a worker.
# TYPE bgjob_job_queue_wait_seconds gauge
bgjob_job_queue_wait_seconds{job_id="{train}",job_name="train"} 0
bgjob_job_queue_wait_seconds{job_id="{tune}",job_name="tune"} 2
# HELP bgjob_job_run_seconds How long a running job has run so far, not counting the time it was paused.
# TYPE bgjob_job_run_seconds gauge
bgjob_job_run_seconds{job_id="{train}",job_name="train"} 12
bgjob_job_run_seconds{job_id="{tune}",job_name="tune"} 0
# HELP bgjob_jobs Live jobs by state (queued, running, pausing, paused, canceling, abandoned).
# TYPE bgjob_jobs gauge
bgjob_jobs{state="abandoned"} 0
bgjob_jobs{state="canceling"} 0
bgjob_jobs{state="paused"} 1
bgjob_jobs{state="pausing"} 0
bgjob_jobs{state="queued"} 1
bgjob_jobs{state="running"} 1
# HELP bgjob_jobs_duration_seconds Run time of the jobs that ended, by outcome, not counting the time they were paused (a count and a sum).
# TYPE bgjob_jobs_duration_seconds summary
bgjob_jobs_duration_seconds_sum{outcome="canceled"} 2
bgjob_jobs_duration_seconds_count{outcome="canceled"} 1
bgjob_jobs_duration_seconds_sum{outcome="failed"} 0
bgjob_jobs_duration_seconds_count{outcome="failed"} 2
bgjob_jobs_duration_seconds_sum{outcome="succeeded"} 0
bgjob_jobs_duration_seconds_count{outcome="succeeded"} 1
# HELP bgjob_jobs_finished_total Jobs that ended, by outcome (succeeded, failed, canceled), over the Runner's life.
# TYPE bgjob_jobs_finished_total counter
bgjob_jobs_finished_total{outcome="canceled"} 1
bgjob_jobs_finished_total{outcome="failed"} 2
bgjob_jobs_finished_total{outcome="succeeded"} 1
# HELP bgjob_jobs_over_series_limit Running jobs left out of the bgjob_job_* series by the collector's series limit.
# TYPE bgjob_jobs_over_series_limit gauge
bgjob_jobs_over_series_limit 0
# HELP bgjob_jobs_stalled Live jobs marked stalled: no progress for the Runner's stall timeout.
# TYPE bgjob_jobs_stalled gauge
bgjob_jobs_stalled 0
# HELP bgjob_jobs_queue_wait_seconds Time the jobs that ended waited in the queue for a worker, by outcome (a count and a sum).
# TYPE bgjob_jobs_queue_wait_seconds summary
bgjob_jobs_queue_wait_seconds_sum{outcome="canceled"} 0
bgjob_jobs_queue_wait_seconds_count{outcome="canceled"} 1
bgjob_jobs_queue_wait_seconds_sum{outcome="failed"} 0
bgjob_jobs_queue_wait_seconds_count{outcome="failed"} 2
bgjob_jobs_queue_wait_seconds_sum{outcome="succeeded"} 0
bgjob_jobs_queue_wait_seconds_count{outcome="succeeded"} 1
# HELP bgjob_jobs_started_total Jobs the Runner accepted (Start returned a handle), queued or not, over its life.
# TYPE bgjob_jobs_started_total counter
bgjob_jobs_started_total 7
# HELP bgjob_subscriber_events_coalesced_total Events replaced by a newer event of the same job before the subscriber received them.
# TYPE bgjob_subscriber_events_coalesced_total counter
bgjob_subscriber_events_coalesced_total{subscriber="audit"} 0
bgjob_subscriber_events_coalesced_total{subscriber="stuck"} 0
# HELP bgjob_subscriber_events_delivered_total Events a subscription's channel received, lag notices included.
# TYPE bgjob_subscriber_events_delivered_total counter
bgjob_subscriber_events_delivered_total{subscriber="audit"} 7
bgjob_subscriber_events_delivered_total{subscriber="stuck"} 1
# HELP bgjob_subscriber_events_lost_total Events a lagging subscription dropped because its backlog was full.
# TYPE bgjob_subscriber_events_lost_total counter
bgjob_subscriber_events_lost_total{subscriber="audit"} 0
bgjob_subscriber_events_lost_total{subscriber="stuck"} 5
# HELP bgjob_subscriber_events_pending Events waiting behind a subscription's channel.
# TYPE bgjob_subscriber_events_pending gauge
bgjob_subscriber_events_pending{subscriber="audit"} 0
bgjob_subscriber_events_pending{subscriber="stuck"} 2
# HELP bgjob_subscriber_events_pending_peak The most events that ever waited behind a subscription's channel.
# TYPE bgjob_subscriber_events_pending_peak gauge
bgjob_subscriber_events_pending_peak{subscriber="audit"} 0
bgjob_subscriber_events_pending_peak{subscriber="stuck"} 2
# HELP bgjob_subscriber_lag_notices_total Lag notices (lagged events) naming the events a subscription lost.
# TYPE bgjob_subscriber_lag_notices_total counter
bgjob_subscriber_lag_notices_total{subscriber="audit"} 0
bgjob_subscriber_lag_notices_total{subscriber="stuck"} 1
# HELP bgjob_subscriber_log_events_dropped_total Log events a subscription dropped, oldest first, because its reader fell behind.
# TYPE bgjob_subscriber_log_events_dropped_total counter
bgjob_subscriber_log_events_dropped_total{subscriber="audit"} 0
bgjob_subscriber_log_events_dropped_total{subscriber="stuck"} 0
`

// sceneFamilies are the families wantScene holds.
var sceneFamilies = []string{
	"bgjob_history_records_dropped_total", "bgjob_history_records_failed_total", "bgjob_history_records_pending",
	"bgjob_job_metric", "bgjob_job_progress_ratio", "bgjob_job_queue_wait_seconds", "bgjob_job_run_seconds",
	"bgjob_jobs", "bgjob_jobs_duration_seconds", "bgjob_jobs_finished_total", "bgjob_jobs_queue_wait_seconds", "bgjob_jobs_over_series_limit", "bgjob_jobs_stalled", "bgjob_jobs_started_total",
	"bgjob_subscriber_events_coalesced_total", "bgjob_subscriber_events_delivered_total", "bgjob_subscriber_events_lost_total",
	"bgjob_subscriber_events_pending", "bgjob_subscriber_events_pending_peak", "bgjob_subscriber_lag_notices_total",
	"bgjob_subscriber_log_events_dropped_total",
}

// withIDs puts the ids of the scene's running jobs into want.
func (s *scene) withIDs(want string) string {
	return strings.NewReplacer("{train}", s.train.ID().String(), "{tune}", s.tune.ID().String()).Replace(want)
}

func TestCollectorExportsTheScene(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScene(t)
		want := s.withIDs(wantScene)
		if err := testutil.CollectAndCompare(s.collector, strings.NewReader(want), sceneFamilies...); err != nil {
			t.Error(err)
		}
	})
}

func TestCollectorPassesLint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScene(t)
		problems, err := testutil.CollectAndLint(s.collector)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	})
}

func TestETAOnlyWhenKnown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScene(t)
		// train has a rate and steps left; tune, paused before its first
		// step, has no rate, so no estimate: no series rather than a 0.
		if eta := s.train.Status().ETA; eta <= 0 {
			t.Fatalf("train's ETA is %v; the scene needs one", eta)
		}
		if n := testutil.CollectAndCount(s.collector, "bgjob_job_eta_seconds"); n != 1 {
			t.Errorf("bgjob_job_eta_seconds has %d series, want 1 (train's)", n)
		}
	})
}

func TestMaxJobSeriesBoundsThePerJobSeries(t *testing.T) {
	tests := []struct {
		give     int
		wantJobs []string // the jobs with series, oldest first
	}{
		{give: 0},
		{give: 1, wantJobs: []string{"train"}},
		{give: 2, wantJobs: []string{"train", "tune"}},
		{give: 3, wantJobs: []string{"train", "tune"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScene(t, bgjobprom.WithMaxJobSeries(tt.give))
				var want strings.Builder
				want.WriteString("# HELP bgjob_job_progress_ratio How far a running job has come, from 0 to 1.\n")
				want.WriteString("# TYPE bgjob_job_progress_ratio gauge\n")
				ratio := map[string]string{"train": "0.4", "tune": "0"}
				for _, name := range tt.wantJobs {
					fmt.Fprintf(&want, "bgjob_job_progress_ratio{job_id=\"{%s}\",job_name=%q} %s\n", name, name, ratio[name])
				}
				want.WriteString("# HELP bgjob_jobs_over_series_limit Running jobs left out of the bgjob_job_* series by the collector's series limit.\n")
				want.WriteString("# TYPE bgjob_jobs_over_series_limit gauge\n")
				fmt.Fprintf(&want, "bgjob_jobs_over_series_limit %d\n", 2-len(tt.wantJobs))
				err := testutil.CollectAndCompare(s.collector, strings.NewReader(s.withIDs(want.String())),
					"bgjob_job_progress_ratio", "bgjob_jobs_over_series_limit")
				if err != nil {
					t.Error(err)
				}
				wantMetrics := 0
				if len(tt.wantJobs) > 0 {
					wantMetrics = 2 // train's loss and accuracy
				}
				if n := testutil.CollectAndCount(s.collector, "bgjob_job_metric"); n != wantMetrics {
					t.Errorf("bgjob_job_metric has %d series, want %d", n, wantMetrics)
				}
			})
		})
	}
}
