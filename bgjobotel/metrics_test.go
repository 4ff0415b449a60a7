package bgjobotel_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
	"github.com/bgjob/bgjob/bgjobtest"
)

// The metrics after a known set of jobs, one at a time: two succeed, one
// fails, one panics, one is canceled while queued, one runs (recording
// its loss) and one waits behind it.
func TestMetricsAfterAKnownSetOfJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, []bgjobotel.Option{bgjobotel.WithAttributes(attribute.String("bgjob.runner", "train"))},
			bgjob.WithMaxRunning(1))
		ctx := t.Context()
		for _, job := range []bgjob.Job{
			bgjobtest.Succeed(2), bgjobtest.Succeed(2), bgjobtest.Fail(errors.New("boom")), bgjobtest.Panic("oops"),
		} {
			h, err := g.r.Start(ctx, "done", job)
			require.NoError(t, err)
			<-h.Done()
		}
		gate := bgjobtest.NewGate(4)
		running, err := g.r.Start(ctx, "resnet", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			_ = p.Metrics(bgjob.Scalar{Name: "loss", Value: 0.25}, bgjob.Scalar{Name: "accuracy", Value: 0.9})
			return gate.Job().Run(ctx, p)
		}))
		require.NoError(t, err)
		gate.Release(1)
		<-gate.Reached(2) // one step of four done
		waiting, err := g.r.Start(ctx, "waiting", bgjobtest.Succeed(1))
		require.NoError(t, err)
		time.Sleep(time.Minute)
		canceled, err := g.r.Start(ctx, "canceled", bgjobtest.Succeed(1))
		require.NoError(t, err)
		require.NoError(t, canceled.Cancel(nil))

		rm := g.collect(t)
		require.Equal(t, map[string]float64{"": 7}, points(t, metricNamed(t, rm, "bgjob.job.started"), "bgjob.job.outcome"))
		require.Equal(t, map[string]float64{"succeeded": 2, "failed": 2, "canceled": 1},
			points(t, metricNamed(t, rm, "bgjob.job.finished"), "bgjob.job.outcome"))
		require.Equal(t, map[string]float64{"queued": 1, "running": 1, "pausing": 0, "paused": 0, "canceling": 0, "abandoned": 0},
			points(t, metricNamed(t, rm, "bgjob.job.active"), "bgjob.job.state"))
		id := running.ID().String()
		require.Equal(t, map[string]float64{id + "/resnet": 0.25},
			points(t, metricNamed(t, rm, "bgjob.job.progress"), "bgjob.job.id", "bgjob.job.name"))
		require.Equal(t, map[string]float64{"resnet/loss": 0.25, "resnet/accuracy": 0.9},
			points(t, metricNamed(t, rm, "bgjob.job.metric"), "bgjob.job.name", "bgjob.metric.name"))
		require.Equal(t, map[string]float64{"": 0}, points(t, metricNamed(t, rm, "bgjob.job.series.omitted"), "x"))
		require.Equal(t, map[string]float64{"train": 0}, points(t, metricNamed(t, rm, "bgjob.job.stalled"), "bgjob.runner"),
			"every point carries WithAttributes")
		delivered := points(t, metricNamed(t, rm, "bgjob.subscription.events.delivered"), "bgjob.subscriber")
		require.Greater(t, delivered["bgjobotel"], 0.0)
		require.Equal(t, map[string]float64{"bgjobotel": 0}, points(t, metricNamed(t, rm, "bgjob.subscription.events.lost"), "bgjob.subscriber"))

		gate.Release(4)
		<-waiting.Done()
		g.shutdown(t)
		rm = g.collect(t)
		// The jobs that ran: four succeeded (two, the gated one and the one
		// that waited for it), two failed; the one canceled in the queue
		// never ran.
		require.Equal(t, map[string]float64{"succeeded": 4, "failed": 2},
			points(t, metricNamed(t, rm, "bgjob.job.duration"), "bgjob.job.outcome"))
		require.Equal(t, map[string]float64{"succeeded": 4, "failed": 2},
			points(t, metricNamed(t, rm, "bgjob.job.queue_wait"), "bgjob.job.outcome"))
		wait := metricNamed(t, rm, "bgjob.job.queue_wait").Data.(metricdata.Histogram[float64])
		var sum float64
		for _, p := range wait.DataPoints {
			sum += p.Sum
		}
		require.Equal(t, 60.0, sum, "the job that waited a minute for the gated one")
		require.False(t, hasMetric(rm, "bgjob.job.started"), "the callback stops after Shutdown")
	})
}

