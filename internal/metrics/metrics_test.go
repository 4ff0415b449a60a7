package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMillionPointsKeepExtremes(t *testing.T) {
	const (
		n         = 1_000_000
		maxPoints = 256
		spikeAt   = 500_000
		dipAt     = 750_000
	)
	s := NewSet(4, maxPoints)
	rng := rand.New(rand.NewPCG(1, 2))
	var last float64
	for step := range int64(n) {
		v := 1/(1+float64(step)/1e5) + (rng.Float64()-0.5)*0.01
		switch step {
		case spikeAt:
			v = 100
		case dipAt:
			v = -5
		}
		require.NoError(t, s.Record("loss", step, v))
		last = v
	}

	pts, ok := s.Series("loss")
	require.True(t, ok)
	require.LessOrEqual(t, len(pts), maxPoints)
	require.Equal(t, int64(0), pts[0].Step)
	require.LessOrEqual(t, pts[len(pts)-1].Step, int64(n-1))
	require.Equal(t, last, pts[len(pts)-1].Last)

	hi, lo, count := math.Inf(-1), math.Inf(1), int64(0)
	spike := -1
	for i, p := range pts {
		if i > 0 {
			require.Greater(t, p.Step, pts[i-1].Step)
		}
		if p.Step <= spikeAt && (i == len(pts)-1 || pts[i+1].Step > spikeAt) {
			spike = i
		}
		hi, lo = max(hi, p.Max), min(lo, p.Min)
		count += p.Count
	}
	require.Equal(t, 100.0, hi)
	require.Equal(t, -5.0, lo)
	require.Equal(t, int64(n), count)
	require.NotEqual(t, -1, spike)
	require.Equal(t, 100.0, pts[spike].Max)
	t.Logf("%d points, spike bucket at step %d (next %d)", len(pts), pts[spike].Step, pts[spike+1].Step)
}

func TestNaNAndInf(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		give []float64 // recorded at one step, so into one bucket
		want Point     // Step and Count are checked too
	}{
		{"last NaN", []float64{1, nan}, Point{Min: 1, Max: 1, Last: nan, Count: 2}},
		{"NaN first is ignored", []float64{nan, 2, 1}, Point{Min: 1, Max: 2, Last: 1, Count: 3}},
		{"+Inf max", []float64{1, inf}, Point{Min: 1, Max: inf, Last: inf, Count: 2}},
		{"-Inf min", []float64{1, -inf, nan}, Point{Min: -inf, Max: 1, Last: nan, Count: 3}},
		{"only NaN", []float64{nan, nan}, Point{Min: nan, Max: nan, Last: nan, Count: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(1, 4)
			for _, v := range tt.give {
				require.NoError(t, s.Record("x", 7, v))
			}
			pts, ok := s.Series("x")
			require.True(t, ok)
			require.Len(t, pts, 1)
			tt.want.Step = 7
			requireSamePoint(t, tt.want, pts[0])
		})
	}
}

// TestNaNSurvivesMerge checks the NaN rules hold when points merge too,
// not only when values merge into a bucket.
func TestNaNSurvivesMerge(t *testing.T) {
	s := NewSet(1, 4)
	for step, v := range []float64{math.NaN(), math.NaN(), 3, math.NaN(), math.NaN()} {
		require.NoError(t, s.Record("x", int64(step), v))
	}
	pts, _ := s.Series("x")
	require.Len(t, pts, 3)
	requireSamePoint(t, Point{Step: 0, Min: math.NaN(), Max: math.NaN(), Last: math.NaN(), Count: 2}, pts[0])
	requireSamePoint(t, Point{Step: 2, Min: 3, Max: 3, Last: math.NaN(), Count: 2}, pts[1])
	requireSamePoint(t, Point{Step: 4, Min: math.NaN(), Max: math.NaN(), Last: math.NaN(), Count: 1}, pts[2])
}

// requireSamePoint compares points field by field, with NaN equal to NaN.
func requireSamePoint(t *testing.T, want, got Point) {
	t.Helper()
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	ok := want.Step == got.Step && want.Count == got.Count &&
		same(want.Min, got.Min) && same(want.Max, got.Max) && same(want.Last, got.Last)
	require.Truef(t, ok, "want %+v, got %+v", want, got)
}

