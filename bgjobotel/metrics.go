package bgjobotel

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/bgjob/bgjob"
)

// outcomes are the states a job ends in; liveStates those of a job that
// has not ended, in the order of its life.
var (
	outcomes   = []bgjob.State{bgjob.StateSucceeded, bgjob.StateFailed, bgjob.StateCanceled}
	liveStates = []bgjob.State{
		bgjob.StateQueued, bgjob.StateRunning, bgjob.StatePausing,
		bgjob.StatePaused, bgjob.StateCanceling, bgjob.StateAbandoned,
	}
)

// Bucket boundaries, in seconds, for jobs that last from a moment to a
// day, and for waits in a queue from a millisecond to an hour. They are
// hints: a View of the application's overrides them.
var (
	durationBuckets  = []float64{0.01, 0.1, 1, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400}
	queueWaitBuckets = []float64{0.001, 0.01, 0.1, 1, 10, 60, 300, 600, 1800, 3600}
)

// instruments are the Runner's metrics. The histograms are recorded by
// the reader as jobs end; the rest are observed in one callback that reads
// the Runner's status once per collection.
type instruments struct {
	started   metric.Int64ObservableCounter
	finished  metric.Int64ObservableCounter
	active    metric.Int64ObservableUpDownCounter
	stalled   metric.Int64ObservableUpDownCounter
	omitted   metric.Int64ObservableUpDownCounter
	progress  metric.Float64ObservableGauge
	jobMetric metric.Float64ObservableGauge
	duration  metric.Float64Histogram
	queueWait metric.Float64Histogram

	historyPending metric.Int64ObservableUpDownCounter
	historyFailed  metric.Int64ObservableCounter
	historyDropped metric.Int64ObservableCounter

	subDelivered  metric.Int64ObservableCounter
	subCoalesced  metric.Int64ObservableCounter
	subLost       metric.Int64ObservableCounter
	subLags       metric.Int64ObservableCounter
	subLogDropped metric.Int64ObservableCounter
	subPending    metric.Int64ObservableUpDownCounter

	// base holds the attributes of WithAttributes; byState adds to them
	// bgjob.job.state (live states) or bgjob.job.outcome (outcomes).
	base    []attribute.KeyValue
	baseOpt metric.MeasurementOption
	byState map[bgjob.State]metric.MeasurementOption
	// recordBy holds the same as byState for the histograms, as slices
	// made once, so that recording a job's end does not allocate them.
	recordBy map[bgjob.State][]metric.RecordOption
}

