// Package sched decides when jobs run: it counts the worker slots in use
// against a limit and keeps the jobs waiting for one in a priority queue.
//
// It is not safe for concurrent use: the Runner guards it with its lock.
package sched

import (
	"container/heap"
	"errors"
)

// ErrFull is returned by Admit when the queue holds its limit.
var ErrFull = errors.New("sched: queue is full")

// Ticket is a job's place in the queue.
type Ticket[T any] struct {
	Value    T
	priority int
	order    uint64
	index    int // in the heap; -1 once out of it
}

// Queued reports whether the ticket still waits in the queue.
func (t *Ticket[T]) Queued() bool { return t.index >= 0 }

// Scheduler counts running jobs against MaxRunning and queues the rest:
// highest priority first, then first come. The zero value runs every job
// at once.
type Scheduler[T any] struct {
	// MaxRunning is how many jobs may hold a slot at once; 0 means no
	// limit. MaxQueued bounds the queue; 0 means no bound.
	MaxRunning, MaxQueued int

	running    int
	order      uint64
	heap       ticketHeap[T]
	byPriority map[int]int // queued tickets per priority, for Position
}

// Admit takes a slot for v if one is free (run is true), or queues it,
// writing in t, which the caller provides (a job keeps its ticket in
// itself, saving an allocation), where it waits. It returns ErrFull when v
// would have to wait in a full queue.
func (s *Scheduler[T]) Admit(t *Ticket[T], v T, priority int) (run bool, err error) {
	s.order++
	*t = Ticket[T]{Value: v, priority: priority, order: s.order, index: -1}
	if s.MaxRunning <= 0 || s.running < s.MaxRunning {
		s.running++
		return true, nil
	}
	if s.MaxQueued > 0 && len(s.heap) >= s.MaxQueued {
		return false, ErrFull
	}
	heap.Push(&s.heap, t)
	if s.byPriority == nil {
		s.byPriority = make(map[int]int)
	}
	s.byPriority[priority]++
	return false, nil
}

// Position returns the place in the queue of t, the ticket queued last:
// 1 if it leaves next. The tickets before it are those of a higher
// priority and those of its own, which all came earlier; the cost is the
// number of priorities in use, not the length of the queue.
func (s *Scheduler[T]) Position(t *Ticket[T]) int {
	n := 0
	for p, count := range s.byPriority {
		if p >= t.priority {
			n += count
		}
	}
	return n
}

// Release gives back one slot and returns the queued values that now
// get one, in order; their slots are taken.
func (s *Scheduler[T]) Release() []T {
	s.running--
	return s.Dispatch()
}

// Dispatch returns the queued values that get the free slots, in order.
func (s *Scheduler[T]) Dispatch() []T {
	var next []T
	for len(s.heap) > 0 && (s.MaxRunning <= 0 || s.running < s.MaxRunning) {
		t := heap.Pop(&s.heap).(*Ticket[T])
		s.forget(t)
		s.running++
		next = append(next, t.Value)
	}
	s.shrink()
	return next
}

// Remove takes t out of the queue; it reports false if t no longer waits
// there (it got a slot, or was removed already).
func (s *Scheduler[T]) Remove(t *Ticket[T]) bool {
	if t == nil || t.index < 0 {
		return false
	}
	heap.Remove(&s.heap, t.index)
	s.forget(t)
	s.shrink()
	return true
}

// Drain empties the queue and returns what it held, in order.
func (s *Scheduler[T]) Drain() []T {
	var out []T
	for len(s.heap) > 0 {
		t := heap.Pop(&s.heap).(*Ticket[T])
		s.forget(t)
		out = append(out, t.Value)
	}
	s.shrink()
	return out
}

// Running returns the slots in use; Queued the values waiting.
func (s *Scheduler[T]) Running() int { return s.running }

// Queued returns the number of values waiting for a slot.
func (s *Scheduler[T]) Queued() int { return len(s.heap) }

func (s *Scheduler[T]) forget(t *Ticket[T]) {
	if s.byPriority[t.priority]--; s.byPriority[t.priority] == 0 {
		delete(s.byPriority, t.priority)
	}
}

// shrink lets a queue that held a burst give its memory back: the heap's
// array is reallocated once it is a quarter full.
func (s *Scheduler[T]) shrink() {
	const keep = 256
	if c := cap(s.heap); c > keep && len(s.heap) < c/4 {
		s.heap = append(make(ticketHeap[T], 0, max(keep, 2*len(s.heap))), s.heap...)
	}
	if len(s.heap) == 0 && len(s.byPriority) == 0 {
		s.byPriority = nil // maps never shrink; a new one is small
	}
}

type ticketHeap[T any] []*Ticket[T]

func (h ticketHeap[T]) Len() int { return len(h) }

func (h ticketHeap[T]) Less(a, b int) bool {
	if h[a].priority != h[b].priority {
		return h[a].priority > h[b].priority
	}
	return h[a].order < h[b].order
}

func (h ticketHeap[T]) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].index = a
	h[b].index = b
}

func (h *ticketHeap[T]) Push(x any) {
	t := x.(*Ticket[T])
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *ticketHeap[T]) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
