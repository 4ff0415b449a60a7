// Package bgjobotel exports the jobs of a bgjob.Runner to OpenTelemetry:
// a span per job, and the Runner's metrics.
//
//	tel, err := bgjobotel.New(
//		bgjobotel.WithTracerProvider(tp), // default: the global providers
//		bgjobotel.WithMeterProvider(mp),
//	)
//	if err != nil {
//		return err
//	}
//	r, err := tel.NewRunner(bgjob.WithMaxRunning(2)) // a Runner, instrumented from its first job
//	if err != nil {
//		return err
//	}
//	defer func() {
//		r.Shutdown(ctx)
//		select { // every span ended, before tp.Shutdown exports the last ones
//		case <-tel.Done():
//		case <-ctx.Done(): // a job that ignores its cancellation keeps Done open
//		}
//	}()
//
// It is a module of its own, so that bgjob itself depends on no part of
// OpenTelemetry.
//
// # Traces
//
// Each job gets one span, named after the job, from the moment the Runner
// accepted it (its info event) to the end of its goroutine (worker_stopped).
// It is a child of the span in the context given to Runner.Start, if there
// is one, and the job's own context carries it, so that the spans the job
// makes nest under it. A middleware (bgjob.WithMiddleware) starts it on the
// job's goroutine, before the job's code; the Telemetry's reader of the
// Runner's events adds the rest and ends it.
//
// Attributes: bgjob.job.id, bgjob.job.name, bgjob.worker.id,
// bgjob.job.priority and bgjob.job.queue_wait (seconds) from the start,
// thread.id for a job on its own OS thread; at the end bgjob.job.outcome
// (succeeded, failed, canceled), bgjob.job.duration and bgjob.job.paused
// (seconds), bgjob.job.percent, bgjob.job.step and bgjob.job.total, and the
// last value of each metric the job records as bgjob.metric.<name>
// (bgjob.metric.loss), plus those of WithAttributes.
//
// Events: "paused", "resumed" (with bgjob.job.paused, the length of the
// pause), "stalled" (with the job's stacks in code.stacktrace),
// "unstalled", "abandoned", "canceled" (with bgjob.cancel.cause: the cause
// given to Handle.Cancel, bgjob.ErrTimeout, bgjob.ErrShutdown), and
// "progress" each time the job's percent crosses a multiple of
// WithProgressEvents (every 10% by default: at most ten events a job,
// however often it reports), with its percent, step, total, message and
// metrics. An event that stands for others the Runner folded together
// says how many in bgjob.events.folded.
//
// Status: unset for a job that succeeded; an error, with the job's error
// or the cancellation cause as its description and error.type, for one
// that failed or was canceled. A failure adds an "exception" event; for a
// panic, with the panic value's type and text and the stack of the
// goroutine that panicked.
//
// A job canceled while it waited in the queue never runs the middleware:
// its span is made when its end is read, from its acceptance to its
// cancellation, and it is a root span, since the context given to Start is
// not known then.
//
// # Never in the job's way
//
// The middleware costs the job one span start, a read of its status, a
// map insert and a context.AfterFunc, on its goroutine, before it runs
// (BenchmarkJob: with no-op providers, about a microsecond of CPU a job
// over a Runner with one subscriber; recording with the SDK, about
// twelve); everything else
// happens on the Telemetry's goroutine, which reads a lagging subscription
// (the default policy): it never makes Start wait, and a reader that falls
// behind loses events rather than holding anything up. When it is told
// it lost some (an EventLagged), it reads the status of the jobs named
// again — of every job with an open span when there were more than
// bgjob.MaxLagJobs — and ends the spans of those that ended, so that no
// span is left open; the lost pauses and stalls are then missing from the
// span, which gets an "events lost" event instead. A job canceled while
// queued whose events were lost beyond the jobs a notice names gets no
// span; the metrics count it all the same.
//
// # Metrics
//
// OpenTelemetry's semantic conventions have none for in-process jobs, so
// the names are under bgjob., shaped as the conventions shape theirs
// (cicd.pipeline.run.*, db.client.connection.*): seconds, {job} units,
// states as attributes.
//
//	bgjob.job.started              counter    {job}   jobs accepted (Start returned a handle), queued or not
//	bgjob.job.finished             counter    {job}   jobs ended, by bgjob.job.outcome
//	bgjob.job.active               updown     {job}   live jobs by bgjob.job.state (queued, running, pausing, paused, canceling, abandoned)
//	bgjob.job.stalled              updown     {job}   live jobs marked stalled
//	bgjob.job.duration             histogram  s       run time of the jobs that ran, without pauses, by bgjob.job.outcome
//	bgjob.job.queue_wait           histogram  s       time the jobs that ran waited for a worker, by bgjob.job.outcome
//	bgjob.job.progress             gauge      1       a running job's progress, 0 to 1, by bgjob.job.id and bgjob.job.name
//	bgjob.job.metric               gauge              a running job's latest metric values, by bgjob.job.id, bgjob.job.name and bgjob.metric.name
//	bgjob.job.series.omitted       updown     {job}   running jobs left out of the two above by WithMaxJobSeries
//	bgjob.history.records.*        pending (updown), failed, dropped (counters): the history store's backlog
//	bgjob.subscription.events.*    delivered, coalesced, lost (counters), pending (updown), by bgjob.subscriber
//	bgjob.subscription.lags        counter    {notice} lag notices, by bgjob.subscriber
//	bgjob.subscription.log.dropped counter    {event} log events dropped, by bgjob.subscriber
//
// The counters and gauges are read from Runner.GetStatus in one callback,
// at each collection, and so are exact, whatever events the Telemetry
// lost; the histograms are recorded as the span of each job that ran
// ends, once a job, lag or not. The subscriptions are
// the Telemetry's own ("bgjobotel") and those given to
// Telemetry.WatchSubscription.
//
// # Cardinality
//
// Only bgjob.job.progress and bgjob.job.metric have a series per job, and
// only for running jobs: a job's series are reported while it runs and
// no more once it has ended. At most WithMaxJobSeries jobs (the oldest
// running) have them, each with at most bgjob.MaxMetrics metrics, so a
// collection holds at most WithMaxJobSeries × (1 + bgjob.MaxMetrics) of
// them, whatever the number of jobs. Every other metric has a fixed set of
// series. Spans are named after the job: give jobs names of a few kinds
// ("resnet-finetune"), not one per run, and let the id tell runs apart.
package bgjobotel
