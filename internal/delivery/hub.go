package delivery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
)

// Class says how a published value travels through each Sink.
type Class uint8

const (
	// Lifecycle values are never replaced or dropped by a Lossless Sink
	// (Push).
	Lifecycle Class = iota + 1
	// Foldable values may be replaced by a newer foldable value of their
	// key (PushFold).
	Foldable
	// Log values travel in their own bounded lane (PushLog).
	Log
)

// Topic is what a Hub's filters (see Add) know of a value besides its
// key: its type, say.
type Topic uint8

// ErrClosed is returned by Admit when the Hub is finished while a caller
// waits.
var ErrClosed = errors.New("delivery: hub finished")

// Hub fans published values out to Sinks. It numbers every value, in one
// order for all Sinks, and holds back new work (Admit) while a Lossless
// Sink's backlog is full. It is safe for concurrent use.
//
// Lock order: a Hub's lock is taken before any of its Sinks' locks, and
// never while the caller waits for a consumer.
type Hub[K comparable, T any] struct {
	mu       sync.Mutex
	seq      uint64
	members  []member[K, T]
	finished bool

	// slab is where the values Sinks keep are copied, keptSlab at a
	// time (see keep); idlePublishes counts the values published since
	// one was last kept.
	slab          []T
	idlePublishes int

	observers atomic.Int32 // len(members), read without the lock
	lossless  atomic.Int32 // Lossless members

	wakeMu sync.Mutex
	wake   chan struct{} // closed when a Lossless Sink makes room
}

type member[K comparable, T any] struct {
	sink *Sink[K, T]
	// accept says whether the Sink receives a value, and whether that
	// value is its last: the Sink then finishes and leaves the Hub. Nil
	// accepts everything.
	accept Filter[K]
}

// Filter says whether a Sink receives a value of key and topic, and
// whether that value is its last.
type Filter[K comparable] func(key K, topic Topic) (ok, last bool)

// NewHub returns a Hub.
func NewHub[K comparable, T any]() *Hub[K, T] {
	return &Hub[K, T]{}
}

// Add makes s receive every value published from now on that accept
// accepts (all of them when accept is nil); after a value accept calls
// the last, s finishes and leaves the Hub. It reports false, and adds
// nothing, once the Hub is finished. The Sink should be made with OnSpace
// set to the Hub's Signal so that Admit hears when it makes room.
func (h *Hub[K, T]) Add(s *Sink[K, T], accept Filter[K]) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finished {
		return false
	}
	h.members = append(h.members, member[K, T]{sink: s, accept: accept})
	h.observers.Store(int32(len(h.members)))
	if s.cfg.Policy == Lossless {
		h.lossless.Add(1)
	}
	return true
}

// Remove stops s receiving values. A caller waiting in Admit on s goes
// on.
func (h *Hub[K, T]) Remove(s *Sink[K, T]) {
	h.mu.Lock()
	i := slices.IndexFunc(h.members, func(m member[K, T]) bool { return m.sink == s })
	if i < 0 {
		h.mu.Unlock()
		return
	}
	h.members = slices.Delete(h.members, i, i+1)
	h.observers.Store(int32(len(h.members)))
	if len(h.members) == 0 {
		h.slab = nil // see keptSlab
	}
	lossless := s.cfg.Policy == Lossless
	if lossless {
		h.lossless.Add(-1)
	}
	h.mu.Unlock()
	if lossless {
		h.Signal()
	}
}

// Observed reports whether any Sink receives values, so that a producer
// nobody listens to need not build them. A Sink added while a value is
// being built may miss it, as it misses everything published before it.
func (h *Hub[K, T]) Observed() bool { return h.observers.Load() > 0 }

