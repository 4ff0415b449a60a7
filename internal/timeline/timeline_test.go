package timeline

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The classes of a job's timeline, as bgjob uses them.
const (
	progress Class = iota
	state
	resources
)

// sample is a payload the size of a progress or resource sample, so that
// the allocation and benchmark figures are those of real use.
type sample struct {
	percent float64
	step    int64
	paused  bool
}

// t0 is the start of every simulated run: fixed, so results never depend
// on the clock.
var t0 = time.Date(2025, time.March, 3, 0, 0, 0, 0, time.UTC)

// jobConfig bounds a job's timeline the way bgjob does.
var jobConfig = []ClassConfig{
	progress:  {Cap: 512, Every: 100 * time.Millisecond},
	state:     {Cap: 256},
	resources: {Cap: 512, Every: time.Second},
}

func TestWeekLongRunCoversEveryDayInEveryClass(t *testing.T) {
	const (
		tick = 100 * time.Millisecond
		run  = 7 * 24 * time.Hour
	)
	tl := New[sample](jobConfig...)
	end := t0.Add(run)
	// Progress every tick (6M adds), a resource sample every second, and a
	// pause then a resume every 3 s: the load that starved progress when all
	// classes shared one bound.
	for i := range int64(run/tick) + 1 {
		at := t0.Add(time.Duration(i) * tick)
		tl.Add(progress, at, sample{percent: float64(i), step: i})
		if i%10 == 0 {
			tl.Add(resources, at, sample{step: i})
		}
		switch i % 30 {
		case 0:
			tl.Add(state, at, sample{paused: true})
		case 15:
			tl.Add(state, at, sample{})
		}
	}

	byClass := splitByClass(tl.Points())
	for c, cfg := range jobConfig {
		t.Run(fmt.Sprint("class ", c), func(t *testing.T) {
			s := tl.series[c]
			points := byClass[Class(c)]
			require.Len(t, points, len(s.points), "Points holds every point")
			require.LessOrEqual(t, len(points), cfg.Cap)
			require.LessOrEqual(t, cap(s.points), cfg.Cap, "backing array past Cap")

			assert.Equal(t, t0, points[0].Time, "first point at the start")
			every := s.every
			if every == 0 {
				// An event class's grain is its stride, in events that come
				// 1.5 s apart on average.
				every = time.Duration(s.stride) * 1500 * time.Millisecond
			}
			last := points[len(points)-1].Time
			assert.LessOrEqual(t, end.Sub(last), every, "last point within one Every of the end")

			maxGap := run / time.Duration(cfg.Cap) * 4
			gap := largestGap(points)
			assert.LessOrEqual(t, gap, maxGap)

			for day := range 7 {
				from := t0.Add(time.Duration(day) * 24 * time.Hour)
				to := from.Add(24*time.Hour - time.Nanosecond)
				assert.NotEmpty(t, splitByClass(tl.Window(from, to))[Class(c)], "day %d", day+1)
			}
			t.Logf("%d points, every %v (stride %d), largest gap %v (bound %v, run/Cap %v), dropped %d",
				len(points), s.every, s.stride, gap, maxGap, run/time.Duration(cfg.Cap), tl.Dropped(Class(c)))
		})
	}

	// The job ends: its final points are kept whatever the spacing.
	for c := range jobConfig {
		tl.AddForce(Class(c), end, sample{percent: 100})
		last, ok := tl.Last(Class(c))
		require.True(t, ok)
		assert.Equal(t, end, last.Time)
		assert.LessOrEqual(t, len(tl.series[c].points), jobConfig[c].Cap)
	}
	points := tl.Points()
	assert.Equal(t, end, points[len(points)-1].Time)
}

func TestPauseStormKeepsProgressCoverage(t *testing.T) {
	config := []ClassConfig{
		progress: {Cap: 128, Every: time.Second},
		state:    {Cap: 64},
	}
	calm := New[sample](config...)
	stormy := New[sample](config...)
	const seconds = 20_000
	for i := range seconds {
		at := t0.Add(time.Duration(i) * time.Second)
		v := sample{percent: float64(i) / seconds, step: int64(i)}
		calm.Add(progress, at, v)
		stormy.Add(progress, at, v)
		if i < 10_000 {
			// A state change between every two progress samples.
			stormy.Add(state, at.Add(500*time.Millisecond), sample{paused: i%2 == 0})
		}
	}

	want := splitByClass(calm.Points())[progress]
	got := splitByClass(stormy.Points())[progress]
	require.NotEmpty(t, want)
	assert.Equal(t, want, got, "state changes took progress points away")
	assert.Equal(t, calm.Dropped(progress), stormy.Dropped(progress))
	states := splitByClass(stormy.Points())[state]
	assert.LessOrEqual(t, len(states), 64)
	assert.Equal(t, t0.Add(500*time.Millisecond), states[0].Time)
	t.Logf("progress keeps %d points with or without 10,000 state changes", len(got))
}