func TestBucketsWiden(t *testing.T) {
	tests := []struct {
		name       string
		give       []int64 // steps, recorded in order
		wantSteps  []int64
		wantCounts []int64
	}{
		{"fills", []int64{0, 1, 2, 3}, []int64{0, 1, 2, 3}, []int64{1, 1, 1, 1}},
		{"halves once", []int64{0, 1, 2, 3, 4, 5}, []int64{0, 2, 4}, []int64{2, 2, 2}},
		{"halves twice", []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}, []int64{0, 4, 8}, []int64{4, 4, 1}},
		{"repeats merge", []int64{3, 3, 3}, []int64{3}, []int64{3}},
		{"backwards merge", []int64{10, 20, 5, -1 << 63}, []int64{10, 20}, []int64{1, 3}},
		{"far apart", []int64{-1 << 63, 0, 1<<63 - 1}, []int64{-1 << 63, 0, 1<<63 - 1}, []int64{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(1, 4)
			for _, step := range tt.give {
				require.NoError(t, s.Record("x", step, float64(step)))
			}
			pts, _ := s.Series("x")
			var steps, counts []int64
			for _, p := range pts {
				steps = append(steps, p.Step)
				counts = append(counts, p.Count)
			}
			require.Equal(t, tt.wantSteps, steps)
			require.Equal(t, tt.wantCounts, counts)
			require.Equal(t, float64(tt.give[len(tt.give)-1]), pts[len(pts)-1].Last)
		})
	}
}

func TestBackwardsMergeKeepsExtremes(t *testing.T) {
	s := NewSet(1, 4)
	require.NoError(t, s.Record("x", 10, 1))
	require.NoError(t, s.Record("x", 10, 5))
	require.NoError(t, s.Record("x", 2, -3))
	pts, _ := s.Series("x")
	require.Equal(t, []Point{{Step: 10, Min: -3, Max: 5, Last: -3, Count: 3}}, pts)
	require.Equal(t, []Value{{Name: "x", Value: -3, Step: 2}}, s.Latest(nil))
}

func TestNewSetClamps(t *testing.T) {
	tests := []struct {
		giveNames, givePoints int
		wantNames, wantPoints int
	}{
		{0, 0, 1, 4},
		{-5, 3, 1, 4},
		{2, 5, 2, 6},
		{32, 256, 32, 256},
	}
	for _, tt := range tests {
		s := NewSet(tt.giveNames, tt.givePoints)
		require.Equal(t, tt.wantNames, s.maxNames)
		require.Equal(t, tt.wantPoints, s.maxPoints)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		give string
		want error
	}{
		{"empty", "", ErrInvalidName},
		{"65 bytes", strings.Repeat("a", MaxNameLen+1), ErrInvalidName},
		{"not UTF-8", "\xff", ErrInvalidName},
		{"newline", "a\nb", ErrInvalidName},
		{"DEL", "a\x7fb", ErrInvalidName},
		{"C1 control", "a\u0085b", ErrInvalidName},
		{"64 bytes", strings.Repeat("a", MaxNameLen), nil},
		{"UTF-8", "précision/été", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(4, 4)
			err := s.Record(tt.give, 0, 1)
			if tt.want == nil {
				require.NoError(t, err)
				require.Equal(t, []string{tt.give}, s.Names())
				require.Zero(t, s.Dropped())
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, uint64(1), s.Dropped())
			require.Zero(t, s.Len())
			require.Zero(t, s.Version())
		})
	}
}

func TestTooMany(t *testing.T) {
	s := NewSet(2, 4)
	require.NoError(t, s.Record("a", 0, 1))
	require.NoError(t, s.Record("b", 0, 2))
	require.ErrorIs(t, s.Record("c", 0, 3), ErrTooMany)
	require.ErrorIs(t, s.Record("d", 1, 4), ErrTooMany)
	require.ErrorIs(t, s.Record("", 1, 4), ErrInvalidName)
	require.Equal(t, uint64(3), s.Dropped())
	require.Equal(t, 2, s.Len())
	require.Equal(t, uint64(2), s.Version())

	require.NoError(t, s.Record("a", 1, 5))
	require.NoError(t, s.Record("b", 1, 6))
	require.Equal(t, []Value{{"a", 5, 1}, {"b", 6, 1}}, s.Latest(nil))
	require.Equal(t, uint64(4), s.Version())
	_, ok := s.Series("c")
	require.False(t, ok)
}

