package delivery

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// item is a test value: its sequence number and a label.
type item struct {
	seq    uint64
	label  string
	lag    [2]uint64
	keys   []string
	more   bool
	folded int
}

func lagged(first, last uint64, keys []string, more bool) item {
	return item{label: "lag", lag: [2]uint64{first, last}, keys: append([]string(nil), keys...), more: more}
}

func stamp(v item, seq uint64, folded int) item {
	v.seq, v.folded = seq, folded
	return v
}

func newSink(buffer, backlog int, p Policy) *Sink[string, item] {
	return New[string](Config[string, item]{
		Buffer:  buffer,
		Backlog: backlog,
		Policy:  p,
		Lagged:  lagged,
		Stamped: stamp,
	})
}

func drain(s *Sink[string, item]) []item {
	var out []item
	for v := range s.C() {
		out = append(out, v)
	}
	return out
}

func TestFastPathUsesNoGoroutine(t *testing.T) {
	s := newSink(4, 10, Lagging)
	for i := uint64(1); i <= 4; i++ {
		s.Push("k", i, &item{seq: i})
	}
	s.mu.Lock()
	assert.False(t, s.pumping, "values that fit in the channel go straight in")
	s.mu.Unlock()
	s.Finish()
	assert.Len(t, drain(s), 4)
	assert.Equal(t, uint64(4), s.Stats().Delivered)
}

func TestOrderIsKeptThroughTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(2, 1000, Lossless)
		for i := uint64(1); i <= 500; i++ {
			s.Push("k", i, &item{seq: i})
		}
		synctest.Wait()
		// Two in the channel; the rest queued or in the pump's hands.
		assert.Equal(t, 498, s.Stats().Pending)
		s.Finish()
		got := drain(s)
		require.Len(t, got, 500)
		for i, v := range got {
			assert.Equal(t, uint64(i+1), v.seq)
		}
	})
}

func TestLatestReplacesInPlaceAndKeepsItsNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 100, Lossless) // unbuffered: everything waits
		s.Push("a", 1, &item{seq: 1, label: "a-info"})
		synctest.Wait() // the pump holds a-info, blocked on the reader
		s.PushFold("a", 2, &item{seq: 2, label: "a-10%"})
		s.Push("b", 3, &item{seq: 3, label: "b-info"})
		s.PushFold("a", 4, &item{seq: 4, label: "a-20%"})
		s.PushFold("a", 5, &item{seq: 5, label: "a-30%"})
		s.Push("a", 6, &item{seq: 6, label: "a-complete"})
		s.Finish()
		got := drain(s)
		require.Len(t, got, 4)
		assert.Equal(t, []string{"a-info", "a-30%", "b-info", "a-complete"},
			[]string{got[0].label, got[1].label, got[2].label, got[3].label})
		assert.Equal(t, uint64(2), got[1].seq, "the replacement takes the replaced value's number")
		assert.Equal(t, 2, got[1].folded, "and says how many it replaced")
		st := s.Stats()
		assert.Equal(t, uint64(2), st.Coalesced)
		assert.Equal(t, uint64(4), st.Delivered)
	})
}

func TestLatestAfterDeliveryIsQueuedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 100, Lagging)
		s.PushFold("a", 1, &item{seq: 1, label: "first"})
		synctest.Wait()
		v := <-s.C()
		assert.Equal(t, "first", v.label)
		s.PushFold("a", 2, &item{seq: 2, label: "second"})
		s.Finish()
		got := drain(s)
		require.Len(t, got, 1)
		assert.Equal(t, "second", got[0].label)
	})
}

func TestLaggingDropsAndNamesTheRange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 3, Lagging)
		s.Push("k", 1, &item{seq: 1})
		// The pump takes 1 and waits for a reader with it: what comes
		// next stays queued, where a notice can be extended.
		synctest.Wait()
		for i := uint64(2); i <= 10; i++ {
			s.Push("k", i, &item{seq: i})
		}
		synctest.Wait()
		st := s.Stats()
		// 1..3 fill the backlog (1 in the pump's hands); 4..10 are lost
		// under one notice.
		assert.Equal(t, uint64(7), st.Lost)
		assert.Equal(t, uint64(1), st.Lags)
		assert.LessOrEqual(t, st.MaxPending, 4)

		// Once the reader catches up, new values flow again.
		for range 3 {
			<-s.C()
		}
		lag := <-s.C()
		assert.Equal(t, "lag", lag.label)
		assert.Equal(t, [2]uint64{4, 10}, lag.lag)
		s.Push("k", 11, &item{seq: 11})
		s.Finish()
		got := drain(s)
		require.Len(t, got, 1)
		assert.Equal(t, uint64(11), got[0].seq)
	})
}