func TestThinKeepsFirstAndLastAndEveryOtherBetween(t *testing.T) {
	tests := []struct {
		give int   // Cap
		adds int   // one point a second from t0
		want []int // seconds kept
	}{
		{give: 4, adds: 4, want: []int{0, 1, 2, 3}},
		{give: 4, adds: 5, want: []int{0, 2, 3, 4}},
		{give: 5, adds: 6, want: []int{0, 2, 4, 5}},
		{give: 8, adds: 9, want: []int{0, 2, 4, 6, 7, 8}},
		{give: 9, adds: 10, want: []int{0, 2, 4, 6, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("cap %d, %d adds", tt.give, tt.adds), func(t *testing.T) {
			tl := New[int](ClassConfig{Cap: tt.give})
			for i := range tt.adds {
				require.True(t, tl.Add(0, t0.Add(time.Duration(i)*time.Second), i))
			}
			assert.Equal(t, tt.want, values(tl.Points()))
			assert.Equal(t, uint64(tt.adds-len(tt.want)), tl.Dropped(0))
		})
	}
}

func TestThinDoublesEveryButNotZero(t *testing.T) {
	tl := New[int](ClassConfig{Cap: 4, Every: time.Second}, ClassConfig{Cap: 4})
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		tl.Add(0, at, i)
		tl.Add(1, at, i)
	}
	assert.Equal(t, 2*time.Second, tl.series[0].every)
	assert.Zero(t, tl.series[1].every)

	assert.False(t, tl.Add(0, t0.Add(5*time.Second), 5), "one second is no longer due")
	assert.True(t, tl.Add(0, t0.Add(6*time.Second), 6))
	assert.Equal(t, uint64(2), tl.series[1].stride)
	assert.False(t, tl.Add(1, t0.Add(5*time.Second), 5), "one event in two is no longer due")
	assert.True(t, tl.Add(1, t0.Add(6*time.Second), 6))
}

func TestConfigBelowTheMinimumIsRaised(t *testing.T) {
	tl := New[int](ClassConfig{Cap: 1, Every: -time.Second})
	assert.Zero(t, tl.series[0].every)
	for i := range 10 {
		tl.Add(0, t0, i)
		require.LessOrEqual(t, tl.Len(), MinCap)
	}
	// 4 recorded, the 5th thins (1 dropped), the 7th too (1 more) and of
	// the others, 1 in 2 then 1 in 4 is due.
	assert.Equal(t, MinCap, tl.Len())
	assert.Equal(t, uint64(6), tl.Dropped(0))
}

func TestAddSpacing(t *testing.T) {
	tests := []struct {
		name string
		give []time.Duration // offsets from t0 of the points added
		want []time.Duration // offsets of those recorded
	}{
		{
			name: "first point is always due",
			give: []time.Duration{time.Hour},
			want: []time.Duration{time.Hour},
		},
		{
			name: "due after Every",
			give: []time.Duration{0, 400 * time.Millisecond, 999 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2100 * time.Millisecond},
			want: []time.Duration{0, time.Second, 2100 * time.Millisecond},
		},
		{
			name: "clock stepped back",
			give: []time.Duration{10 * time.Second, 5 * time.Second, 5500 * time.Millisecond, 6 * time.Second},
			want: []time.Duration{5 * time.Second, 6 * time.Second, 10 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := New[int](ClassConfig{Cap: 16, Every: time.Second})
			recorded := 0
			for i, d := range tt.give {
				if tl.Add(0, t0.Add(d), i) {
					recorded++
				}
			}
			assert.Equal(t, len(tt.want), recorded)
			assert.Equal(t, tt.want, offsets(tl.Points()))
			assert.Equal(t, uint64(len(tt.give)-len(tt.want)), tl.Dropped(0))
		})
	}
}

