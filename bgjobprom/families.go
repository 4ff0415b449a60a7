package bgjobprom

import "github.com/prometheus/client_golang/prometheus"

// The metric families a Collector exports. Their names follow Prometheus's
// conventions: the bgjob_ prefix, base units (seconds, ratios), _total on
// counters. bgjob_jobs_* families count across jobs; bgjob_job_* families
// have a series per running job.
//
// The label names below are never changed: the label pairs of every
// sample point at them.

// The labels of the families across jobs.
var (
	stateLabels   = []string{"state"}
	outcomeLabels = []string{"outcome"}
)

var (
	jobsStartedDesc = prometheus.NewDesc("bgjob_jobs_started_total",
		"Jobs the Runner accepted (Start returned a handle), queued or not, over its life.",
		nil, nil)
	jobsFinishedDesc = prometheus.NewDesc("bgjob_jobs_finished_total",
		"Jobs that ended, by outcome (succeeded, failed, canceled), over the Runner's life.",
		outcomeLabels, nil)
	jobsDurationDesc = prometheus.NewDesc("bgjob_jobs_duration_seconds",
		"Run time of the jobs that ended, by outcome, not counting the time they were paused (a count and a sum).",
		outcomeLabels, nil)
	jobsQueueWaitDesc = prometheus.NewDesc("bgjob_jobs_queue_wait_seconds",
		"Time the jobs that ended waited in the queue for a worker, by outcome (a count and a sum).",
		outcomeLabels, nil)
	jobsDesc = prometheus.NewDesc("bgjob_jobs",
		"Live jobs by state (queued, running, pausing, paused, canceling, abandoned).",
		stateLabels, nil)
	jobsStalledDesc = prometheus.NewDesc("bgjob_jobs_stalled",
		"Live jobs marked stalled: no progress for the Runner's stall timeout.",
		nil, nil)
	jobsOverLimitDesc = prometheus.NewDesc("bgjob_jobs_over_series_limit",
		"Running jobs left out of the bgjob_job_* series by the collector's series limit.",
		nil, nil)

	historyPendingDesc = prometheus.NewDesc("bgjob_history_records_pending",
		"Records of finished jobs waiting to be added to the history store.",
		nil, nil)
	historyFailedDesc = prometheus.NewDesc("bgjob_history_records_failed_total",
		"Records of finished jobs the history store refused.",
		nil, nil)
	historyDroppedDesc = prometheus.NewDesc("bgjob_history_records_dropped_total",
		"Records of finished jobs dropped because too many waited for a history store that did not keep up.",
		nil, nil)
)

// jobLabels name a running job in the bgjob_job_* families. They avoid
// "job", which Prometheus gives to the scrape target. jobMetricLabels adds
// the metric's name to them.
var (
	jobLabels       = []string{"job_id", "job_name"}
	jobMetricLabels = []string{"job_id", "job_name", "metric"}
)

var (
	jobProgressDesc = prometheus.NewDesc("bgjob_job_progress_ratio",
		"How far a running job has come, from 0 to 1.",
		jobLabels, nil)
	jobRunDesc = prometheus.NewDesc("bgjob_job_run_seconds",
		"How long a running job has run so far, not counting the time it was paused.",
		jobLabels, nil)
	jobQueueWaitDesc = prometheus.NewDesc("bgjob_job_queue_wait_seconds",
		"How long a running job waited in the queue for a worker.",
		jobLabels, nil)
	jobETADesc = prometheus.NewDesc("bgjob_job_eta_seconds",
		"Estimated time left for a running job, at its recent rate; absent while unknown.",
		jobLabels, nil)
	jobMetricDesc = prometheus.NewDesc("bgjob_job_metric",
		"Latest value of each metric a running job records (Progress.Metric), such as its loss or accuracy.",
		jobMetricLabels, nil)
)

// subscriberLabels name a subscription given to WithSubscription.
var subscriberLabels = []string{"subscriber"}

var (
	subDeliveredDesc = prometheus.NewDesc("bgjob_subscriber_events_delivered_total",
		"Events a subscription's channel received, lag notices included.",
		subscriberLabels, nil)
	subCoalescedDesc = prometheus.NewDesc("bgjob_subscriber_events_coalesced_total",
		"Events replaced by a newer event of the same job before the subscriber received them.",
		subscriberLabels, nil)
	subLostDesc = prometheus.NewDesc("bgjob_subscriber_events_lost_total",
		"Events a lagging subscription dropped because its backlog was full.",
		subscriberLabels, nil)
	subLagsDesc = prometheus.NewDesc("bgjob_subscriber_lag_notices_total",
		"Lag notices (lagged events) naming the events a subscription lost.",
		subscriberLabels, nil)
	subLogDroppedDesc = prometheus.NewDesc("bgjob_subscriber_log_events_dropped_total",
		"Log events a subscription dropped, oldest first, because its reader fell behind.",
		subscriberLabels, nil)
	subPendingDesc = prometheus.NewDesc("bgjob_subscriber_events_pending",
		"Events waiting behind a subscription's channel.",
		subscriberLabels, nil)
	subPendingPeakDesc = prometheus.NewDesc("bgjob_subscriber_events_pending_peak",
		"The most events that ever waited behind a subscription's channel.",
		subscriberLabels, nil)
)

// allDescs lists every family, for Describe.
var allDescs = []*prometheus.Desc{
	jobsStartedDesc, jobsFinishedDesc, jobsDurationDesc, jobsQueueWaitDesc, jobsDesc, jobsStalledDesc, jobsOverLimitDesc,
	historyPendingDesc, historyFailedDesc, historyDroppedDesc,
	jobProgressDesc, jobRunDesc, jobQueueWaitDesc, jobETADesc, jobMetricDesc,
	subDeliveredDesc, subCoalescedDesc, subLostDesc, subLagsDesc, subLogDroppedDesc,
	subPendingDesc, subPendingPeakDesc,
}
