package bgjob

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/bgjob/bgjob/internal/timeline"
)

// MaxTimeline is the most points a job's own timeline holds: at most 256
// progress samples, 32 each of pauses, resumes, stalls and ends of stalls,
// and 128 resource samples of its own thread, each kind bounded apart so
// that none crowds out another. A run that goes on longer is thinned, each
// kind on its own: every other point is dropped and progress and resource
// samples are taken half as often, so a week-long run fits in the same
// memory as a minute-long one, at a coarser grain, with every kind still
// covering the whole run. The Runner's resource samples, merged in when a
// timeline is read, are bounded the same way (MaxTimeline more).
const MaxTimeline = 512

var _ = [1]struct{}{}[MaxTimeline-(timelineProgressCap+4*timelineStateCap+timelineResourceCap)]

const (
	timelineProgressCap = 256
	timelineStateCap    = 32 // for each kind of state change
	timelineResourceCap = 128
	// maxTimelineMessage bounds the message a progress point keeps: a
	// timeline is for the shape of a run, the full message is in the
	// status and the events.
	maxTimelineMessage = 128
)

// The timeline's classes of points, each bounded on its own. Each kind of
// state change has its own class: thinning a class that alternates
// (paused, resumed, paused, …) could keep one kind only.
const (
	classProgress timeline.Class = iota
	classPaused
	classResumed
	classStalled
	classUnstalled
	classResources
)

// timelineClasses configures a job's timeline.
func timelineClasses(cfg *runnerConfig) []timeline.ClassConfig {
	state := timeline.ClassConfig{Cap: timelineStateCap}
	return []timeline.ClassConfig{
		classProgress:  {Cap: timelineProgressCap, Every: cfg.progressInterval},
		classPaused:    state,
		classResumed:   state,
		classStalled:   state,
		classUnstalled: state,
		classResources: {Cap: timelineResourceCap, Every: cfg.resourceInterval},
	}
}

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
	// Message is set when it changed since the previous progress point,
	// cut at 128 bytes.
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
	CPU time.Duration
	// RSS is the process's resident memory, in bytes (Linux).
	RSS uint64
	// Heap is the Go heap in use by live and not yet swept objects.
	Heap uint64
	// Goroutines is the number of goroutines.
	Goroutines int
	// ThreadCPU is the CPU time of the job's own OS thread (LockOSThread
	// on Linux only).
	ThreadCPU time.Duration
}

type resourcesJSON struct {
	CPUSeconds       jsonSeconds `json:"cpu_seconds"`
	RSS              uint64      `json:"rss_bytes"`
	Heap             uint64      `json:"heap_bytes"`
	Goroutines       int         `json:"goroutines"`
	ThreadCPUSeconds jsonSeconds `json:"thread_cpu_seconds,omitempty"`
}

// MarshalJSON encodes the sample with CPU times in seconds.
func (r Resources) MarshalJSON() ([]byte, error) {
	return json.Marshal(resourcesJSON{jsonSeconds(r.CPU), r.RSS, r.Heap, r.Goroutines, jsonSeconds(r.ThreadCPU)})
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (r *Resources) UnmarshalJSON(b []byte) error {
	var w resourcesJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Resources{time.Duration(w.CPUSeconds), w.RSS, w.Heap, w.Goroutines, time.Duration(w.ThreadCPUSeconds)}
	return nil
}

// addStateLocked adds a state change of the given kind to the timeline.
func (j *job) addStateLocked(now time.Time, kind TimelineKind, p progressValues) {
	var class timeline.Class
	switch kind {
	case TimelinePaused:
		class = classPaused
	case TimelineResumed:
		class = classResumed
	case TimelineStalled:
		class = classStalled
	default:
		class = classUnstalled
	}
	j.timelineOf().Add(class, now, TimelinePoint{Time: now, Kind: kind, Percent: p.percent, Step: p.step})
}

// timelineOf returns the job's timeline, made on first use: a job shorter
// than one progress interval never needs one.
func (j *job) timelineOf() *timeline.Timeline[TimelinePoint] {
	if j.timeline == nil {
		j.timeline = timeline.New[TimelinePoint](timelineClasses(&j.r.cfg)...)
	}
	return j.timeline
}

// timelineLocked returns a deep copy of the job's own timeline.
func (j *job) timelineLocked() []TimelinePoint {
	if j.timeline == nil {
		return nil
	}
	return pointValues(j.timeline.Points())
}

// pointValues returns the values of pts, deep copied, so that no caller
// shares a sample with another.
func pointValues(pts []timeline.Point[TimelinePoint]) []TimelinePoint {
	if len(pts) == 0 {
		return nil
	}
	out := make([]TimelinePoint, len(pts))
	for i, pt := range pts {
		out[i] = pt.Value
		if r := pt.Value.Resources; r != nil {
			c := *r
			out[i].Resources = &c
		}
	}
	return out
}

// withSamples merges into a job's own timeline points the Runner's resource
// samples taken while it ran, from to to (zero: still running). The
// samples are kept once for all jobs, so that a hundred thousand parked
// jobs do not each keep a copy.
func (r *Runner) withSamples(own []TimelinePoint, from, to time.Time) []TimelinePoint {
	if from.IsZero() {
		return own
	}
	r.mu.Lock()
	shared := pointValues(r.samples.Window(from, to))
	r.mu.Unlock()
	if len(shared) == 0 {
		return own
	}
	// A job on its own thread has its own samples, with its thread's CPU
	// time, at the same instants: keep those.
	taken := make(map[time.Time]bool)
	for _, pt := range own {
		if pt.Kind == TimelineResources {
			taken[pt.Time] = true
		}
	}
	if len(taken) > 0 {
		shared = slices.DeleteFunc(shared, func(pt TimelinePoint) bool { return taken[pt.Time] })
	}
	merged := make([]TimelinePoint, 0, len(own)+len(shared))
	for len(own) > 0 || len(shared) > 0 {
		if len(shared) == 0 || (len(own) > 0 && !own[0].Time.After(shared[0].Time)) {
			merged, own = append(merged, own[0]), own[1:]
		} else {
			merged, shared = append(merged, shared[0]), shared[1:]
		}
	}
	return merged
}