func TestDroppedCountsNotDueAndThinned(t *testing.T) {
	tl := New[int](ClassConfig{Cap: 4, Every: time.Second}, ClassConfig{Cap: 4})
	// Every 500 ms for 6 s: 13 offers to the spaced class, 6 of them due
	// (0, 1, 2, 3, 4 and 6 s, Every doubling at 4 and 6 s), of which two are
	// thinned away.
	for i := range 13 {
		at := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		tl.Add(0, at, i)
		tl.Add(1, at, i)
	}
	assert.Equal(t, []time.Duration{0, 3 * time.Second, 4 * time.Second, 6 * time.Second},
		offsets(splitByClass(tl.Points())[0]))
	assert.Equal(t, uint64(13-4), tl.Dropped(0), "7 not due, 2 thinned")
	assert.Equal(t, uint64(13-4), tl.Dropped(1), "all thinned")
	assert.Zero(t, tl.Dropped(2), "unknown class")
}

func TestWindow(t *testing.T) {
	tl := New[string](ClassConfig{Cap: 16}, ClassConfig{Cap: 16})
	for _, p := range []struct {
		class Class
		sec   int
	}{{0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 1}, {1, 3}, {1, 5}} {
		tl.Add(p.class, t0.Add(time.Duration(p.sec)*time.Second), fmt.Sprintf("%d@%d", p.class, p.sec))
	}
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{name: "everything", want: []string{"0@0", "0@1", "1@1", "0@2", "0@3", "1@3", "1@5"}},
		{name: "both bounds included", from: sec(1), to: sec(3), want: []string{"0@1", "1@1", "0@2", "0@3", "1@3"}},
		{name: "between points", from: sec(1.5), to: sec(2.5), want: []string{"0@2"}},
		{name: "one instant", from: sec(3), to: sec(3), want: []string{"0@3", "1@3"}},
		{name: "no upper bound", from: sec(3), want: []string{"0@3", "1@3", "1@5"}},
		{name: "no lower bound", to: sec(1), want: []string{"0@0", "0@1", "1@1"}},
		{name: "after the last point", from: sec(5.5)},
		{name: "before the first point", from: sec(-2), to: sec(-1)},
		{name: "to before from", from: sec(3), to: sec(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tl.Window(tt.from, tt.to)
			assert.Equal(t, tt.want, values(got))
			if tt.want == nil {
				assert.Nil(t, got)
			}
		})
	}
}

func TestPointsMergedInTimeOrder(t *testing.T) {
	tl := New[string](ClassConfig{Cap: 8}, ClassConfig{Cap: 8}, ClassConfig{Cap: 8})
	tl.Add(2, t0, "2a")
	tl.Add(1, t0.Add(time.Second), "1a")
	tl.Add(1, t0, "1b")
	tl.Add(0, t0, "0a")
	tl.Add(1, t0, "1c")
	tl.Add(0, t0.Add(-time.Second), "0b") // the clock stepped back
	tl.AddForce(2, t0.Add(2*time.Second), "2b")

	got := tl.Points()
	assert.Equal(t, []string{"0b", "0a", "1b", "1c", "2a", "1a", "2b"}, values(got))
	for _, p := range got {
		assert.Equal(t, p.Value[:1], fmt.Sprint(p.Class), "Class set on %s", p.Value)
	}
	assert.True(t, slices.IsSortedFunc(got, func(a, b Point[string]) int { return a.Time.Compare(b.Time) }))

	got[0].Value = "changed"
	assert.Equal(t, "0b", tl.Points()[0].Value, "Points returned the Timeline's own memory")
	assert.Nil(t, New[string](ClassConfig{Cap: 8}).Points())
}

func TestPointsStaySortedWhenTheClockStepsBack(t *testing.T) {
	tl := New[int](ClassConfig{Cap: 16, Every: time.Second})
	at, lastAt := t0, t0
	for i := range 1000 {
		if i%97 == 0 {
			at = at.Add(-time.Duration(i%13) * time.Minute)
		}
		at = at.Add(time.Second)
		if tl.Add(0, at, i) {
			lastAt = at
		}
		if i%31 == 0 {
			lastAt = at.Add(-time.Hour)
			tl.AddForce(0, lastAt, -i)
		}
		require.LessOrEqual(t, tl.Len(), 16)
		require.True(t, slices.IsSortedFunc(tl.series[0].points,
			func(a, b Point[int]) int { return a.Time.Compare(b.Time) }))
	}
	last, ok := tl.Last(0)
	require.True(t, ok)
	assert.Equal(t, lastAt, last.Time, "Last is the point recorded last")
}

