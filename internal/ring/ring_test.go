package ring

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFIFOAcrossGrowth(t *testing.T) {
	var q Queue[int]
	next := 0
	for round := range 50 {
		// Interleave pushes and pops so the data wraps before it grows.
		for i := range round * 3 {
			pos := q.Push(i + round*1000)
			assert.Equal(t, q.Head()+uint64(q.Len())-1, pos)
		}
		for range round * 2 {
			_, ok := q.Pop()
			require.True(t, ok)
			next++
		}
	}
	seen := 0
	for q.Len() > 0 {
		_, ok := q.Pop()
		require.True(t, ok)
		seen++
	}
	_, ok := q.Pop()
	assert.False(t, ok)
	assert.Positive(t, seen)
}

func TestOrderIsKept(t *testing.T) {
	var q Queue[int]
	for i := range 1000 {
		q.Push(i)
		if i%3 == 0 {
			v, _ := q.Pop()
			_ = v
		}
	}
	prev := -1
	for q.Len() > 0 {
		v, _ := q.Pop()
		assert.Greater(t, v, prev)
		prev = v
	}
}

func TestAtAndBack(t *testing.T) {
	var q Queue[string]
	assert.Nil(t, q.Back())
	a := q.Push("a")
	b := q.Push("b")
	*q.At(a) = "A"
	assert.Equal(t, "b", *q.Back())
	v, _ := q.Pop()
	assert.Equal(t, "A", v)
	assert.Nil(t, q.At(a), "a popped position is gone")
	assert.Equal(t, "b", *q.At(b), "positions survive pops")
	for i := range 100 {
		q.Push(string(rune('c' + i%20)))
	}
	assert.Equal(t, "b", *q.At(b), "positions survive growth")
	assert.Nil(t, q.At(b+1000))
}

func TestClearAndShrink(t *testing.T) {
	var q Queue[int]
	for i := range 1000 {
		q.Push(i)
	}
	head := q.Head()
	q.Clear()
	assert.Zero(t, q.Len())
	assert.Equal(t, head+1000, q.Head(), "positions keep growing")
	assert.Nil(t, q.buf)

	for i := range 100 {
		q.Push(i)
	}
	for q.Len() > 0 {
		q.Pop()
	}
	assert.NotNil(t, q.buf, "an emptied small queue keeps its buffer")
	for i := range 5000 {
		q.Push(i)
	}
	for q.Len() > 0 {
		q.Pop()
	}
	assert.Nil(t, q.buf, "an emptied large queue drops its buffer")
}
