package bgjobprom

import (
	"github.com/bgjob/bgjob"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Collector is a prometheus.Collector that exports a bgjob.Runner's
// status. It reads the status when it is collected — at each scrape — and
// at no other time: it subscribes to nothing, starts no goroutine and
// keeps nothing from one scrape to the next, so a Runner nobody scrapes
// pays nothing for it.
//
// Make one with NewCollector; the zero value is not usable. Collect may be
// called by concurrent scrapes.
type Collector struct {
	runner *bgjob.Runner
	cfg    config
	// subscriberPairs holds the label pairs of each subscription in
	// cfg.subscriptions, made once; like cfg, never changed after
	// NewCollector.
	subscriberPairs [][]*dto.LabelPair
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of r's status, configured by opts.
// Register it on a prometheus.Registerer; to export several Runners from
// one registry, register each through prometheus.WrapRegistererWith with
// a label that tells them apart. It returns ErrNilRunner for a nil r and
// an error wrapping ErrInvalidOption for an option out of range.
func NewCollector(r *bgjob.Runner, opts ...Option) (*Collector, error) {
	if r == nil {
		return nil, ErrNilRunner
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c := &Collector{runner: r, cfg: cfg}
	for _, ns := range cfg.subscriptions {
		c.subscriberPairs = append(c.subscriberPairs, labelPairs(subscriberLabels, ns.name))
	}
	return c, nil
}

// Describe sends the descriptors of every family the Collector may
// export, so that a registry checks them at registration.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect reads the Runner's status once and sends its figures: the
// counters and gauges across jobs, the series of at most WithMaxJobSeries
// running jobs, the history store's counters and the counters of each
// subscription given to WithSubscription.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.runner.GetStatus()
	collectCounts(ch, st)
	c.collectJobs(ch, st.Jobs)
	collectHistory(ch, st.History)
	c.collectSubscriptions(ch)
}

// liveStates are the states of a job that has not ended, in the order of
// its life; outcomes the states it ends in. Their label pairs are made
// once, for every scrape.
var (
	liveStates = [...]bgjob.State{
		bgjob.StateQueued, bgjob.StateRunning, bgjob.StatePausing,
		bgjob.StatePaused, bgjob.StateCanceling, bgjob.StateAbandoned,
	}
	outcomes = [...]bgjob.State{bgjob.StateSucceeded, bgjob.StateFailed, bgjob.StateCanceled}

	statePairs   = stateLabelPairs(stateLabels, liveStates[:])
	outcomePairs = stateLabelPairs(outcomeLabels, outcomes[:])
)

func stateLabelPairs(names []string, states []bgjob.State) [][]*dto.LabelPair {
	pairs := make([][]*dto.LabelPair, len(states))
	for i, s := range states {
		pairs[i] = labelPairs(names, s.String())
	}
	return pairs
}

// collectCounts sends the counts of jobs by state. Every state has its
// series, zero or not, so that a series does not vanish between scrapes.
// RunnerStatus.Counts counts each job once, listed or retired, so the
// counters drawn from it never go back.
func collectCounts(ch chan<- prometheus.Metric, st bgjob.RunnerStatus) {
	var started, stalled int
	for _, n := range st.Counts {
		started += n
	}
	for _, j := range st.Jobs {
		if j.Stalled && !j.State.Terminal() {
			stalled++
		}
	}
	ch <- newSample(jobsStartedDesc, prometheus.CounterValue, float64(started), nil)
	for i, o := range outcomes {
		ch <- newSample(jobsFinishedDesc, prometheus.CounterValue, float64(st.Counts[o]), outcomePairs[i])
	}
	// The run times and queue waits of finished jobs, as summaries without
	// quantiles: a count and a sum the Runner keeps for its whole life,
	// from which a rate or a mean over any window follows.
	for _, o := range outcomes {
		t := st.Totals[o]
		ch <- prometheus.MustNewConstSummary(jobsDurationDesc, uint64(t.Jobs), t.Duration.Seconds(), nil, o.String())
		ch <- prometheus.MustNewConstSummary(jobsQueueWaitDesc, uint64(t.Jobs), t.QueueWait.Seconds(), nil, o.String())
	}
	for i, s := range liveStates {
		ch <- newSample(jobsDesc, prometheus.GaugeValue, float64(st.Counts[s]), statePairs[i])
	}
	ch <- newSample(jobsStalledDesc, prometheus.GaugeValue, float64(stalled), nil)
}

// collectJobs sends the series of the running jobs, the oldest first, up
// to the limit, and how many it left out. Queued jobs have none: a queue
// may hold many thousands.
func (c *Collector) collectJobs(ch chan<- prometheus.Metric, jobs []bgjob.JobStatus) {
	exported, over := 0, 0
	for _, j := range jobs {
		if !j.Running() {
			continue
		}
		if exported == c.cfg.maxJobSeries {
			over++
			continue
		}
		exported++
		job := labelPairs(jobLabels, j.ID.String(), j.Name)
		ch <- newSample(jobProgressDesc, prometheus.GaugeValue, j.Percent/100, job)
		ch <- newSample(jobRunDesc, prometheus.GaugeValue, j.Duration.Seconds(), job)
		ch <- newSample(jobQueueWaitDesc, prometheus.GaugeValue, j.QueueWait.Seconds(), job)
		if j.ETA > 0 {
			ch <- newSample(jobETADesc, prometheus.GaugeValue, j.ETA.Seconds(), job)
		}
		for _, m := range j.Metrics {
			metric := &dto.LabelPair{Name: &jobMetricLabels[2], Value: &m.Name}
			ch <- newSample(jobMetricDesc, prometheus.GaugeValue, m.Value, []*dto.LabelPair{job[0], job[1], metric})
		}
	}
	ch <- newSample(jobsOverLimitDesc, prometheus.GaugeValue, float64(over), nil)
}

// collectHistory sends how the history store keeps up; all zero for a
// Runner without one.
func collectHistory(ch chan<- prometheus.Metric, h bgjob.HistoryStatus) {
	ch <- newSample(historyPendingDesc, prometheus.GaugeValue, float64(h.Pending), nil)
	ch <- newSample(historyFailedDesc, prometheus.CounterValue, float64(h.Failed), nil)
	ch <- newSample(historyDroppedDesc, prometheus.CounterValue, float64(h.Dropped), nil)
}

// collectSubscriptions sends the counters of the subscriptions named in
// the options.
func (c *Collector) collectSubscriptions(ch chan<- prometheus.Metric) {
	for i, ns := range c.cfg.subscriptions {
		s, sub := ns.sub.Stats(), c.subscriberPairs[i]
		ch <- newSample(subDeliveredDesc, prometheus.CounterValue, float64(s.Delivered), sub)
		ch <- newSample(subCoalescedDesc, prometheus.CounterValue, float64(s.Coalesced), sub)
		ch <- newSample(subLostDesc, prometheus.CounterValue, float64(s.Lost), sub)
		ch <- newSample(subLagsDesc, prometheus.CounterValue, float64(s.Lags), sub)
		ch <- newSample(subLogDroppedDesc, prometheus.CounterValue, float64(s.LogDropped), sub)
		ch <- newSample(subPendingDesc, prometheus.GaugeValue, float64(s.Pending), sub)
		ch <- newSample(subPendingPeakDesc, prometheus.GaugeValue, float64(s.MaxPending), sub)
	}
}