func newInstruments(m metric.Meter, base []attribute.KeyValue) (instruments, error) {
	var (
		in   instruments
		errs []error
	)
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	in.started, err = m.Int64ObservableCounter("bgjob.job.started", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs the Runner accepted (Start returned a handle), queued or not."))
	check(err)
	in.finished, err = m.Int64ObservableCounter("bgjob.job.finished", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs that ended, by outcome (succeeded, failed, canceled)."))
	check(err)
	in.active, err = m.Int64ObservableUpDownCounter("bgjob.job.active", metric.WithUnit("{job}"),
		metric.WithDescription("Live jobs by state (queued, running, pausing, paused, canceling, abandoned)."))
	check(err)
	in.stalled, err = m.Int64ObservableUpDownCounter("bgjob.job.stalled", metric.WithUnit("{job}"),
		metric.WithDescription("Live jobs marked stalled: no progress for the Runner's stall timeout."))
	check(err)
	in.omitted, err = m.Int64ObservableUpDownCounter("bgjob.job.series.omitted", metric.WithUnit("{job}"),
		metric.WithDescription("Running jobs left out of bgjob.job.progress and bgjob.job.metric by the series limit."))
	check(err)
	in.progress, err = m.Float64ObservableGauge("bgjob.job.progress", metric.WithUnit("1"),
		metric.WithDescription("How far a running job has come, from 0 to 1."))
	check(err)
	in.jobMetric, err = m.Float64ObservableGauge("bgjob.job.metric",
		metric.WithDescription("Latest value of each metric a running job records (Progress.Metric), such as its loss or accuracy."))
	check(err)
	in.duration, err = m.Float64Histogram("bgjob.job.duration", metric.WithUnit("s"),
		metric.WithDescription("Run time of the jobs that ran, not counting pauses, by outcome."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	in.queueWait, err = m.Float64Histogram("bgjob.job.queue_wait", metric.WithUnit("s"),
		metric.WithDescription("How long the jobs that ran waited for a worker, by outcome."),
		metric.WithExplicitBucketBoundaries(queueWaitBuckets...))
	check(err)

	in.historyPending, err = m.Int64ObservableUpDownCounter("bgjob.history.records.pending", metric.WithUnit("{record}"),
		metric.WithDescription("Records of finished jobs waiting to be added to the history store."))
	check(err)
	in.historyFailed, err = m.Int64ObservableCounter("bgjob.history.records.failed", metric.WithUnit("{record}"),
		metric.WithDescription("Records of finished jobs the history store refused."))
	check(err)
	in.historyDropped, err = m.Int64ObservableCounter("bgjob.history.records.dropped", metric.WithUnit("{record}"),
		metric.WithDescription("Records of finished jobs dropped because too many waited for a history store that did not keep up."))
	check(err)

	in.subDelivered, err = m.Int64ObservableCounter("bgjob.subscription.events.delivered", metric.WithUnit("{event}"),
		metric.WithDescription("Events a subscription's channel received, lag notices included."))
	check(err)
	in.subCoalesced, err = m.Int64ObservableCounter("bgjob.subscription.events.coalesced", metric.WithUnit("{event}"),
		metric.WithDescription("Events replaced by a newer event of the same job before the subscriber received them."))
	check(err)
	in.subLost, err = m.Int64ObservableCounter("bgjob.subscription.events.lost", metric.WithUnit("{event}"),
		metric.WithDescription("Events a lagging subscription dropped because its backlog was full."))
	check(err)
	in.subLags, err = m.Int64ObservableCounter("bgjob.subscription.lags", metric.WithUnit("{notice}"),
		metric.WithDescription("Lag notices naming the events a subscription lost."))
	check(err)
	in.subLogDropped, err = m.Int64ObservableCounter("bgjob.subscription.log.dropped", metric.WithUnit("{event}"),
		metric.WithDescription("Log events a subscription dropped, oldest first, because its reader fell behind."))
	check(err)
	in.subPending, err = m.Int64ObservableUpDownCounter("bgjob.subscription.events.pending", metric.WithUnit("{event}"),
		metric.WithDescription("Events waiting behind a subscription's channel."))
	check(err)
	if len(errs) > 0 {
		return instruments{}, fmt.Errorf("bgjobotel: making the instruments: %w", errors.Join(errs...))
	}

	in.base = base
	in.baseOpt = metric.WithAttributeSet(attribute.NewSet(base...))
	in.byState = make(map[bgjob.State]metric.MeasurementOption, len(outcomes)+len(liveStates))
	in.recordBy = make(map[bgjob.State][]metric.RecordOption, len(outcomes))
	for _, s := range outcomes {
		in.byState[s] = withBase(base, keyOutcome.String(s.String()))
		in.recordBy[s] = []metric.RecordOption{in.byState[s]}
	}
	for _, s := range liveStates {
		in.byState[s] = withBase(base, keyState.String(s.String()))
	}
	return in, nil
}

// withBase returns the measurement option of the attributes base and kv.
func withBase(base []attribute.KeyValue, kv ...attribute.KeyValue) metric.MeasurementOption {
	all := make([]attribute.KeyValue, 0, len(base)+len(kv))
	return metric.WithAttributeSet(attribute.NewSet(append(append(all, base...), kv...)...))
}

// observables lists the instruments the callback observes.
func (in *instruments) observables() []metric.Observable {
	return []metric.Observable{
		in.started, in.finished, in.active, in.stalled, in.omitted, in.progress, in.jobMetric,
		in.historyPending, in.historyFailed, in.historyDropped,
		in.subDelivered, in.subCoalesced, in.subLost, in.subLags, in.subLogDropped, in.subPending,
	}
}

// recordEnd records the duration and queue wait of a job that ran and
// ended, by its outcome.
func (in *instruments) recordEnd(ctx context.Context, st bgjob.JobStatus) {
	opts := in.recordBy[st.State]
	in.duration.Record(ctx, st.Duration.Seconds(), opts...)
	in.queueWait.Record(ctx, st.QueueWait.Seconds(), opts...)
}

// observe is the metric callback: it reads the Runner's status once and
// observes every figure from it. Its cost grows with the live jobs (see
// bgjob.Runner.GetStatus), and it is paid once per collection.
func (t *Telemetry) observe(_ context.Context, o metric.Observer) error {
	in := &t.inst
	st := t.runner.GetStatus()
	if st.Closed {
		// Shut down: the reader is to drain the last events and then
		// unregister this callback, even for a Runner that never ran a
		// job and whose Done nobody called.
		t.start()
	}

	var started int64
	for _, n := range st.Counts {
		started += int64(n)
	}
	o.ObserveInt64(in.started, started, in.baseOpt)
	for _, s := range outcomes {
		o.ObserveInt64(in.finished, int64(st.Counts[s]), in.byState[s])
	}
	for _, s := range liveStates {
		o.ObserveInt64(in.active, int64(st.Counts[s]), in.byState[s])
	}

	var stalled, reported, omitted int64
	job := make([]attribute.KeyValue, 0, 3+len(in.base))
	for i := range st.Jobs {
		js := &st.Jobs[i]
		if js.Stalled {
			stalled++
		}
		if !js.Running() {
			continue
		}
		if reported == int64(t.cfg.maxJobSeries) {
			omitted++
			continue
		}
		reported++
		job = append(job[:0], keyJobID.String(js.ID.String()), keyJobName.String(js.Name))
		job = append(job, in.base...)
		o.ObserveFloat64(in.progress, js.Percent/100, metric.WithAttributes(job...))
		for _, m := range js.Metrics {
			o.ObserveFloat64(in.jobMetric, m.Value, metric.WithAttributes(append(job, keyMetricName.String(m.Name))...))
		}
	}
	o.ObserveInt64(in.stalled, stalled, in.baseOpt)
	o.ObserveInt64(in.omitted, omitted, in.baseOpt)

	o.ObserveInt64(in.historyPending, int64(st.History.Pending), in.baseOpt)
	o.ObserveInt64(in.historyFailed, clampInt64(st.History.Failed), in.baseOpt)
	o.ObserveInt64(in.historyDropped, clampInt64(st.History.Dropped), in.baseOpt)

	t.mu.Lock()
	subs := append([]watchedSubscription{{name: ownSubscriber, sub: t.sub}}, t.watched...)
	t.mu.Unlock()
	for _, w := range subs {
		s := w.sub.Stats()
		opt := withBase(in.base, keySubscriber.String(w.name))
		o.ObserveInt64(in.subDelivered, clampInt64(s.Delivered), opt)
		o.ObserveInt64(in.subCoalesced, clampInt64(s.Coalesced), opt)
		o.ObserveInt64(in.subLost, clampInt64(s.Lost), opt)
		o.ObserveInt64(in.subLags, clampInt64(s.Lags), opt)
		o.ObserveInt64(in.subLogDropped, clampInt64(s.LogDropped), opt)
		o.ObserveInt64(in.subPending, int64(s.Pending), opt)
	}
	return nil
}

// clampInt64 converts a counter to the instruments' int64, which it could
// pass only after centuries of counting.
func clampInt64(n uint64) int64 {
	if n > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(n)
}
