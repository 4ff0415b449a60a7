package ring

import "unsafe"

// Chain is a FIFO queue, like Queue, kept as a chain of fixed-size blocks
// instead of one buffer: it grows by a block without copying what it
// holds, and gives each block back as soon as it is drained, keeping a
// few spares (maxSpares) for the next. It suits a queue whose length swings between empty
// and large (a subscriber's backlog), where a Queue would copy everything
// at each doubling and grow again from small after each drain. The zero
// value is an empty queue; a Chain must not be copied once used.
type Chain[T any] struct {
	blocks []*chainBlock[T] // blocks[first] holds position base
	first  int              // blocks before it are drained (nil)
	base   uint64           // absolute position of blocks[first]'s first slot
	head   uint64           // absolute position of the first element
	n      int
	spares []*chainBlock[T] // drained blocks kept for reuse, at most maxSpares
	bits   uint8            // a block holds 1<<bits values; 0 until first used
}

// maxSpares bounds the drained blocks a Chain keeps: enough that a queue
// swinging by a few blocks allocates none, few enough that an idle one
// holds little.
const maxSpares = 4

// chainBlockBytes is about how much memory a block holds: enough for a
// block to serve many values, little enough that a queue holding a few
// values costs little.
const chainBlockBytes = 2048

type chainBlock[T any] struct {
	slots []T // len is the chain's block length, a power of two
}

// blockBits returns log2 of how many values of T a block holds: from 8
// to 256 values.
func blockBits[T any]() uint8 {
	var zero T
	size := max(int(unsafe.Sizeof(zero)), 1)
	bits := uint8(3)
	for bits < 8 && (2<<bits)*size <= chainBlockBytes {
		bits++
	}
	return bits
}

// Len returns the number of values queued.
func (c *Chain[T]) Len() int { return c.n }

// Head returns the absolute position of the first value queued (or of the
// next value to be pushed, when empty).
func (c *Chain[T]) Head() uint64 { return c.head }

// Push appends v and returns its absolute position.
func (c *Chain[T]) Push(v T) uint64 {
	pos := c.head + uint64(c.n)
	size := uint64(c.blockLen())
	if c.n == 0 {
		c.base = pos &^ (size - 1)
	}
	off := pos - c.base
	i := c.first + int(off>>c.bits)
	if i == len(c.blocks) {
		c.blocks = append(c.blocks, c.newBlock())
	}
	c.blocks[i].slots[off&(size-1)] = v
	c.n++
	return pos
}

// Pop removes and returns the first value; ok is false when the queue is
// empty.
func (c *Chain[T]) Pop() (v T, ok bool) {
	if c.n == 0 {
		return v, false
	}
	size := uint64(c.blockLen())
	off := c.head - c.base
	b := c.blocks[c.first]
	v = b.slots[off]
	var zero T
	b.slots[off] = zero // let the garbage collector have what the value held
	c.head++
	c.n--
	if off == size-1 || c.n == 0 {
		// The first block is drained: give it back.
		c.blocks[c.first] = nil
		c.first++
		c.base += size
		if len(c.spares) < maxSpares {
			c.spares = append(c.spares, b)
		}
		if c.n == 0 {
			// Nothing is left, so no block: the next value starts a new
			// block at its own position.
			c.blocks, c.first = c.blocks[:0], 0
		} else if c.first >= 16 && c.first*2 >= len(c.blocks) {
			// Move the live blocks down, so that the drained ones do not
			// pile up at the front: each move follows as many drains as
			// it moves blocks.
			live := copy(c.blocks, c.blocks[c.first:])
			clear(c.blocks[live:])
			c.blocks, c.first = c.blocks[:live], 0
		}
	}
	return v, true
}

// At returns a pointer to the value at absolute position pos, or nil if
// no value queued has that position. The pointer is valid until the value
// is popped.
func (c *Chain[T]) At(pos uint64) *T {
	if pos < c.head || pos >= c.head+uint64(c.n) {
		return nil
	}
	size := uint64(c.blockLen())
	off := pos - c.base
	return &c.blocks[c.first+int(off>>c.bits)].slots[off&(size-1)]
}

// Back returns a pointer to the last value, or nil when empty.
func (c *Chain[T]) Back() *T {
	if c.n == 0 {
		return nil
	}
	return c.At(c.head + uint64(c.n) - 1)
}

// Clear removes every value; positions go on from where they were.
func (c *Chain[T]) Clear() {
	c.head += uint64(c.n)
	c.n = 0
	c.blocks, c.first = nil, 0
	c.spares = nil
}

func (c *Chain[T]) newBlock() *chainBlock[T] {
	if n := len(c.spares); n > 0 {
		b := c.spares[n-1]
		c.spares[n-1] = nil
		c.spares = c.spares[:n-1]
		return b
	}
	return &chainBlock[T]{slots: make([]T, c.blockLen())}
}

// blockLen returns how many values a block holds.
func (c *Chain[T]) blockLen() int {
	if c.bits == 0 {
		c.bits = blockBits[T]()
	}
	return 1 << c.bits
}