func TestLaggingLatestIsNotReplacedAcrossALagNotice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 3, Lagging) // what the pump holds counts too
		s.Push("k", 1, &item{seq: 1, label: "in flight"})
		synctest.Wait()
		s.PushFold("a", 2, &item{seq: 2, label: "a-old"})
		s.Push("k", 3, &item{seq: 3, label: "fills"})
		s.Push("k", 4, &item{seq: 4, label: "lost"}) // lag notice {4,4}
		// A replacement now would carry seq 5 before the notice that
		// names 4 as lost; 5 must be lost too instead.
		s.PushFold("a", 5, &item{seq: 5, label: "a-new"})
		s.Finish()
		got := drain(s)
		labels := make([]string, len(got))
		for i, v := range got {
			labels[i] = v.label
		}
		assert.Equal(t, []string{"in flight", "a-old", "fills", "lag"}, labels)
		assert.Equal(t, [2]uint64{4, 5}, got[3].lag)
	})
}

func TestLosslessFullAndOnSpace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		spaces := 0
		s := New[string](Config[string, item]{
			Buffer: 0, Backlog: 2, Policy: Lossless,
			Stamped: func(v item, _ uint64, _ int) item { return v },
			OnSpace: func() { mu.Lock(); spaces++; mu.Unlock() },
		})
		assert.False(t, s.Full())
		for i := uint64(1); i <= 5; i++ {
			s.Push("k", i, &item{seq: i}) // never dropped, even past the bound
		}
		synctest.Wait()
		assert.True(t, s.Full())
		// Latest values do not count against the bound.
		s.PushFold("a", 6, &item{seq: 6})
		s.PushFold("b", 7, &item{seq: 7})
		assert.Equal(t, 7, s.Stats().Pending)
		assert.True(t, s.Full())
		for range 4 {
			<-s.C()
		}
		synctest.Wait()
		assert.False(t, s.Full())
		mu.Lock()
		assert.Equal(t, 1, spaces, "signalled once, when the backlog fell below the bound")
		mu.Unlock()
		s.Finish()
		assert.Len(t, drain(s), 3)
		assert.Zero(t, s.Stats().Lost)
	})
}

func TestCloseWakesABlockedPump(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 10, Lagging)
		for i := uint64(1); i <= 5; i++ {
			s.Push("k", i, &item{seq: i})
		}
		synctest.Wait() // the pump is blocked on the unread channel
		s.Close()
		s.Close()
		_, open := <-s.C()
		assert.False(t, open)
		s.Push("k", 6, &item{seq: 6}) // after Close: ignored
		assert.Zero(t, s.Stats().Pending)
		assert.False(t, s.Full())
	})
}

func TestFinishWithoutPumpClosesAtOnce(t *testing.T) {
	s := newSink(1, 10, Lagging)
	s.Finish()
	_, open := <-s.C()
	assert.False(t, open)
	s.Close() // after Finish: harmless
}

func TestConcurrentProducers(t *testing.T) {
	s := newSink(8, 1_000_000, Lossless)
	var mu sync.Mutex
	var seq uint64
	var wg sync.WaitGroup
	var got []item
	done := make(chan struct{})
	go func() {
		got = drain(s)
		close(done)
	}()
	for p := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				// Producers take numbers and push under one lock, as the
				// Runner does.
				mu.Lock()
				seq++
				if i%2 == 0 {
					s.PushFold(string(rune('a'+p)), seq, &item{seq: seq})
				} else {
					s.Push("k", seq, &item{seq: seq})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.Finish()
	<-done
	var prev uint64
	for _, v := range got {
		require.Greater(t, v.seq, prev)
		prev = v.seq
	}
	st := s.Stats()
	assert.Equal(t, uint64(len(got)), st.Delivered)
	assert.Equal(t, uint64(16000), st.Delivered+st.Coalesced)
}

func TestLogsKeepTheirPlaceAndDropOldestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New[string](Config[string, item]{
			Buffer: 0, Backlog: 100, Policy: Lossless, LogBacklog: 3,
			Stamped: stamp,
		})
		s.Push("k", 1, &item{seq: 1, label: "info"})
		synctest.Wait()
		for i := uint64(2); i <= 6; i++ {
			s.PushLog("k", i, &item{seq: i, label: "log"})
		}
		s.Push("k", 7, &item{seq: 7, label: "complete"})
		s.PushLog("k", 8, &item{seq: 8, label: "log"})
		s.Finish()
		got := drain(s)
		var seqs []uint64
		for _, v := range got {
			seqs = append(seqs, v.seq)
		}
		// 1 was in flight; the log bound (3) kept the newest lines.
		assert.Equal(t, []uint64{1, 5, 6, 7, 8}, seqs)
		st := s.Stats()
		assert.Equal(t, uint64(3), st.LogDropped)
		assert.LessOrEqual(t, st.MaxPending, 6)
	})
}

