package ring

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChainFollowsASlice drives a Chain and a plain slice with the same
// random operations, in runs that grow and drain it across many blocks,
// and checks that they agree at every step.
func TestChainFollowsASlice(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var c Chain[int]
		var model []int
		head := uint64(0) // the model's absolute position of model[0]
		next := 0
		for step := range 20_000 {
			// Lean towards pushing for a while, then towards popping, so
			// that the queue swings between empty and hundreds of values.
			push := rng.IntN(100) < 50+40*((step/500)%2*2-1)
			switch op := rng.IntN(100); {
			case op < 2:
				c.Clear()
				head += uint64(len(model))
				model = model[:0]
			case push:
				pos := c.Push(next)
				require.Equal(t, head+uint64(len(model)), pos)
				model = append(model, next)
				next++
			default:
				v, ok := c.Pop()
				if len(model) == 0 {
					require.False(t, ok)
					continue
				}
				require.True(t, ok)
				require.Equal(t, model[0], v)
				model = model[1:]
				head++
			}
			require.Equal(t, len(model), c.Len())
			require.Equal(t, head, c.Head())
			if len(model) > 0 {
				i := rng.IntN(len(model))
				require.Equal(t, model[i], *c.At(head + uint64(i)))
				require.Equal(t, model[len(model)-1], *c.Back())
			} else {
				require.Nil(t, c.Back())
			}
			require.Nil(t, c.At(head+uint64(len(model))), "past the end")
			if head > 0 {
				require.Nil(t, c.At(head-1), "popped")
			}
		}
	}
}

func TestChainValuesCanBeChangedInPlace(t *testing.T) {
	var c Chain[int]
	for i := range 1000 {
		c.Push(i)
	}
	*c.At(c.Head() + 500) = -1
	for i := range 1000 {
		v, _ := c.Pop()
		if i == 500 {
			assert.Equal(t, -1, v)
		} else {
			assert.Equal(t, i, v)
		}
	}
}

func TestChainGivesBlocksBackAsItDrains(t *testing.T) {
	var c Chain[[64]byte] // 32 values a block
	size := c.blockLen()
	require.Equal(t, 32, size)
	for i := range 10 * size {
		c.Push([64]byte{byte(i)})
	}
	assert.Len(t, c.blocks, 10)
	for range 5 * size {
		c.Pop()
	}
	assert.Len(t, c.blocks[c.first:], 5, "drained blocks are let go")
	for _, b := range c.blocks[:c.first] {
		assert.Nil(t, b)
	}
	for c.Len() > 0 {
		c.Pop()
	}
	assert.Empty(t, c.blocks)
	assert.Len(t, c.spares, maxSpares, "a few blocks are kept for the next values")
	c.Push([64]byte{1})
	assert.Len(t, c.spares, maxSpares-1, "and used by them")
}

func TestChainDropsWhatItPopped(t *testing.T) {
	var c Chain[*int]
	for range 3 {
		c.Push(new(int))
	}
	c.Pop()
	for _, b := range c.blocks {
		assert.Nil(t, b.slots[0], "a popped slot holds nothing")
	}
}

func TestChainBlockSizes(t *testing.T) {
	assert.Equal(t, uint8(8), blockBits[byte](), "at most 256 values")
	assert.Equal(t, uint8(3), blockBits[[4096]byte](), "at least 8 values")
	assert.Equal(t, uint8(5), blockBits[[56]byte]())
}

func BenchmarkChainSwing(b *testing.B) {
	// A subscriber's backlog: grows to n, then drains, again and again.
	for _, n := range []int{64, 100_000} {
		b.Run(map[int]string{64: "64", 100_000: "100k"}[n], func(b *testing.B) {
			b.Run("Chain", func(b *testing.B) {
				var c Chain[[56]byte]
				for b.Loop() {
					for range n {
						c.Push([56]byte{})
					}
					for range n {
						c.Pop()
					}
				}
			})
			b.Run("Queue", func(b *testing.B) {
				var q Queue[[56]byte]
				for b.Loop() {
					for range n {
						q.Push([56]byte{})
					}
					for range n {
						q.Pop()
					}
				}
			})
		})
	}
}
