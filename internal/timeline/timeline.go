// Package timeline keeps a bounded record of a long run, one series per
// class of point (progress samples, state changes, resource samples, …),
// so that however long the run and however many points of one class
// arrive, every class still covers the whole run.
//
// Each series has its own bound. When it is full it is thinned: its first
// and last points stay, every other point between them goes, and the series
// takes new points half as often from then on. A series thus always spans
// the run from its first point to its last, at a grain that coarsens as the
// run grows, and points of one class can never crowd out another's.
//
// A class sampled in time (Every > 0) takes new points half as often by
// doubling its Every. An event class (Every == 0) keeps Every at zero and
// instead records one event in 2 of those offered to Add, then one in 4,
// and so on: were it to record them all, each thinning would halve the old
// points again while new ones came in at the full rate, and a week of
// pauses every few seconds would keep its first point and its last few
// minutes, nothing between.
package timeline

import (
	"fmt"
	"math"
	"time"
)

// Class says which series a point belongs to; each class has its own
// bound. Classes are small integers, 0 to N-1 for a Timeline made with N
// ClassConfigs, chosen by the caller.
type Class uint8

// MinCap is the smallest Cap a class can have: thinning keeps the first
// and the last point and needs room for at least two more.
const MinCap = 4

// Point is one point of a Timeline.
type Point[P any] struct {
	Time  time.Time
	Class Class
	Value P
}

// ClassConfig bounds one class of points.
type ClassConfig struct {
	// Cap is the most points the class keeps. A Cap below MinCap is raised
	// to MinCap.
	Cap int
	// Every is the least time between two points Add records for the
	// class; it doubles each time the class is thinned. Zero suits events
	// such as state changes: Add records every point until the class is
	// first thinned, then one in 2, one in 4 after the next thinning, and so
	// on. A negative Every counts as zero.
	Every time.Duration
}

// Timeline is a bounded, downsampled record of a run: one series per
// class, each holding at most its class's Cap points, in time order.
//
// Memory is fixed: a series' backing array grows with its points up to Cap
// and never past it, so a short run stays small and a week-long one costs
// no more than a minute-long one that filled its bound.
//
// Thinning and the stride of an event class pick points by position, not
// by value, so a class whose points strictly alternate (paused, resumed)
// can end up keeping only one of the two; give such points a Value that
// says the state they leave the run in, or each kind its own class.
//
// A Timeline is not safe for concurrent use: its caller holds its own lock.
// The zero value has no classes and records nothing.
type Timeline[P any] struct {
	series []series[P] // indexed by Class
}

// series is one class's points, in time order, equal times in the order
// they were recorded.
type series[P any] struct {
	points  []Point[P]
	limit   int           // the class's Cap
	every   time.Duration // the least time between two points Add records
	stride  uint64        // with every == 0, Add records one point in stride
	offered uint64        // points offered to Add since the last one recorded
	last    Point[P]      // the point recorded most recently
	has     bool          // whether last is set
	dropped uint64
}

// New returns a Timeline with one class per config: classes[0] bounds
// Class 0, and so on. It panics when given more classes than Class can
// name, a mistake in the caller's code rather than in its data.
func New[P any](classes ...ClassConfig) *Timeline[P] {
	if len(classes) > math.MaxUint8+1 {
		panic(fmt.Sprintf("timeline: %d classes, more than the %d a Class can name", len(classes), math.MaxUint8+1))
	}
	t := &Timeline[P]{series: make([]series[P], len(classes))}
	for i, c := range classes {
		t.series[i] = series[P]{limit: max(c.Cap, MinCap), every: max(c.Every, 0), stride: 1}
	}
	return t
}

// Add records v for class at time at if a point of that class is due: if
// at least the class's Every has passed since its last recorded point, or,
// for an event class thinned k times, if it is the 2^k-th offered since. It
// reports whether it recorded the point; it reports false, and records
// nothing, for a class the Timeline does not have.
//
// A point earlier than the class's last one is recorded whatever the
// spacing, in its place in time: the clock stepped back, and waiting for it
// to catch up would leave a hole in the series.
func (t *Timeline[P]) Add(class Class, at time.Time, v P) bool {
	s := t.get(class)
	if s == nil {
		return false
	}
	var due bool
	switch {
	case !s.has:
		due = true
	case s.every > 0:
		due = at.Before(s.last.Time) || at.Sub(s.last.Time) >= s.every
	default:
		s.offered++
		due = s.offered >= s.stride
	}
	if !due {
		s.dropped++
		return false
	}
	s.record(Point[P]{Time: at, Class: class, Value: v})
	return true
}

// AddForce records v for class at time at whatever the spacing, such as the
// last point of a run. The class stays bounded: a full series is thinned
// first. A class the Timeline does not have is ignored.
func (t *Timeline[P]) AddForce(class Class, at time.Time, v P) {
	if s := t.get(class); s != nil {
		s.record(Point[P]{Time: at, Class: class, Value: v})
	}
}

