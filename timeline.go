package bgjob

import (
	"time"
)

// MaxTimeline is the most points a job's timeline holds. A run that goes
// on longer is downsampled: every other sample is dropped and samples are
// taken half as often, so a week-long run fits in the same memory as a
// minute-long one, at a coarser grain.
const MaxTimeline = 512

// TimelineKind says what a TimelinePoint records.
type TimelineKind string

// The kinds of timeline points.
const (
	TimelineProgress  TimelineKind = "progress"
	TimelinePaused    TimelineKind = "paused"
	TimelineResumed   TimelineKind = "resumed"
	TimelineStalled   TimelineKind = "stalled"
	TimelineUnstalled TimelineKind = "unstalled"
	TimelineResources TimelineKind = "resources"
)

// TimelinePoint is one point of a job's timeline: its progress at a moment,
// a change of its state, or a sample of the resources in use.
type TimelinePoint struct {
	Time time.Time    `json:"time"`
	Kind TimelineKind `json:"kind"`

	Percent float64 `json:"percent"`
	Step    int64   `json:"step,omitempty"`
	// Message is set when it changed since the previous progress point.
	Message string `json:"message,omitempty"`

	// Resources is set for TimelineResources points.
	Resources *Resources `json:"resources,omitempty"`
}

// Resources is a sample of what the process uses. Go does not account CPU
// or memory per goroutine, so these are the whole process's figures, taken
// while the job ran; only ThreadCPU, for a job started with LockOSThread,
// belongs to the job alone. To attribute CPU to jobs, profile: every job's
// goroutine carries pprof labels.
type Resources struct {
	// CPU is the process's CPU time (user and system) so far.
	CPU time.Duration `json:"cpu_seconds"`
	// RSS is the process's resident memory, in bytes (Linux).
	RSS uint64 `json:"rss_bytes"`
	// Heap is the Go heap in use by live and not yet swept objects.
	Heap uint64 `json:"heap_bytes"`
	// Goroutines is the number of goroutines.
	Goroutines int `json:"goroutines"`
	// ThreadCPU is the CPU time of the job's own OS thread (LockOSThread
	// on Linux only).
	ThreadCPU time.Duration `json:"thread_cpu_seconds,omitempty"`
}

// timeline is a job's bounded timeline. Guarded by the job's mutex.
type timeline struct {
	points      []TimelinePoint
	every       time.Duration // the least time between two progress samples
	lastSample  time.Time
	lastMessage string
	resEvery    time.Duration // the same for resource samples
	lastRes     time.Time
}

// addResources records a resource sample pt, if one is due.
func (t *timeline) addResources(pt TimelinePoint, interval time.Duration) {
	if t.resEvery < interval {
		t.resEvery = interval
	}
	if !t.lastRes.IsZero() && pt.Time.Sub(t.lastRes) < t.resEvery {
		return
	}
	t.lastRes = pt.Time
	t.add(pt)
}

// addProgress records p at now, if a sample is due.
func (t *timeline) addProgress(now time.Time, p progressValues, interval time.Duration) {
	if t.every < interval {
		t.every = interval
	}
	if !t.lastSample.IsZero() && now.Sub(t.lastSample) < t.every {
		return
	}
	t.lastSample = now
	pt := TimelinePoint{Time: now, Kind: TimelineProgress, Percent: p.percent, Step: p.step}
	if p.message != t.lastMessage {
		pt.Message = p.message
		t.lastMessage = p.message
	}
	t.add(pt)
}

// add appends pt, downsampling first if the timeline is full.
func (t *timeline) add(pt TimelinePoint) {
	if len(t.points) >= MaxTimeline {
		t.downsample()
	}
	t.points = append(t.points, pt)
}

// downsample keeps every other sample (progress and resources), all the
// state changes while they fit, and the first and last points; then halves
// the sampling rate.
func (t *timeline) downsample() {
	kept := t.points[:0]
	odd := false
	for i, pt := range t.points {
		sample := pt.Kind == TimelineProgress || pt.Kind == TimelineResources
		if sample && i != 0 && i != len(t.points)-1 {
			odd = !odd
			if odd {
				continue
			}
		}
		kept = append(kept, pt)
	}
	clear(t.points[len(kept):])
	t.points = kept
	if len(t.points) >= MaxTimeline*3/4 {
		// Mostly state changes: thin those too, oldest half first.
		half := len(t.points) / 2
		t.points = append(t.points[:0], t.points[half:]...)
	}
	t.every *= 2
	t.resEvery *= 2
}

func (t *timeline) copy() []TimelinePoint { return copyPoints(t.points) }

// copyPoints copies points deeply, so that no caller shares a sample with
// another.
func copyPoints(points []TimelinePoint) []TimelinePoint {
	if len(points) == 0 {
		return nil
	}
	out := append([]TimelinePoint(nil), points...)
	for i := range out {
		if r := out[i].Resources; r != nil {
			c := *r
			out[i].Resources = &c
		}
	}
	return out
}

// Timeline returns a copy of the job's timeline, oldest first: its
// progress samples, pauses and stalls (at most MaxTimeline points), merged
// with the Runner's resource samples taken while it ran (at most
// MaxTimeline more).
func (h *Handle) Timeline() []TimelinePoint {
	j := h.j
	j.mu.Lock()
	own, from, to := j.timeline.copy(), j.startTime, j.endTime
	j.mu.Unlock()
	return j.r.withSamples(own, from, to)
}

// Logs returns a copy of the tail of the job's log, oldest first, at most
// WithLogLimit lines.
func (h *Handle) Logs() []LogRecord {
	j := h.j
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.logsLocked()
}
