// Package ring provides a growable FIFO queue backed by a circular slice.
//
// Every element keeps an absolute position that never changes while it is in
// the queue, so a caller can remember where an element sits and update it in
// place later (the delivery queue does this to coalesce progress).
package ring

// Queue is a FIFO queue. The zero value is an empty queue ready to use.
// It is not safe for concurrent use.
type Queue[T any] struct {
	buf  []T
	head uint64 // absolute position of the first element
	n    int
}

// Len returns the number of elements in the queue.
func (q *Queue[T]) Len() int { return q.n }

// Head returns the absolute position of the first element.
func (q *Queue[T]) Head() uint64 { return q.head }

// Push appends v and returns its absolute position.
func (q *Queue[T]) Push(v T) uint64 {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[q.index(q.head+uint64(q.n))] = v
	q.n++
	return q.head + uint64(q.n) - 1
}

// Pop removes and returns the first element. It reports false when the queue
// is empty.
func (q *Queue[T]) Pop() (T, bool) {
	var zero T
	if q.n == 0 {
		return zero, false
	}
	i := q.index(q.head)
	v := q.buf[i]
	q.buf[i] = zero // let the garbage collector have what the element held
	q.head++
	q.n--
	if q.n == 0 && len(q.buf) > shrinkAbove {
		// A queue that once held a burst should not pin that memory forever.
		q.buf = nil
	}
	return v, true
}

// At returns a pointer to the element at absolute position pos, or nil when
// pos is not in the queue. The pointer is valid until the next Push or Pop.
func (q *Queue[T]) At(pos uint64) *T {
	if pos < q.head || pos >= q.head+uint64(q.n) {
		return nil
	}
	return &q.buf[q.index(pos)]
}

// Back returns a pointer to the last element, or nil when the queue is empty.
// The pointer is valid until the next Push or Pop.
func (q *Queue[T]) Back() *T {
	if q.n == 0 {
		return nil
	}
	return q.At(q.head + uint64(q.n) - 1)
}

// Clear removes every element and releases the backing memory.
func (q *Queue[T]) Clear() {
	q.head += uint64(q.n)
	q.n = 0
	q.buf = nil
}

// shrinkAbove is the capacity above which an emptied queue drops its
// buffer. Smaller buffers are kept: a queue that fills and empties all the
// time should not allocate each time.
const shrinkAbove = 1024

// index is where pos lives in buf, whose length is always a power of two.
func (q *Queue[T]) index(pos uint64) int { return int(pos & uint64(len(q.buf)-1)) }

func (q *Queue[T]) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 8
	}
	buf := make([]T, size)
	for i := 0; i < q.n; i++ {
		buf[(q.head+uint64(i))&uint64(size-1)] = q.buf[q.index(q.head+uint64(i))]
	}
	q.buf = buf
}
