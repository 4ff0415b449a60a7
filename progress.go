package bgjob

import (
	"math"
	"strings"
	"time"
)

// MaxMessageLen is the longest progress message a job keeps, in bytes:
// a longer one is cut between characters, with "…". The status, the
// events and the timeline hold the message, so its size is bounded like a
// log record's.
const MaxMessageLen = 1024

// Progress is how a running job reports how far it has come. The Runner
// passes one to Job.Run; its methods are safe for concurrent use by the
// job's goroutines.
//
// The numeric methods (SetStep, Add, SetTotal, SetPercent) are built for the
// inner loop of a training run: each is one atomic store or add, with no
// lock, no allocation and no clock read. The Runner reads the values at its
// progress interval and publishes an EventProgress when they changed, so
// calling them a million times a second costs the job nothing more.
// GetStatus always shows the latest values.
//
// Bad values are clamped, never rejected, so that a reporting bug cannot
// crash or stall a job: a NaN percent is ignored, a percent below 0 or above
// 100 (infinities included) reads as 0 or 100, a negative step or total
// reads as 0 (a total of 0 means unknown) and a step beyond the total reads
// as the total; a message is cut at MaxMessageLen bytes and made valid
// UTF-8. Calls made after the job has returned change nothing.
type Progress struct {
	j *job
}

// SetTotal sets the number of steps the job will take. With a total set,
// the percent is derived from the step.
func (p *Progress) SetTotal(total int64) { p.j.total.Store(total) }

// SetStep sets the number of steps done.
func (p *Progress) SetStep(step int64) { p.j.step.Store(step) }

// Add adds n to the number of steps done.
func (p *Progress) Add(n int64) { p.j.step.Add(n) }

// SetPercent sets the percent done, for jobs that do not count steps.
// It has no effect while a total is set.
func (p *Progress) SetPercent(percent float64) {
	if percent != percent { // NaN: keep the last good value
		return
	}
	p.j.percent.Store(math.Float64bits(percent))
}

// SetMessage sets the message shown with the progress, such as the current
// phase or the last loss. It takes one uncontended lock, whatever the
// message: the Runner copies the message at its next progress interval (and
// when the job ends), so that a message cut from a larger string keeps that
// string alive for one interval at most, and makes it valid UTF-8 then. A
// message longer than MaxMessageLen is cut and copied at once.
func (p *Progress) SetMessage(msg string) {
	if len(msg) > MaxMessageLen {
		msg = strings.Clone(boundText(msg, MaxMessageLen))
	}
	// After the job ended a new message changes nothing anyone reads: the
	// status and the history show the progress frozen at the end.
	j := p.j
	j.msgMu.Lock()
	j.message = msg
	j.messageSet.Add(1)
	j.msgMu.Unlock()
}

// Handle returns the handle of the job p reports for: its id, its name and
// its status, for a Middleware or a helper that is given only the
// Progress.
func (p *Progress) Handle() *Handle { return &p.j.handle }

// Report sets the percent done and the message together.
func (p *Progress) Report(percent float64, msg string) {
	p.SetPercent(percent)
	p.SetMessage(msg)
}

// Checkpoint marks a safe point in the job, such as the end of a batch or
// an epoch. If a pause was requested (Handle.Pause), it parks the calling
// goroutine until Resume or cancellation, and the job reads as paused
// meanwhile; other goroutines of the job that reach a checkpoint while it
// is paused park too. It returns the context's error once the job has been
// canceled, nil otherwise, so a loop can stop on it:
//
//	if err := p.Checkpoint(); err != nil {
//		return err
//	}
//
// When no pause is requested it costs one atomic load and a look at the
// context.
func (p *Progress) Checkpoint() error {
	j := p.j
	if j.pauseRequested.Load() {
		j.park()
	}
	select {
	case <-j.ctx.Done():
		return j.ctx.Err()
	default:
		return nil
	}
}

// progressValues is the progress of a job at one moment, with every clamp
// applied.
type progressValues struct {
	percent       float64
	step          int64
	total         int64
	message       string
	version       uint64 // of the message
	metricVersion uint64 // of the metrics
}

// readProgress reads the job's live progress values. It takes only the
// message's lock, which nothing holds for longer than a string copy.
func (j *job) readProgress() progressValues {
	var v progressValues
	j.liveProgress(&v)
	v.metricVersion = j.metricVersionNow()
	return v
}

// liveProgress fills v, a zero value, as readProgress does but for the
// metrics' version, which only the progress loop needs.
func (j *job) liveProgress(v *progressValues) {
	v.step = max(j.step.Load(), 0)
	v.total = max(j.total.Load(), 0)
	if v.total > 0 {
		v.step = min(v.step, v.total)
		v.percent = 100 * float64(v.step) / float64(v.total)
	} else {
		v.percent = math.Min(math.Max(math.Float64frombits(j.percent.Load()), 0), 100)
	}
	v.message, v.version = j.messageNow()
}

