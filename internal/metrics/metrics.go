// Package metrics keeps, for one job, a bounded set of named scalar series
// such as a training loss and an accuracy.
//
// A [Set] holds at most a fixed number of names, and each name a series of
// at most a fixed number of [Point] values, however long the job runs: when
// a series is full, neighbouring points merge and the steps each point
// covers double. A point keeps the minimum, the maximum and the last value
// it merged, never an average, so a spike survives every merge.
//
// A Set is not safe for concurrent use: its owner (a job, behind the job's
// own mutex) serializes every call. It holds no lock, reads no clock and
// starts no goroutine, so recording a name already seen stays a few
// comparisons and stores long, cheap enough for a training loop's
// innermost step.
package metrics

import (
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest metric name accepted, in bytes. It bounds what
// a job can make the Set keep per name and what a status line has to show.
const MaxNameLen = 64

var (
	// ErrInvalidName is returned by Set.Record for a name that is empty,
	// longer than MaxNameLen bytes, not valid UTF-8 or holding a control
	// character (unicode.IsControl), which would corrupt a log line or a
	// terminal. The value is dropped and counted in Set.Dropped.
	ErrInvalidName = errors.New("bgjob: invalid metric name")
	// ErrTooMany is returned by Set.Record for a new name once the Set
	// holds as many names as its bound. The value is dropped and counted
	// in Set.Dropped; the names already held keep working.
	ErrTooMany = errors.New("bgjob: too many metric names")
)

// Value is the latest value recorded under a name, and the step it was
// recorded at.
type Value struct {
	Name  string
	Value float64
	Step  int64
}

// Set is a bounded set of metric series, one per name, in the order the
// names were first recorded. Create one with NewSet. It is not safe for
// concurrent use.
type Set struct {
	// names and series are parallel. The names sit in their own slice so
	// the lookup scans 16-byte string headers packed together instead of
	// striding over whole series.
	names  []string
	series []series

	maxNames  int
	maxPoints int

	// hint is where the next lookup starts: just after the name recorded
	// last. A training loop records the same names in the same order at
	// every step, so the name it wants next is almost always the one
	// there, and the lookup costs one comparison however many names the
	// Set holds.
	hint int

	dropped uint64
	version uint64
}

// NewSet returns an empty Set that holds at most maxNames names and, per
// name, at most maxPoints points.
//
// maxNames below 1 is taken as 1. maxPoints below 4 is taken as 4, and an
// odd maxPoints is rounded up to the next even number, because a full
// series halves by merging adjacent pairs of points and must keep at least
// two after it does.
//
// Each name costs maxPoints points of memory (40 bytes each), allocated
// when the name is first recorded, so that recording it afterwards never
// allocates.
func NewSet(maxNames, maxPoints int) *Set {
	maxNames = max(maxNames, 1)
	maxPoints = max(maxPoints, 4)
	maxPoints += maxPoints % 2
	return &Set{maxNames: maxNames, maxPoints: maxPoints}
}

// Record records v under name at step. For a name already seen it
// allocates nothing.
//
// A new name is validated, then copied, so that a name cut from a larger
// string never keeps that string alive. Record returns ErrInvalidName or
// ErrTooMany, drops the value and counts it in Dropped for a name it
// cannot keep.
//
// NaN and infinite values are recorded as they are: a diverging loss is
// information. Steps need not increase: a value at a step that repeats or
// goes back merges into the series' last point.
func (s *Set) Record(name string, step int64, v float64) error {
	i := s.find(name)
	if i < 0 {
		var err error
		if i, err = s.add(name); err != nil {
			s.dropped++
			return err
		}
	}
	s.series[i].record(step, v)
	s.hint = i + 1
	if s.hint == len(s.names) {
		s.hint = 0
	}
	s.version++
	return nil
}

// find returns the index of name, or -1. A linear scan of at most maxNames
// entries, starting at the hint, beats a map here: a map hashes the whole
// name at every call, while the scan usually stops at its first entry, and
// string equality compares the lengths before any byte, so a miss on a
// name of another length costs one integer comparison.
func (s *Set) find(name string) int {
	names := s.names
	for i := s.hint; i < len(names); i++ {
		if names[i] == name {
			return i
		}
	}
	for i := range min(s.hint, len(names)) {
		if names[i] == name {
			return i
		}
	}
	return -1
}

// add validates and keeps a new name, and returns its index.
func (s *Set) add(name string) (int, error) {
	if !validName(name) {
		return -1, ErrInvalidName
	}
	if len(s.names) >= s.maxNames {
		return -1, ErrTooMany
	}
	s.names = append(s.names, strings.Clone(name))
	s.series = append(s.series, newSeries(s.maxPoints))
	return len(s.names) - 1, nil
}

// validName reports whether name is acceptable; see ErrInvalidName. The
// length is checked first so that a huge name costs nothing to refuse.
func validName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Latest appends to dst the latest value of each name, in the order the
// names were first recorded, and returns the extended slice. Passing the
// previous result, truncated to dst[:0], lets a caller that polls reuse
// its slice.
func (s *Set) Latest(dst []Value) []Value {
	for i := range s.series {
		sr := &s.series[i]
		dst = append(dst, Value{Name: s.names[i], Value: sr.points[len(sr.points)-1].Last, Step: sr.lastStep})
	}
	return dst
}

// Series returns a copy of the points recorded under name, oldest first,
// and false when the name was never recorded.
func (s *Set) Series(name string) ([]Point, bool) {
	i := s.find(name)
	if i < 0 {
		return nil, false
	}
	return slices.Clone(s.series[i].points), true
}

// Names returns a copy of the names, in the order they were first
// recorded.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Len returns the number of names.
func (s *Set) Len() int { return len(s.names) }

// Dropped returns the number of values refused: those under an invalid
// name and those under a new name beyond the Set's bound.
func (s *Set) Dropped() uint64 { return s.dropped }

// Version returns a number that increases at every value Record accepts,
// so a reader can tell whether anything changed since it last looked
// without copying a series.
func (s *Set) Version() uint64 { return s.version }
