package bgjob

import (
	"math"
	"time"
)

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
// as the total. Calls made after the job has returned change nothing.
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
// phase or the last loss.
func (p *Progress) SetMessage(msg string) {
	j := p.j
	j.mu.Lock()
	if !j.state.Terminal() {
		j.message = msg
		j.messageVersion++
	}
	j.mu.Unlock()
}

// Report sets the percent done and the message together.
func (p *Progress) Report(percent float64, msg string) {
	p.SetPercent(percent)
	p.SetMessage(msg)
}

// progressValues is the progress of a job at one moment, with every clamp
// applied.
type progressValues struct {
	percent float64
	step    int64
	total   int64
	message string
}

// readProgressLocked reads the job's progress: for a running job the live
// values, once the job has ended the values frozen at its end.
func (j *job) readProgressLocked() progressValues {
	if j.state.Terminal() {
		return j.final
	}
	v := progressValues{
		step:    max(j.step.Load(), 0),
		total:   max(j.total.Load(), 0),
		message: j.message,
	}
	if v.total > 0 {
		v.step = min(v.step, v.total)
		v.percent = 100 * float64(v.step) / float64(v.total)
	} else {
		v.percent = math.Min(math.Max(math.Float64frombits(j.percent.Load()), 0), 100)
	}
	return v
}

// estimateLocked sets the job's rate and ETA from its progress p after
// running for the given time. The Runner calls it at every progress
// interval and when the job ends, never on the job's hot path.
//
// Both are averages over the run so far: honest for the steady loops of
// training, and free of any state the job would have to update. The rate
// counts steps, or percent when the job reports no steps.
func (j *job) estimateLocked(p progressValues, running time.Duration) {
	j.rate, j.eta = 0, 0
	secs := running.Seconds()
	if secs <= 0 {
		return
	}
	units := float64(p.step)
	if p.total == 0 && p.step == 0 {
		units = p.percent
	}
	if units > 0 {
		j.rate = units / secs
	}
	if done := p.percent / 100; done > 0 && done < 1 {
		// Far from the end of a long run the estimate can pass what a
		// Duration holds (292 years): that is unknown, not negative.
		if eta := float64(running) * (1 - done) / done; eta < math.MaxInt64 {
			j.eta = time.Duration(eta)
		}
	}
}
