package delivery

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newHub() *Hub[string, item] {
	return NewHub[string, item]()
}

func TestHubNumbersAndFilters(t *testing.T) {
	h := newHub()
	all := newSink(16, 100, Lagging)
	onlyA := newSink(16, 100, Lagging)
	require.True(t, h.Add(all, nil))
	require.True(t, h.Add(onlyA, func(key string, _ Topic) (bool, bool) { return key == "a", false }))
	assert.True(t, h.Observed())
	h.Publish("a", 0, Lifecycle, &item{label: "a1"})
	h.Publish("b", 0, Lifecycle, &item{label: "b1"})
	h.Publish("a", 0, Foldable, &item{label: "a2"})
	h.Publish("a", 0, Log, &item{label: "a3"})
	h.Finish()
	var seqs []uint64
	for _, v := range drain(all) {
		seqs = append(seqs, v.seq)
	}
	assert.Equal(t, []uint64{1, 2, 3, 4}, seqs)
	var labels []string
	for _, v := range drain(onlyA) {
		labels = append(labels, v.label)
	}
	assert.Equal(t, []string{"a1", "a2", "a3"}, labels)
	assert.False(t, h.Add(newSink(1, 1, Lagging), nil), "a finished hub takes no sink")
	assert.False(t, h.Observed())
}

func TestHubAdmitWaitsForALosslessReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub()
		s := New[string](Config[string, item]{Buffer: 0, Backlog: 2, Policy: Lossless, Stamped: stamp, OnSpace: h.Signal})
		require.True(t, h.Add(s, nil))
		closing := make(chan struct{})
		require.NoError(t, h.Admit(context.Background(), closing))
		for range 3 {
			h.Publish("a", 0, Lifecycle, &item{})
		}
		synctest.Wait()

		admitted := make(chan error, 1)
		go func() { admitted <- h.Admit(context.Background(), closing) }()
		synctest.Wait()
		select {
		case <-admitted:
			t.Fatal("admitted while the backlog is full")
		default:
		}
		<-s.C() // the reader catches up: room again
		<-s.C()
		synctest.Wait()
		require.NoError(t, <-admitted)

		// A deadline and the hub's end both stop the wait.
		h.Publish("a", 0, Lifecycle, &item{})
		h.Publish("a", 0, Lifecycle, &item{})
		synctest.Wait()
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := errors.New("gave up")
		cancel(cause)
		assert.ErrorIs(t, h.Admit(ctx, closing), cause)
		close(closing)
		assert.ErrorIs(t, h.Admit(context.Background(), closing), ErrClosed)
		s.Close()
	})
}

func TestHubRemoveLetsAdmitGoOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub()
		s := New[string](Config[string, item]{Buffer: 0, Backlog: 1, Policy: Lossless, Stamped: stamp, OnSpace: h.Signal})
		require.True(t, h.Add(s, nil))
		h.Publish("a", 0, Lifecycle, &item{})
		h.Publish("a", 0, Lifecycle, &item{})
		synctest.Wait()
		admitted := make(chan error, 1)
		go func() { admitted <- h.Admit(context.Background(), nil) }()
		synctest.Wait()
		h.Remove(s)
		s.Close()
		require.NoError(t, <-admitted)
		h.Remove(s) // twice: harmless
	})
}

// topicEnd is the topic of a sink's last value in the hub's tests.
const topicEnd Topic = 1

func TestHubLastValueFinishesTheSink(t *testing.T) {
	h := newHub()
	s := newSink(16, 100, Lossless)
	require.True(t, h.Add(s, func(key string, topic Topic) (bool, bool) { return key == "a", topic == topicEnd }))
	h.Publish("a", 0, Lifecycle, &item{label: "start"})
	h.Publish("a", topicEnd, Lifecycle, &item{label: "end"})
	assert.False(t, h.Observed(), "the sink left the hub")
	h.Publish("a", 0, Lifecycle, &item{label: "after"})
	var labels []string
	for v := range s.C() { // closed after its last value
		labels = append(labels, v.label)
	}
	assert.Equal(t, []string{"start", "end"}, labels)
}

func TestHubKeepsACopyNotTheValue(t *testing.T) {
	h := newHub()
	fast := newSink(16, 100, Lossless) // takes values at once
	slow := newSink(0, 100, Lossless)  // no reader yet: keeps them
	require.True(t, h.Add(fast, nil))
	require.True(t, h.Add(slow, nil))
	v := item{label: "first"}
	h.Publish("a", 0, Lifecycle, &v)
	v.label = "changed" // the publisher's own value, reused
	h.Publish("a", 0, Foldable, &v)
	v.label = "changed again"
	h.Finish()
	for name, s := range map[string]*Sink[string, item]{"fast": fast, "slow": slow} {
		var labels []string
		for _, got := range drain(s) {
			labels = append(labels, got.label)
		}
		assert.Equal(t, []string{"first", "changed"}, labels, name)
	}
}

func TestHubAllocatesOnlyForValuesKept(t *testing.T) {
	h := newHub()
	s := newSink(1, 1<<20, Lossless)
	require.True(t, h.Add(s, nil))
	v := item{label: "v"}
	taken := testing.AllocsPerRun(1000, func() {
		h.Publish("a", 0, Lifecycle, &v)
		<-s.C()
	})
	assert.Zero(t, taken, "a value the channel takes at once is not copied to the heap")

	// A reader that does not read: every value is kept, keptSlab to an
	// allocation, besides the queue's own blocks (32 entries each) and
	// the pump's start.
	const n = 100 * keptSlab
	published := 0
	kept := testing.AllocsPerRun(1, func() {
		for range n {
			h.Publish("a", 0, Lifecycle, &v)
			published++
		}
	})
	assert.LessOrEqual(t, kept/n, 1.0/keptSlab+1.0/16+1.0/32, "%v allocations for %d values kept", kept, n)
	h.Finish()
	assert.Len(t, drain(s), published)
}

func TestHubCopiesNothingALaggingSinkLoses(t *testing.T) {
	h := newHub()
	s := newSink(0, 1, Lagging) // no reader: one value fills it
	require.True(t, h.Add(s, nil))
	v := item{label: "v"}
	h.Publish("a", 0, Lifecycle, &v) // kept: the pump holds it
	allocs := testing.AllocsPerRun(100, func() {
		h.Publish("a", 0, Lifecycle, &v) // lost, named in one notice
	})
	assert.Zero(t, allocs, "a value that is lost is not copied")
	assert.Positive(t, s.Stats().Lost)
	s.Close()
}

func TestHubLetsTheSlabGoWhenReadersCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub()
		s := newSink(1, 100, Lossless)
		require.True(t, h.Add(s, nil))
		v := item{label: "v"}
		h.Publish("a", 0, Lifecycle, &v) // into the channel
		h.Publish("a", 0, Lifecycle, &v) // the channel is full: kept
		h.mu.Lock()
		assert.NotNil(t, h.slab)
		h.mu.Unlock()
		<-s.C()
		<-s.C()
		synctest.Wait() // the pump has delivered all and ended
		for range keptSlab {
			h.Publish("a", 0, Lifecycle, &v) // the channel takes each at once
			<-s.C()
		}
		h.mu.Lock()
		assert.Nil(t, h.slab, "no slab, nor the delivered values it held, is kept")
		h.mu.Unlock()
		h.Finish()
	})
}