// Publish numbers v and delivers it, by class, to every Sink that
// accepts it. It never waits for a consumer. v is not kept: each Sink
// whose channel takes v at once gets its copy now, and those that must
// keep v behind their channel share one copy of it made on the heap
// (keep), so that v may live on the caller's stack and, while every
// reader keeps up, a value costs no allocation.
func (h *Hub[K, T]) Publish(key K, topic Topic, class Class, v *T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	seq := h.seq
	var kept *T
	done := 0
	for i := range h.members {
		m := &h.members[i]
		ok, last := true, false
		if m.accept != nil {
			ok, last = m.accept(key, topic)
		}
		if ok {
			s := m.sink
			s.mu.Lock()
			if !s.offerLocked(key, seq, class, v) {
				var held *T // nil for a value the Sink counts lost
				if s.storesLocked(key, class) {
					if kept == nil {
						kept = h.keep(v)
					}
					held = kept
				}
				s.keepLocked(key, seq, class, held)
			}
			s.mu.Unlock()
		}
		if last {
			// The Sink's last value: it finishes, and leaves the Hub.
			m.sink.Finish()
			m.sink = nil
			done++
		}
	}
	if kept == nil {
		h.idlePublishes++
		if h.idlePublishes >= keptSlab {
			// Readers have caught up: let the slab go, with the values
			// it still holds that were delivered long ago.
			h.slab = nil
		}
	} else {
		h.idlePublishes = 0
	}
	if done > 0 {
		h.members = slices.DeleteFunc(h.members, func(m member[K, T]) bool { return m.sink == nil })
		h.observers.Store(int32(len(h.members)))
		h.lossless.Store(int32(h.countLossless()))
		if len(h.members) == 0 {
			h.slab = nil
		}
	}
}

// keptSlab is how many kept values share one allocation: a reader that
// falls behind costs an allocation per keptSlab values rather than per
// value. A slab is freed once none of its values is held any more; until
// the Hub has used all of it, or keptSlab values in a row were published
// that no Sink kept, or the last Sink left, it also holds on to up to
// keptSlab-1 values already delivered (and what they refer to: strings,
// errors, log attributes).
const keptSlab = 16

// keep returns a copy of v, on the heap, for Sinks to keep.
func (h *Hub[K, T]) keep(v *T) *T {
	if len(h.slab) == 0 {
		h.slab = make([]T, keptSlab)
	}
	kept := &h.slab[0]
	h.slab = h.slab[1:]
	*kept = *v
	return kept
}

func (h *Hub[K, T]) countLossless() int {
	n := 0
	for _, m := range h.members {
		if m.sink.cfg.Policy == Lossless {
			n++
		}
	}
	return n
}

// Admit waits while a Lossless Sink's backlog is full, so that new work
// is held back until its reader catches up. It returns ctx's cause if ctx
// ends first and ErrClosed if the Hub is finished meanwhile.
func (h *Hub[K, T]) Admit(ctx context.Context, closing <-chan struct{}) error {
	if h.lossless.Load() == 0 {
		return nil
	}
	for {
		// Take the wake-up channel before looking, so that room made
		// between the look and the wait is not missed.
		wake := h.waitChan()
		if !h.losslessFull() {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-closing:
			return ErrClosed
		}
	}
}

func (h *Hub[K, T]) losslessFull() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.members {
		if m.sink.cfg.Policy == Lossless && m.sink.Full() {
			return true
		}
	}
	return false
}

func (h *Hub[K, T]) waitChan() <-chan struct{} {
	h.wakeMu.Lock()
	defer h.wakeMu.Unlock()
	if h.wake == nil {
		h.wake = make(chan struct{})
	}
	return h.wake
}

// Signal wakes the callers waiting in Admit, to look again.
func (h *Hub[K, T]) Signal() {
	h.wakeMu.Lock()
	defer h.wakeMu.Unlock()
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
}

// Finish says that nothing more will be published: every Sink closes its
// channel once its reader has received what it holds, and Add refuses new
// Sinks.
func (h *Hub[K, T]) Finish() {
	h.mu.Lock()
	members := h.members
	h.members = nil
	h.finished = true
	h.slab = nil
	h.observers.Store(0)
	h.lossless.Store(0)
	h.mu.Unlock()
	for _, m := range members {
		m.sink.Finish()
	}
	h.Signal()
}

// Finished reports whether Finish was called.
func (h *Hub[K, T]) Finished() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.finished
}