func TestNameDoesNotKeepItsString(t *testing.T) {
	s := NewSet(32, 4)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 20 {
		recordPrefix(t, s, i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth after 20 names cut from 4 MB strings: %d bytes", growth)
	require.Less(t, growth, int64(1<<20))
	require.Equal(t, 20, s.Len())
	runtime.KeepAlive(s)
}

// recordPrefix records a name cut from a fresh 4 MB string, which is
// garbage once it returns unless the Set kept it.
func recordPrefix(t *testing.T, s *Set, i int) {
	t.Helper()
	big := fmt.Sprintf("name%02d", i) + strings.Repeat("x", 4<<20)
	require.NoError(t, s.Record(big[:6], 0, float64(i)))
}

func TestOrderAndCopies(t *testing.T) {
	s := NewSet(8, 4)
	_, ok := s.Series("loss")
	require.False(t, ok)
	require.Empty(t, s.Latest(nil))
	require.Empty(t, s.Names())

	for step, name := range []string{"loss", "acc", "loss", "lr", "acc"} {
		require.NoError(t, s.Record(name, int64(step), float64(step)))
	}
	require.Equal(t, []string{"loss", "acc", "lr"}, s.Names())
	require.Equal(t, 3, s.Len())
	require.Equal(t, uint64(5), s.Version())
	want := []Value{{"loss", 2, 2}, {"acc", 4, 4}, {"lr", 3, 3}}
	require.Equal(t, want, s.Latest(nil))

	// Latest appends, so a poller can reuse its slice.
	buf := s.Latest(make([]Value, 0, 8))
	buf = s.Latest(buf[:0])
	require.Equal(t, want, buf)
	require.Equal(t, append([]Value{{"x", 9, 9}}, want...), s.Latest([]Value{{"x", 9, 9}}))

	names := s.Names()
	names[0] = "changed"
	pts, _ := s.Series("loss")
	pts[0].Max = 1e9
	pts = append(pts[:1], Point{Step: 99})
	_ = pts
	buf[0].Name = "changed"

	require.Equal(t, []string{"loss", "acc", "lr"}, s.Names())
	got, _ := s.Series("loss")
	require.Equal(t, []Point{{Step: 0, Min: 0, Max: 0, Last: 0, Count: 1}, {Step: 2, Min: 2, Max: 2, Last: 2, Count: 1}}, got)
	require.Equal(t, want, s.Latest(nil))
}

func TestRecordKnownNameDoesNotAllocate(t *testing.T) {
	s := NewSet(4, 4)
	for _, name := range []string{"loss", "acc", "lr"} {
		require.NoError(t, s.Record(name, 0, 0))
	}
	names := []string{"loss", "acc", "lr", "acc"}
	step := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		step++
		for _, name := range names {
			_ = s.Record(name, step, float64(step))
		}
	})
	require.Zero(t, allocs)
	// The series did fill and halve during the run, several times.
	require.Greater(t, s.series[0].width, uint64(64))

	// A refused name does not allocate either.
	allocs = testing.AllocsPerRun(100, func() { _ = s.Record("a\nb", 0, 1) })
	require.Zero(t, allocs)
}

func BenchmarkRecord(b *testing.B) {
	s := NewSet(32, 256)
	names := [2]string{"loss", "accuracy"}
	for _, name := range names {
		require.NoError(b, s.Record(name, 0, 0))
	}
	b.ReportAllocs()
	var step int64
	for b.Loop() {
		step++
		_ = s.Record(names[step&1], step>>1, 0.5)
	}
}

// BenchmarkRecordScattered records 32 names in an order the lookup hint
// never predicts, to show the cost of a full scan.
func BenchmarkRecordScattered(b *testing.B) {
	s := NewSet(32, 256)
	var names [32]string
	for i := range names {
		names[i] = fmt.Sprintf("metric/%02d", i)
		require.NoError(b, s.Record(names[i], 0, 0))
	}
	b.ReportAllocs()
	var step int64
	for b.Loop() {
		step++
		_ = s.Record(names[(step*7)&31], step>>5, 0.5)
	}
}

// BenchmarkMutex is the baseline: the Lock and Unlock a job holds around
// every Record.
func BenchmarkMutex(b *testing.B) {
	var mu sync.Mutex
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		mu.Unlock()
	}
}