// A log value that comes during a run of losses is lost with it, so that
// the run stays one notice and the backlog its bound; a log value kept
// before the run is delivered before the notice.
func TestLogValueDuringALossRunIsLostWithIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New[string](Config[string, item]{
			Buffer: 0, Backlog: 1, Policy: Lagging, LogBacklog: 10,
			Lagged:  lagged,
			Stamped: stamp,
		})
		s.Push("k", 1, &item{seq: 1})
		synctest.Wait()                                // the pump holds 1, waiting for a reader: the rest stays queued
		s.PushLog("k", 2, &item{seq: 2, label: "log"}) // kept: no loss yet
		s.Push("k", 3, &item{seq: 3})                  // lost
		s.PushLog("l", 4, &item{seq: 4, label: "log"}) // lost with the run, its key named
		s.Push("k", 5, &item{seq: 5})                  // lost, the same notice
		s.Finish()
		var got []string
		for v := range s.C() {
			if v.label == "lag" {
				got = append(got, fmt.Sprint("lag ", v.lag[0], "-", v.lag[1], " ", v.keys))
				continue
			}
			got = append(got, fmt.Sprint(v.seq))
		}
		assert.Equal(t, []string{"1", "2", "lag 3-5 [k l]"}, got)
		st := s.Stats()
		assert.Equal(t, uint64(1), st.LogDropped)
		assert.Equal(t, uint64(2), st.Lost)
		assert.Equal(t, uint64(1), st.Lags)
	})
}

func TestFoldNeverCrossesANewerValueOfItsKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 100, Lossless)
		s.Push("a", 1, &item{seq: 1, label: "a-info"})
		synctest.Wait()
		s.PushFold("a", 2, &item{seq: 2, label: "a-paused"})
		s.Push("a", 3, &item{seq: 3, label: "a-abandoned"})
		s.PushFold("a", 4, &item{seq: 4, label: "a-progress"}) // cannot replace 2: 3 is between
		s.PushFold("a", 5, &item{seq: 5, label: "a-resumed"})  // replaces 4
		s.Finish()
		var labels []string
		var seqs []uint64
		for _, v := range drain(s) {
			labels = append(labels, v.label)
			seqs = append(seqs, v.seq)
		}
		assert.Equal(t, []string{"a-info", "a-paused", "a-abandoned", "a-resumed"}, labels)
		assert.Equal(t, []uint64{1, 2, 3, 4}, seqs)
	})
}

// A stalled Lossless reader of one job paused and resumed without end
// holds a bounded number of values: the control values fold.
func TestLosslessControlStormIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 100, Lossless)
		s.Push("a", 1, &item{seq: 1, label: "info"})
		synctest.Wait()
		seq := uint64(1)
		for i := range 30_000 {
			seq++
			label := "paused"
			if i%2 == 1 {
				label = "resumed"
			}
			s.PushFold("a", seq, &item{seq: seq, label: label})
		}
		synctest.Wait()
		st := s.Stats()
		// info, and the one folded value queued; the pump may hold one
		// more it took before the reader stalled, which it can no longer
		// replace.
		assert.LessOrEqual(t, st.MaxPending, 3)
		assert.False(t, s.Full())
		seq++
		s.Push("a", seq, &item{seq: seq, label: "complete"})
		s.Finish()
		got := drain(s)
		require.GreaterOrEqual(t, len(got), 3)
		require.LessOrEqual(t, len(got), 4)
		assert.Equal(t, "info", got[0].label)
		assert.Equal(t, "resumed", got[len(got)-2].label, "the newest state wins")
		assert.Equal(t, "complete", got[len(got)-1].label)
		control := 0
		for _, v := range got[1 : len(got)-1] {
			control += 1 + v.folded
		}
		assert.Equal(t, 30_000, control, "every control value is delivered or counted in the one that replaced it")
		assert.Equal(t, uint64(30_000-(len(got)-2)), s.Stats().Coalesced)
	})
}

func TestLagNoticeNamesTheKeysItLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 2, Lagging)
		s.Push("in-flight", 1, &item{seq: 1})
		synctest.Wait()
		s.Push("fills", 2, &item{seq: 2})
		seq := uint64(2)
		for i := range MaxLagKeys + 10 {
			for range 2 { // each key twice: named once
				seq++
				s.Push(fmt.Sprint("job-", i), seq, &item{seq: seq})
			}
		}
		s.Finish()
		got := drain(s)
		require.Len(t, got, 3)
		lag := got[2]
		assert.Equal(t, "lag", lag.label)
		assert.Equal(t, [2]uint64{3, seq}, lag.lag)
		assert.Len(t, lag.keys, MaxLagKeys)
		assert.Equal(t, "job-0", lag.keys[0])
		assert.True(t, lag.more, "the notice says it could not name them all")
	})
}

func TestDeliveryAllocatesNothingPerValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSink(0, 1<<20, Lossless)
		v := &item{seq: 1}
		done := make(chan struct{})
		go func() {
			for range s.C() {
			}
			close(done)
		}()
		allocs := testing.AllocsPerRun(1000, func() { s.PushFold("a", 1, v); s.Push("b", 2, v) })
		s.Finish()
		<-done
		assert.LessOrEqual(t, allocs, 0.1)
	})
}
