// Package history keeps the most recent finished runs, bounded, with an
// index by id so that finding one run costs a map lookup however many are
// kept.
package history

import (
	"iter"
	"sync"

	"github.com/bgjob/bgjob/internal/ring"
)

// Index holds the last Limit values added, each under its key. It is safe
// for concurrent use; values are handed out as they were added, so they
// should be immutable (the Runner keeps finished jobs, which no longer
// change).
type Index[K comparable, V any] struct {
	limit int

	mu    sync.Mutex
	order ring.Queue[item[K, V]]
	byKey map[K]uint64 // position in order of each key's newest value
}

type item[K comparable, V any] struct {
	key K
	v   V
}

// New returns an Index that keeps at most limit values (none when limit
// is 0 or less).
func New[K comparable, V any](limit int) *Index[K, V] {
	return &Index[K, V]{limit: max(limit, 0), byKey: make(map[K]uint64)}
}

// Add keeps v under key, dropping the oldest value if the Index is full.
// A key added twice keeps its newest value.
func (x *Index[K, V]) Add(key K, v V) {
	if x.limit == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byKey[key] = x.order.Push(item[K, V]{key, v})
	for x.order.Len() > x.limit {
		pos := x.order.Head()
		old, _ := x.order.Pop()
		if x.byKey[old.key] == pos {
			delete(x.byKey, old.key)
		}
	}
}

// Get returns the value kept under key.
func (x *Index[K, V]) Get(key K) (V, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pos, ok := x.byKey[key]
	if !ok {
		var zero V
		return zero, false
	}
	return x.order.At(pos).v, true
}

// Len returns how many values are kept.
func (x *Index[K, V]) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.order.Len()
}

// Newest yields the values kept, newest first, as they were when it
// started: the lock is held only to copy the references, never while
// yielding, so a caller may stop early or take its time.
func (x *Index[K, V]) Newest() iter.Seq[V] {
	return func(yield func(V) bool) {
		x.mu.Lock()
		snapshot := make([]V, x.order.Len())
		for i := range snapshot {
			snapshot[len(snapshot)-1-i] = x.order.At(x.order.Head() + uint64(i)).v
		}
		x.mu.Unlock()
		for _, v := range snapshot {
			if !yield(v) {
				return
			}
		}
	}
}
