package bgjob

import "time"

// stallCaptureEvery is the least time between two captures of stalled
// jobs' stacks. A capture writes one goroutine profile, which stops the
// world for a moment and costs in proportion to the number of goroutines;
// however many jobs stall, the process pays for at most one a second.
const stallCaptureEvery = time.Second

// progressLoop publishes the progress of working jobs at every interval,
// detects stalls and samples the process's resources. It ends at the
// first tick that finds no working job, or when stop is closed at
// shutdown, so a Runner with nothing to run has no goroutine (its idle
// workers end as soon: see workers.go). Queued jobs
// cost it nothing: it visits only the jobs that have a worker.
func (r *Runner) progressLoop(stop <-chan struct{}) {
	defer r.loopDone.Done()
	t := time.NewTicker(r.cfg.progressInterval)
	defer t.Stop()
	var (
		batch       []*job
		stalled     []*job // waiting for their stacks
		lastSample  time.Time
		lastCapture time.Time
		captured    = make(chan struct{}, 1)
		capturing   bool
	)
	for {
		select {
		case <-stop:
			return
		case <-captured:
			capturing = false
			continue
		case <-t.C:
		}
		now := time.Now()
		r.mu.Lock()
		if len(r.active) == 0 {
			r.loopStop = nil
			r.mu.Unlock()
			return
		}
		for _, j := range r.active {
			batch = append(batch, j)
		}
		r.mu.Unlock()
		for _, j := range batch {
			if j.tick(now) {
				stalled = append(stalled, j)
			}
		}
		if now.Sub(lastSample) >= r.cfg.resourceInterval {
			lastSample = now
			r.sample(now, batch)
		}
		// The stacks are captured off this loop, so that a storm of
		// stalls never holds up the progress of healthy jobs, one
		// capture at a time, for every job stalled since the last one.
		if len(stalled) > 0 && !capturing && now.Sub(lastCapture) >= stallCaptureEvery {
			capturing, lastCapture = true, now
			jobs := stalled
			stalled = nil
			r.loopDone.Add(1)
			go func() {
				defer r.loopDone.Done()
				r.captureStalls(now, jobs)
				captured <- struct{}{}
			}()
		}
		clear(batch) // drop the references so finished jobs can be freed
		batch = batch[:0]
	}
}

// captureStalls publishes EventStalled for jobs, each with the stacks of
// its goroutines, taken from one goroutine profile.
func (r *Runner) captureStalls(now time.Time, jobs []*job) {
	want := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		want[j.idString()] = true
	}
	groups, err := r.stacksOf(LabelJobID, want)
	for _, j := range jobs {
		stack := boundStack(groups[j.idString()])
		if err != nil {
			stack = err.Error()
		}
		j.publishStalled(now, stack)
	}
}

// sample records a sample of the process's resources, once for all jobs,
// and the CPU time of the jobs that have a thread of their own.
func (r *Runner) sample(now time.Time, jobs []*job) {
	s := sampleResources()
	r.mu.Lock()
	r.resources = s
	r.samples.Add(0, now, TimelinePoint{Time: now, Kind: TimelineResources, Resources: &s})
	r.mu.Unlock()
	for _, j := range jobs {
		if j.lockThread {
			j.recordThreadCPU(now, s)
		}
	}
}