// Points returns a new slice holding the points of all classes merged in
// time order; points at equal times are ordered by class, then in the
// order they were recorded. It returns nil when there are none.
func (t *Timeline[P]) Points() []Point[P] {
	return t.Window(time.Time{}, time.Time{})
}

// Window returns, like Points, the points with from <= Time <= to; a zero
// to means no upper bound. It returns nil when there are none.
func (t *Timeline[P]) Window(from, to time.Time) []Point[P] {
	if !to.IsZero() && to.Before(from) {
		return nil
	}
	parts := make([][]Point[P], len(t.series))
	total := 0
	for i := range t.series {
		ps := t.series[i].points
		hi := len(ps)
		if !to.IsZero() {
			hi = after(ps, to)
		}
		lo := min(notBefore(ps, from), hi)
		parts[i] = ps[lo:hi]
		total += hi - lo
	}
	if total == 0 {
		return nil
	}
	out := make([]Point[P], 0, total)
	// A merge of a handful of sorted series costs a scan of their heads per
	// point, cheaper than sorting everything again.
	for len(out) < total {
		best := -1
		for i, p := range parts {
			// Before, not !After: on equal times the lower class wins.
			if len(p) > 0 && (best < 0 || p[0].Time.Before(parts[best][0].Time)) {
				best = i
			}
		}
		out = append(out, parts[best][0])
		parts[best] = parts[best][1:]
	}
	return out
}

// Len returns how many points the Timeline holds, all classes together.
func (t *Timeline[P]) Len() int {
	n := 0
	for i := range t.series {
		n += len(t.series[i].points)
	}
	return n
}

// Dropped returns how many points of class were lost: not recorded because
// they were not due, or thinned away since. It returns 0 for a class the
// Timeline does not have.
func (t *Timeline[P]) Dropped(class Class) uint64 {
	if s := t.get(class); s != nil {
		return s.dropped
	}
	return 0
}

// Last returns the point of class recorded most recently, by Add or
// AddForce, and whether there is one. It is the newest point of the series
// unless the clock stepped back, in which case it is kept even if thinning
// has since dropped it from the series: it is the run's current value.
func (t *Timeline[P]) Last(class Class) (Point[P], bool) {
	if s := t.get(class); s != nil && s.has {
		return s.last, true
	}
	return Point[P]{}, false
}

// get returns class's series, or nil for a class the Timeline does not have.
func (t *Timeline[P]) get(class Class) *series[P] {
	if int(class) >= len(t.series) {
		return nil
	}
	return &t.series[class]
}

// record adds p to the series in time order, thinning it first when full.
func (s *series[P]) record(p Point[P]) {
	switch n := len(s.points); {
	case n >= s.limit:
		s.thin()
	case n == cap(s.points):
		s.grow()
	}
	n := len(s.points)
	if n == 0 || !p.Time.Before(s.points[n-1].Time) {
		s.points = append(s.points, p)
	} else {
		// Shifting in place costs O(n) but only when the clock stepped back.
		i := after(s.points, p.Time)
		s.points = s.points[:n+1]
		copy(s.points[i+1:], s.points[i:n])
		s.points[i] = p
	}
	s.last, s.has = p, true
	s.offered = 0
}

// grow enlarges the backing array, doubling it up to the class's Cap and
// never past it; append alone could overshoot Cap.
func (s *series[P]) grow() {
	points := make([]Point[P], len(s.points), min(max(2*cap(s.points), 16), s.limit))
	copy(points, s.points)
	s.points = points
}

// thin keeps the first and the last point and every other point between
// them, in place, then doubles the spacing (or, for an event class, the
// stride) so new points come in at the grain of those kept.
func (s *series[P]) thin() {
	n := len(s.points)
	w := 1
	for i := 2; i < n-1; i += 2 {
		s.points[w] = s.points[i]
		w++
	}
	s.points[w] = s.points[n-1]
	w++
	clear(s.points[w:n]) // so the dropped values can be collected
	s.points = s.points[:w]
	s.dropped += uint64(n - w)
	// Saturate rather than overflow: AddForce at a high rate thins without
	// the spacing slowing it, and would otherwise wrap these to zero or
	// below.
	switch {
	case s.every > 0:
		s.every = min(s.every, math.MaxInt64/2) * 2
	case s.stride <= math.MaxUint64/2:
		s.stride *= 2
	}
}

// notBefore returns the index of the first point at or after at.
func notBefore[P any](ps []Point[P], at time.Time) int {
	lo, hi := 0, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ps[m].Time.Before(at) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// after returns the index of the first point after at.
func after[P any](ps []Point[P], at time.Time) int {
	lo, hi := 0, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ps[m].Time.After(at) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