// Per-job series are kept to WithMaxJobSeries running jobs, the oldest;
// the others are counted. A job that ended has none.
func TestJobSeriesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, []bgjobotel.Option{bgjobotel.WithMaxJobSeries(2)})
		var gates []*bgjobtest.Gate
		var handles []*bgjob.Handle
		for range 5 {
			gate := bgjobtest.NewGate(1)
			h, err := g.r.Start(t.Context(), "sweep", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
				_ = p.Metric("loss", 1)
				return gate.Job().Run(ctx, p)
			}))
			require.NoError(t, err)
			<-gate.Reached(1)
			gates, handles = append(gates, gate), append(handles, h)
		}
		rm := g.collect(t)
		require.Equal(t, map[string]float64{handles[0].ID().String(): 1, handles[1].ID().String(): 1},
			points(t, metricNamed(t, rm, "bgjob.job.metric"), "bgjob.job.id"))
		require.Len(t, points(t, metricNamed(t, rm, "bgjob.job.progress"), "bgjob.job.id"), 2)
		require.Equal(t, map[string]float64{"": 3}, points(t, metricNamed(t, rm, "bgjob.job.series.omitted"), "x"))

		gates[0].Release(1)
		<-handles[0].Done()
		rm = g.collect(t)
		require.Equal(t, map[string]float64{handles[1].ID().String(): 1, handles[2].ID().String(): 1},
			points(t, metricNamed(t, rm, "bgjob.job.metric"), "bgjob.job.id"), "the ended job's series are gone")
		for _, gate := range gates[1:] {
			gate.Release(1)
		}
	})
}

// WithMaxJobSeries(0) reports no per-job series.
func TestNoJobSeries(t *testing.T) {
	g := newRig(t, []bgjobotel.Option{bgjobotel.WithMaxJobSeries(0)})
	gate := bgjobtest.NewGate(1)
	_, err := g.r.Start(context.Background(), "job", gate.Job())
	require.NoError(t, err)
	<-gate.Reached(1)
	rm := g.collect(t)
	gate.Release(1)
	if hasMetric(rm, "bgjob.job.progress") {
		require.Empty(t, points(t, metricNamed(t, rm, "bgjob.job.progress"), "bgjob.job.id"))
	}
	require.Equal(t, map[string]float64{"": 1}, points(t, metricNamed(t, rm, "bgjob.job.series.omitted"), "x"))
}

// A watched subscription's counters are reported under its name.
func TestWatchSubscription(t *testing.T) {
	g := newRig(t, nil)
	sub, err := g.r.Subscribe(bgjob.WithBuffer(0), bgjob.WithBacklog(1))
	require.NoError(t, err)
	require.NoError(t, g.tel.WatchSubscription("dashboard", sub))
	for range 3 {
		h, err := g.r.Start(context.Background(), "job", bgjobtest.Succeed(1))
		require.NoError(t, err)
		<-h.Done()
	}
	rm := g.collect(t)
	lost := points(t, metricNamed(t, rm, "bgjob.subscription.events.lost"), "bgjob.subscriber")
	require.Greater(t, lost["dashboard"], 0.0, "nobody reads it")
	require.Contains(t, lost, "bgjobotel")
	sub.Close()
}
