package history

import (
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKeepsTheLastLimitAndFindsThemByKey(t *testing.T) {
	x := New[int, string](3)
	for i := range 5 {
		x.Add(i, string(rune('a'+i)))
	}
	assert.Equal(t, 3, x.Len())
	assert.Equal(t, []string{"e", "d", "c"}, slices.Collect(x.Newest()))
	_, ok := x.Get(1)
	assert.False(t, ok, "evicted")
	v, ok := x.Get(3)
	require.True(t, ok)
	assert.Equal(t, "d", v)
}

func TestAKeyAddedTwiceKeepsItsNewestValue(t *testing.T) {
	x := New[int, string](2)
	x.Add(1, "old")
	x.Add(1, "new")
	x.Add(2, "two") // evicts "old", not the key
	v, ok := x.Get(1)
	require.True(t, ok)
	assert.Equal(t, "new", v)
}

func TestZeroLimitKeepsNothing(t *testing.T) {
	x := New[int, int](0)
	x.Add(1, 1)
	assert.Zero(t, x.Len())
	_, ok := x.Get(1)
	assert.False(t, ok)
	assert.Empty(t, slices.Collect(x.Newest()))
	assert.Zero(t, New[int, int](-5).Len())
}

func TestNewestStopsEarlyAndSeesASnapshot(t *testing.T) {
	x := New[int, int](10)
	for i := range 10 {
		x.Add(i, i)
	}
	var got []int
	for v := range x.Newest() {
		x.Add(100+v, 0) // adding while iterating neither blocks nor shows
		got = append(got, v)
		if len(got) == 3 {
			break
		}
	}
	assert.Equal(t, []int{9, 8, 7}, got)
}

func TestConcurrentUse(t *testing.T) {
	x := New[int, int](100)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				x.Add(w*1000+i, i)
				x.Get(w*1000 + i/2)
				for range x.Newest() {
					break
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 100, x.Len())
}

func BenchmarkGet(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		x := New[int, int](n)
		for i := range n {
			x.Add(i, i)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				x.Get(i % n)
			}
		})
	}
}