func TestLast(t *testing.T) {
	tl := New[string](ClassConfig{Cap: 4, Every: time.Second}, ClassConfig{Cap: 4})
	_, ok := tl.Last(0)
	assert.False(t, ok, "nothing recorded yet")

	tl.Add(0, t0, "a")
	tl.Add(0, t0.Add(500*time.Millisecond), "not due")
	last, ok := tl.Last(0)
	require.True(t, ok)
	assert.Equal(t, Point[string]{Time: t0, Class: 0, Value: "a"}, last)

	tl.AddForce(0, t0.Add(600*time.Millisecond), "final")
	last, _ = tl.Last(0)
	assert.Equal(t, "final", last.Value)

	tl.Add(0, t0.Add(-time.Minute), "stepped back")
	last, _ = tl.Last(0)
	assert.Equal(t, "stepped back", last.Value)

	_, ok = tl.Last(1)
	assert.False(t, ok, "another class")
}

func TestUnknownClassesAreIgnored(t *testing.T) {
	tests := []struct {
		name string
		give *Timeline[int]
	}{
		{name: "class past the last", give: New[int](ClassConfig{Cap: 4}, ClassConfig{Cap: 4})},
		{name: "no classes", give: New[int]()},
		{name: "zero value", give: &Timeline[int]{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []Class{2, 7, 255} {
				assert.False(t, tt.give.Add(c, t0, 1))
				tt.give.AddForce(c, t0, 1)
				_, ok := tt.give.Last(c)
				assert.False(t, ok)
				assert.Zero(t, tt.give.Dropped(c))
			}
			assert.Zero(t, tt.give.Len())
			assert.Nil(t, tt.give.Points())
			assert.Nil(t, tt.give.Window(t0, time.Time{}))
		})
	}
}

func TestNewPanicsOnMoreClassesThanClassCanName(t *testing.T) {
	assert.NotPanics(t, func() { New[int](make([]ClassConfig, 256)...).Add(255, t0, 1) })
	assert.Panics(t, func() { New[int](make([]ClassConfig, 257)...) })
}

func TestAddDoesNotAllocateInSteadyState(t *testing.T) {
	tl := New[sample](jobConfig...)
	at := t0
	step := func() {
		at = at.Add(100 * time.Millisecond)
		tl.Add(progress, at, sample{percent: 1})
		tl.Add(resources, at, sample{step: 1})
		tl.Add(state, at, sample{paused: true})
	}
	// Until every series has filled its backing array once.
	for range 2 * jobConfig[resources].Cap * 10 {
		step()
	}
	require.Equal(t, jobConfig[state].Cap, cap(tl.series[state].points))
	require.Equal(t, jobConfig[progress].Cap, cap(tl.series[progress].points))
	require.Equal(t, jobConfig[resources].Cap, cap(tl.series[resources].points))

	thinned := tl.Dropped(state)
	assert.Zero(t, testing.AllocsPerRun(1000, step))
	assert.Greater(t, tl.Dropped(state), thinned, "thinning was measured too")
}

func BenchmarkAdd(b *testing.B) {
	tl := New[sample](jobConfig...)
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(100 * time.Millisecond)
		tl.Add(progress, at, sample{percent: 1})
	}
}

// splitByClass returns points by class, each in the order given.
func splitByClass[P any](points []Point[P]) map[Class][]Point[P] {
	out := make(map[Class][]Point[P])
	for _, p := range points {
		out[p.Class] = append(out[p.Class], p)
	}
	return out
}

// largestGap returns the most time between two consecutive points.
func largestGap[P any](points []Point[P]) time.Duration {
	var gap time.Duration
	for i := 1; i < len(points); i++ {
		gap = max(gap, points[i].Time.Sub(points[i-1].Time))
	}
	return gap
}

// values returns the points' values, nil for none.
func values[P any](points []Point[P]) []P {
	var out []P
	for _, p := range points {
		out = append(out, p.Value)
	}
	return out
}

// offsets returns the points' times as offsets from t0, nil for none.
func offsets[P any](points []Point[P]) []time.Duration {
	var out []time.Duration
	for _, p := range points {
		out = append(out, p.Time.Sub(t0))
	}
	return out
}