// settledMessage is a job's message as the Runner last settled it, and
// how many SetMessage calls it reflects. Once published it never changes.
type settledMessage struct {
	text    string
	set     uint64
	version uint64
}

// noMessage is every job's settled message before its first SetMessage.
var noMessage = &settledMessage{}

// messageNow returns the job's message and its version. While no
// SetMessage came since the last settling it takes no lock: the settled
// message is the message. A SetMessage running meanwhile has not yet
// counted itself, so the message read is the one before it.
func (j *job) messageNow() (string, uint64) {
	m := j.settled.Load()
	if m == nil {
		m = noMessage
	}
	if m.set == j.messageSet.Load() {
		return m.text, m.version
	}
	return j.messageUnsettled()
}

// messageUnsettled is messageNow while a SetMessage came since the last
// settling: a function of its own, so that messageNow's fast path is
// inlined into status reads.
func (j *job) messageUnsettled() (string, uint64) {
	j.msgMu.Lock()
	defer j.msgMu.Unlock()
	return j.message, j.messageVersion
}

// settleMessageLocked makes the job's message its own: a copy, valid
// UTF-8, with a new version only if its text changed since the last
// settled one. The progress loop calls it at each interval and finish at
// the end, so SetMessage's hot path need neither copy nor compare.
func (j *job) settleMessageLocked() {
	// settledSet changes only here, under mu, which the caller holds: when
	// no SetMessage came since, there is nothing to do, and this check,
	// inlined, costs its callers no frame (they run on the job's
	// goroutine, whose stack starts small).
	if j.messageSet.Load() == j.settledSet {
		return
	}
	j.settleNewMessageLocked()
}

func (j *job) settleNewMessageLocked() {
	j.msgMu.Lock()
	defer j.msgMu.Unlock()
	set := j.messageSet.Load()
	if set == j.settledSet {
		return
	}
	j.settledSet = set
	if j.message == j.settledText {
		j.message = j.settledText // let go of the caller's string
	} else {
		j.message = strings.Clone(boundText(j.message, MaxMessageLen))
		j.settledText = j.message
		j.messageVersion++
	}
	j.settled.Store(&settledMessage{text: j.message, set: set, version: j.messageVersion})
}

// changed reports whether v differs from w in anything a reader sees.
func (v *progressValues) changed(w *progressValues) bool {
	return v.step != w.step || v.total != w.total || v.percent != w.percent ||
		v.version != w.version || v.metricVersion != w.metricVersion
}

// rateSmoothing is the weight of the newest span in the smoothed rate:
// tqdm's default. A hang therefore weighs little once progress resumes,
// and the ETA recovers within a few intervals.
const rateSmoothing = 0.3

// rateEstimator smooths a job's rate, as tqdm does: at each interval in
// which the job made progress, the rate over the span since the previous
// sample enters an exponential moving average. Time paused is not run
// time, and a span that ends a stall is counted as one interval, so that
// neither a pause nor a hang drags the rate down. It is owned by the job,
// under its lock, and fed by the progress loop, never by the job's hot
// path.
type rateEstimator struct {
	units   float64       // progress at the last sample
	running time.Duration // run time at the last sample
	rate    float64       // smoothed units per second
}

// units returns the progress a rate counts: steps, or percent when the job
// reports no steps.
func (p progressValues) units() float64 {
	if p.total == 0 && p.step == 0 {
		return p.percent
	}
	return float64(p.step)
}

// observe takes the job's progress p after running for the given time;
// span, when positive, stands for the time the progress since the last
// sample took (the interval that ended a stall).
func (e *rateEstimator) observe(p progressValues, running, span time.Duration) {
	units := p.units()
	switch {
	case units < e.units: // progress went back: start again from here
		e.units, e.running = units, running
		return
	case units == e.units:
		return // no progress: the rate holds; a stall is reported as such
	}
	dt := running - e.running
	if span > 0 && span < dt {
		dt = span
	}
	if dt <= 0 {
		return
	}
	inst := (units - e.units) / dt.Seconds()
	if e.rate == 0 {
		e.rate = inst
	} else {
		e.rate = rateSmoothing*inst + (1-rateSmoothing)*e.rate
	}
	e.units, e.running = units, running
}

// eta returns the time left at the smoothed rate, zero when unknown.
func (e *rateEstimator) eta(p progressValues) time.Duration {
	var left float64
	switch {
	case p.total > 0:
		left = float64(p.total - p.step)
	case p.step == 0:
		left = 100 - p.percent
	default:
		return 0 // steps without a total: no end to estimate
	}
	if e.rate <= 0 || left <= 0 {
		return 0
	}
	// Far from the end of a long run the estimate can pass what a
	// Duration holds (292 years): that is unknown, not negative.
	if d := left / e.rate * float64(time.Second); d < math.MaxInt64 {
		return time.Duration(d)
	}
	return 0
}

// averageRate returns the rate over the whole run, for a job that ended.
func averageRate(p progressValues, running time.Duration) float64 {
	if secs := running.Seconds(); secs > 0 && p.units() > 0 {
		return p.units() / secs
	}
	return 0
}
