package metrics

import "math"

// Point is one bucket of a series: the values recorded at steps from Step
// up to the next point's Step. It keeps their extremes and the last of
// them rather than a mean, so that merging points never hides a spike.
type Point struct {
	// Step is the first step of the bucket.
	Step int64
	// Min is the smallest value, NaN ignored. It is NaN only when every
	// value was NaN, and may be -Inf.
	Min float64
	// Max is the largest value, NaN ignored. It is NaN only when every
	// value was NaN, and may be +Inf.
	Max float64
	// Last is the last value recorded, whatever it is: NaN and the
	// infinities are kept as they are.
	Last float64
	// Count is the number of values merged into the bucket.
	Count int64
}

// add merges one value into p. It is merge for a point of one value,
// written out because it runs at every Record: a comparison with NaN is
// false, so !(v >= p.Min) holds when v is smaller or p.Min is NaN, and
// the outer test keeps a NaN v out of both.
func (p *Point) add(v float64) {
	if v == v {
		if !(v >= p.Min) {
			p.Min = v
		}
		if !(v <= p.Max) {
			p.Max = v
		}
	}
	p.Last = v
	p.Count++
}

// merge folds the later point q into p.
func (p *Point) merge(q *Point) {
	p.Min = minNum(p.Min, q.Min)
	p.Max = maxNum(p.Max, q.Max)
	p.Last = q.Last
	p.Count += q.Count
}

// minNum is min ignoring NaN: the built-in min returns NaN when either
// operand is, which would let one NaN erase a bucket's minimum.
func minNum(a, b float64) float64 {
	if math.IsNaN(a) {
		return b
	}
	if math.IsNaN(b) {
		return a
	}
	return min(a, b)
}

// maxNum is max ignoring NaN; see minNum.
func maxNum(a, b float64) float64 {
	if math.IsNaN(a) {
		return b
	}
	if math.IsNaN(b) {
		return a
	}
	return max(a, b)
}

// maxWidth caps the bucket width, so that doubling it can never overflow.
// No series of int64 steps can need a wider bucket.
const maxWidth = 1 << 63

// series is the bounded history of one name.
type series struct {
	// points has its full capacity from the start, so appending and
	// halving never allocate.
	points []Point
	// width is the number of steps a bucket spans before a new one
	// starts. It is unsigned so that the distance between two int64
	// steps, up to 2^64-1, compares against it without overflow.
	width uint64
	// lastStep is the step of the last value recorded, which Latest
	// reports; it may be below the last point's Step when steps went back.
	lastStep int64
}

func newSeries(maxPoints int) series {
	return series{points: make([]Point, 0, maxPoints), width: 1}
}

// record merges v at step into the last bucket when step falls within it,
// or when it repeats or goes back; otherwise it starts a new bucket at
// step, halving the series first when it is full.
func (sr *series) record(step int64, v float64) {
	sr.lastStep = step
	if n := len(sr.points); n > 0 {
		if sr.fits(step) {
			sr.points[n-1].add(v)
			return
		}
		if n == cap(sr.points) {
			sr.halve()
			// The new last bucket is twice as wide and may now hold step.
			if sr.fits(step) {
				sr.points[len(sr.points)-1].add(v)
				return
			}
		}
	}
	sr.points = append(sr.points, Point{Step: step, Min: v, Max: v, Last: v, Count: 1})
}

// fits reports whether step belongs to the last bucket. step-last is
// computed modulo 2^64, which is the exact distance when step > last.
func (sr *series) fits(step int64) bool {
	last := sr.points[len(sr.points)-1].Step
	return step <= last || uint64(step)-uint64(last) < sr.width
}

// halve merges adjacent pairs of points in place, halving the series, and
// doubles the bucket width. The capacity is even, so every point has a
// partner.
func (sr *series) halve() {
	pts := sr.points
	half := len(pts) / 2
	for i := range half {
		p := pts[2*i]
		p.merge(&pts[2*i+1])
		pts[i] = p
	}
	sr.points = pts[:half]
	if sr.width < maxWidth {
		sr.width *= 2
	}
}
