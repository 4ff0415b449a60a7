// Package bgjobprom exports the status of a bgjob.Runner to Prometheus: a
// prometheus.Collector that reads the Runner's status at each scrape.
//
// It is a module of its own, so that bgjob itself keeps its single
// dependency.
//
// # Attaching it
//
//	c, err := bgjobprom.NewCollector(runner)
//	if err != nil {
//		return err
//	}
//	prometheus.MustRegister(c) // or a registry of the service's own
//	http.Handle("/metrics", promhttp.Handler())
//
// To export several Runners from one registry, register each Collector
// through prometheus.WrapRegistererWith with a label that tells them
// apart.
//
// # Nothing runs between scrapes
//
// The Collector is pull only. At each scrape it calls Runner.GetStatus
// once, and Subscription.Stats for each subscription given to
// WithSubscription, and turns what they return into samples. It
// subscribes to no events, starts no goroutine and keeps nothing from one
// scrape to the next, so a Runner that nobody scrapes pays nothing for it,
// and a scrape costs what reading the status costs (it grows with the
// live jobs, queued ones included) plus a few allocations per series.
//
// # What is exported
//
// Across jobs, with every series present, zero or not:
//
//	bgjob_jobs_started_total                   counter  jobs accepted by Start, queued or not
//	bgjob_jobs_finished_total{outcome}         counter  succeeded, failed, canceled
//	bgjob_jobs_duration_seconds{outcome}       summary  run time of the jobs that ended (count and sum)
//	bgjob_jobs_queue_wait_seconds{outcome}     summary  their waits in the queue (count and sum)
//	bgjob_jobs{state}                          gauge    live jobs: queued, running, pausing, paused, canceling, abandoned
//	bgjob_jobs_stalled                         gauge    live jobs marked stalled (bgjob.WithStallTimeout)
//	bgjob_jobs_over_series_limit               gauge    running jobs left without bgjob_job_* series
//	bgjob_history_records_pending              gauge    records waiting for the history store
//	bgjob_history_records_failed_total         counter  records the store refused
//	bgjob_history_records_dropped_total        counter  records dropped for a store that did not keep up
//
// For each running job — one with a live worker: running, pausing,
// paused, canceling or abandoned — labelled job_id and job_name (not
// "job", which Prometheus gives to the scrape target):
//
//	bgjob_job_progress_ratio                   gauge    0 to 1
//	bgjob_job_run_seconds                      gauge    run time so far, pauses left out
//	bgjob_job_queue_wait_seconds               gauge    time it waited for a worker
//	bgjob_job_eta_seconds                      gauge    estimated time left; absent while unknown
//	bgjob_job_metric{metric}                   gauge    latest value of each metric it records (loss, accuracy)
//
// For each subscription given to WithSubscription, labelled subscriber:
//
//	bgjob_subscriber_events_delivered_total    counter  events its channel received
//	bgjob_subscriber_events_coalesced_total    counter  events replaced by a newer one of the same job
//	bgjob_subscriber_events_lost_total         counter  events dropped, its backlog full
//	bgjob_subscriber_lag_notices_total         counter  lag notices naming them
//	bgjob_subscriber_log_events_dropped_total  counter  log events dropped
//	bgjob_subscriber_events_pending            gauge    events waiting behind its channel
//	bgjob_subscriber_events_pending_peak       gauge    the most that ever waited
//
// The counters count over the Runner's life; a job is counted as finished
// from the moment its state is terminal, so that they never go back.
//
// # The bound on series
//
// Only running jobs have series of their own, and only the oldest
// WithMaxJobSeries of them (DefaultMaxJobSeries, 100, unless set); the
// rest are counted in bgjob_jobs_over_series_limit. Queued and finished
// jobs have none. A job has at most 4 + bgjob.MaxMetrics series (its
// metrics are bounded by the Runner), so a scrape holds at most
// 27 + 7 × subscriptions + WithMaxJobSeries × (4 + bgjob.MaxMetrics)
// series, however many jobs run, queue or have run. A job's series end
// with the job: the label job_id makes each run a series of its own, which
// Prometheus marks stale at the first scrape without it.
//
// # What is not exported
//
// Histograms of job durations and queue waits: the Runner keeps a count
// and a sum of each by outcome (RunnerStatus.Totals), not their
// distribution, so they are summaries without quantiles, from which a
// rate or a mean over any window follows; Runner.History has each run's
// own figures. A summary's count is that of the jobs retired, which
// follows bgjob_jobs_finished_total by a moment. The process's CPU, memory and
// goroutines are the client library's own collectors' to export
// (collectors.NewProcessCollector, collectors.NewGoCollector).
package bgjobprom
