package bgjob_test

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// The tests in this file hold each documented bound where a job, a slow
// reader or a slow store could break it.

// A lossless reader that stops reading while a live job is paused and
// resumed thousands of times holds a bounded backlog: the job's control
// events fold into its newest state instead of queueing.
func TestLosslessBoundHoldsAcrossPauseResumeCycles(t *testing.T) {
	const cycles, backlog = 14_500, 100
	r := newRunner(t)
	sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBacklog(backlog), bgjob.WithBuffer(1))
	require.NoError(t, err)
	h := start(t, r, "toggled", func(ctx context.Context, p *bgjob.Progress) error {
		for {
			if err := p.Checkpoint(); err != nil {
				return nil
			}
			runtime.Gosched()
		}
	})
	for range cycles {
		require.NoError(t, h.Pause())
		for h.Status().State != bgjob.StatePaused {
			runtime.Gosched()
		}
		require.NoError(t, h.Resume())
	}
	st := sub.Stats()
	assert.LessOrEqual(t, st.MaxPending, backlog, "folded, not queued: %+v", st)
	assert.GreaterOrEqual(t, st.Coalesced, uint64(2*cycles-10))
	require.NoError(t, h.Cancel(nil))
	require.NoError(t, r.Shutdown(context.Background()))
	evs := collect(sub.Events())
	checkLifecycles(t, evs, 1)
	folded := 0
	for _, ev := range evs {
		if ev.Type == bgjob.EventPaused || ev.Type == bgjob.EventResumed {
			folded += 1 + ev.Folded
		}
	}
	assert.Equal(t, 2*cycles, folded, "every pause and resume is delivered or counted in the event that folded it")
}

// The same with stalls, whose events carry stacks.
func TestLosslessBoundHoldsAcrossStallCycles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cycles, backlog = 300, 50
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second))
		require.NoError(t, err)
		sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBacklog(backlog), bgjob.WithBuffer(1))
		require.NoError(t, err)
		// A second reader keeps up, and counts what was published.
		prompt, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithTypes(bgjob.EventStalled, bgjob.EventUnstalled))
		require.NoError(t, err)
		var published []bgjob.Event
		read := make(chan struct{})
		go func() {
			published = collect(prompt.Events())
			close(read)
		}()
		h, err := r.Start(t.Context(), "hiccups", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			for i := range cycles {
				time.Sleep(2500 * time.Millisecond) // stalls
				p.SetStep(int64(i + 1))             // and recovers
				time.Sleep(300 * time.Millisecond)
			}
			return nil
		}))
		require.NoError(t, err)
		require.NoError(t, h.Wait(t.Context()))
		st := sub.Stats()
		assert.LessOrEqual(t, st.MaxPending, backlog, "%+v", st)
		require.NoError(t, r.Shutdown(context.Background()))
		<-read
		assert.Len(t, published, 2*cycles, "each stall and its end was published")
		foldable, folded := 0, 0
		for _, ev := range collect(sub.Events()) {
			switch ev.Type {
			case bgjob.EventProgress, bgjob.EventStalled, bgjob.EventUnstalled:
				foldable++
				folded += ev.Folded
			}
		}
		assert.GreaterOrEqual(t, foldable+folded, 2*cycles, "the stalled reader got each or a count of it")
		assert.Equal(t, uint64(folded), sub.Stats().Coalesced)
	})
}

// heapAfterGC returns the bytes of live heap once the garbage is collected.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Huge progress messages are cut, everywhere they are kept: four runs that
// set 256 KB messages keep kilobytes, not hundreds of megabytes.
func TestMessagesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
		require.NoError(t, err)
		before := heapAfterGC()
		var handles []*bgjob.Handle
		for range 4 {
			h, err := r.Start(t.Context(), "verbose", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
				for i := range 600 {
					p.SetMessage(strings.Repeat(string(rune('a'+i%26)), 256<<10) + "\xff")
					p.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
				return nil
			}))
			require.NoError(t, err)
			handles = append(handles, h)
		}
		for _, h := range handles {
			require.NoError(t, h.Wait(t.Context()))
		}
		grown := int64(heapAfterGC()) - int64(before)
		assert.Less(t, grown, int64(8<<20), "four runs keep %d bytes", grown)
		for _, h := range handles {
			msg := h.Status().Message
			assert.LessOrEqual(t, len(msg), bgjob.MaxMessageLen)
			assert.True(t, strings.HasSuffix(msg, "…"))
			for _, pt := range h.Timeline() {
				assert.LessOrEqual(t, len(pt.Message), 128)
			}
		}
		require.NoError(t, r.Shutdown(context.Background()))
		for ev := range sub.Events() {
			assert.LessOrEqual(t, len(ev.Message), bgjob.MaxMessageLen)
		}
	})
}

// What the Runner keeps of a job's text is its own copy: short lines cut
// from huge strings do not keep the huge strings alive.
func TestKeptTextDoesNotPinItsSource(t *testing.T) {
	r := newRunner(t, bgjob.WithLogLimit(100))
	before := heapAfterGC()
	h := start(t, r, "slicer", func(ctx context.Context, p *bgjob.Progress) error {
		for range 50 {
			big := strings.Repeat("x", 4<<20)
			p.Logger().Info(big[:40], "value", big[100:140])
			p.SetMessage(big[200:240])
		}
		return nil
	})
	require.NoError(t, waitJob(t, h))
	grown := int64(heapAfterGC()) - int64(before)
	assert.Less(t, grown, int64(16<<20), "50 short lines keep %d bytes", grown)
	assert.Len(t, h.Logs(), 50)
	runtime.KeepAlive(h)
}

// What a reader receives is its own: changing it changes nothing for the
// other readers or for the job, and is no data race while they read.
func TestWhatIsHandedOutIsTheCallersOwn(t *testing.T) {
	r := newRunner(t)
	subA, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	subB, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	h := start(t, r, "shared", func(ctx context.Context, p *bgjob.Progress) error {
		p.Logger().Info("line", "k", "v")
		return p.Metric("loss", 0.5)
	})
	require.NoError(t, waitJob(t, h))
	require.NoError(t, r.Shutdown(context.Background()))

	var wg sync.WaitGroup
	var logB []bgjob.LogAttr
	for ev := range subA.Events() {
		if ev.Type == bgjob.EventLog {
			wg.Go(func() {
				for ev := range subB.Events() {
					if ev.Type == bgjob.EventLog {
						logB = ev.Attrs
					}
				}
			})
			ev.Attrs[0].Value = slog.StringValue("changed by A") // while B reads
		}
	}
	wg.Wait()
	require.Len(t, logB, 1)
	assert.Equal(t, "v", logB[0].Value.String())

	sub, err := r.Subscribe(bgjob.WithJob(h.ID()))
	require.ErrorIs(t, err, bgjob.ErrRunnerClosed)
	require.Nil(t, sub)
	st := h.Status()
	st.Metrics[0].Value = -1
	assert.Equal(t, 0.5, h.Status().Metrics[0].Value)
	h.Metrics()[0].Points[0].Max = -1
	assert.Equal(t, 0.5, h.Metrics()[0].Points[0].Max)

	logs := h.Logs()
	logs[0].Attrs[0].Key = "changed"
	logs[0].Message = "changed"
	assert.Equal(t, "k", h.Logs()[0].Attrs[0].Key)
	assert.Equal(t, "line", h.Logs()[0].Message)

	for rec := range r.History(bgjob.HistoryFilter{}) {
		rec.Logs[0].Attrs[0].Key = "changed"
		rec.Series[0].Points[0].Max = -1
		rec.Metrics[0].Value = -1
		if len(rec.Timeline) > 0 && rec.Timeline[0].Resources != nil {
			rec.Timeline[0].Resources.Goroutines = -1
		}
	}
	for rec := range r.History(bgjob.HistoryFilter{}) {
		assert.Equal(t, "k", rec.Logs[0].Attrs[0].Key)
		assert.Equal(t, 0.5, rec.Series[0].Points[0].Max)
		assert.Equal(t, 0.5, rec.Metrics[0].Value)
		for _, pt := range rec.Timeline {
			if pt.Resources != nil {
				assert.NotEqual(t, -1, pt.Resources.Goroutines)
			}
		}
	}
}

// A burst of queued jobs leaves no memory behind once it is gone.
func TestMemoryReturnsAfterABurst(t *testing.T) {
	r := newRunner(t, bgjob.WithMaxRunning(1), bgjob.WithHistoryLimit(0))
	release := make(chan struct{})
	first := start(t, r, "first", blocker(release))
	before := heapAfterGC()
	const burst = 200_000
	handles := make([]*bgjob.Handle, 0, burst)
	for range burst {
		handles = append(handles, start(t, r, "burst", succeed))
	}
	during := heapAfterGC()
	for _, h := range handles {
		require.NoError(t, h.Cancel(nil))
	}
	handles = nil
	close(release)
	waitJob(t, first)
	after := heapAfterGC()
	t.Logf("heap: %d MB before, %d MB during the burst, %d MB after", before>>20, during>>20, after>>20)
	assert.Greater(t, during, before+(50<<20), "the burst itself takes memory")
	assert.Less(t, int64(after)-int64(before), int64(2<<20), "and gives it back")
	assert.Equal(t, burst+1, r.GetStatus().Counts[bgjob.StateCanceled]+r.GetStatus().Counts[bgjob.StateSucceeded])
}

// A week-long job paused every few minutes keeps, in its bounded
// timeline, progress over the whole week, and pauses over the whole week.
func TestTimelineCoversAWeekOfFrequentPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const week = 7 * 24 * time.Hour
		r, err := bgjob.NewRunner(bgjob.WithProgressInterval(10*time.Second), bgjob.WithResourceInterval(time.Hour))
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		h, err := r.Start(t.Context(), "week", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(int64(week / time.Minute))
			for range week / time.Minute {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				time.Sleep(time.Minute)
				p.Add(1)
			}
			return nil
		}))
		require.NoError(t, err)
		var pauser sync.WaitGroup
		pauser.Go(func() { // pause for a while every ten minutes
			for {
				select {
				case <-h.Done():
					return
				case <-time.After(10 * time.Minute):
				}
				if h.Pause() != nil {
					return
				}
				select { // the checkpoint comes within a minute
				case <-h.Done():
					return
				case <-time.After(2 * time.Minute):
				}
				if h.Resume() != nil {
					return
				}
			}
		})
		require.NoError(t, h.Wait(t.Context()))
		pauser.Wait()
		tl := h.Timeline()
		assert.LessOrEqual(t, len(tl), 2*bgjob.MaxTimeline)
		begin := tl[0].Time
		days := map[bgjob.TimelineKind][7]int{}
		for _, pt := range tl {
			d := min(6, int(pt.Time.Sub(begin)/(24*time.Hour)))
			c := days[pt.Kind]
			c[d]++
			days[pt.Kind] = c
		}
		for _, kind := range []bgjob.TimelineKind{bgjob.TimelineProgress, bgjob.TimelinePaused, bgjob.TimelineResumed} {
			for d, n := range days[kind] {
				assert.Positive(t, n, "%s points on day %d: %v", kind, d+1, days[kind])
			}
		}
		progress := slices.DeleteFunc(slices.Clone(tl), func(pt bgjob.TimelinePoint) bool { return pt.Kind != bgjob.TimelineProgress })
		assert.GreaterOrEqual(t, len(progress), 100, "pauses do not crowd out progress")
		assert.Equal(t, 100.0, progress[len(progress)-1].Percent)
	})
}

// A subscription's snapshot is handed out as a copy each time, metrics
// included.
func TestSnapshotIsTheCallersOwn(t *testing.T) {
	r := newRunner(t)
	release := make(chan struct{})
	h := start(t, r, "measured", func(ctx context.Context, p *bgjob.Progress) error {
		_ = p.Metric("loss", 0.5)
		<-release
		return nil
	})
	for len(h.Status().Metrics) == 0 {
		runtime.Gosched()
	}
	sub, err := r.Subscribe(bgjob.WithJob(h.ID()))
	require.NoError(t, err)
	defer sub.Close()
	snap := sub.Snapshot()
	snap[0].Metrics[0].Value = -1
	snap[0].Name = "changed"
	assert.Equal(t, 0.5, sub.Snapshot()[0].Metrics[0].Value)
	assert.Equal(t, "measured", sub.Snapshot()[0].Name)
	close(release)
	waitJob(t, h)
}

// A panic deep in a recursion, and a stall whose goroutines' stacks are
// huge, keep at most MaxStackLen bytes of stack, the innermost frames
// first, in the status, the error and the events.
func TestStacksAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second))
		require.NoError(t, err)
		sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
		require.NoError(t, err)
		var recurse func(n int)
		recurse = func(n int) {
			if n == 0 {
				panic("deep")
			}
			recurse(n - 1)
		}
		deep, err := r.Start(t.Context(), "deep", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			recurse(5000) // a stack of some 500 KB of text
			return nil
		}))
		require.NoError(t, err)
		var pe *bgjob.PanicError
		require.ErrorAs(t, deep.Wait(t.Context()), &pe)
		assert.LessOrEqual(t, len(pe.Stack), bgjob.MaxStackLen)
		st := deep.Status()
		assert.LessOrEqual(t, len(st.Stack), bgjob.MaxStackLen)
		assert.Contains(t, st.Stack, "bounds_test.go", "the innermost frames are kept")

		release := make(chan struct{})
		stuck, err := r.Start(t.Context(), "stuck", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			// Many goroutines of the job's, each with a stack of its own
			// depth (identical ones would be shown once), make its
			// stall's stacks far longer than the bound.
			var wg sync.WaitGroup
			for i := range 300 {
				wg.Go(func() {
					var wait func(n int)
					wait = func(n int) {
						if n == 0 {
							<-release
							return
						}
						wait(n - 1)
					}
					wait(i)
				})
			}
			wg.Wait()
			return nil
		}))
		require.NoError(t, err)
		time.Sleep(3 * time.Second) // stalled, its stacks captured
		close(release)
		require.NoError(t, stuck.Wait(t.Context()))
		require.NoError(t, r.Shutdown(context.Background()))
		stalls := 0
		for ev := range sub.Events() {
			assert.LessOrEqual(t, len(ev.Stack), bgjob.MaxStackLen, "%s of %s", ev.Type, ev.JobName)
			if ev.Type == bgjob.EventStalled {
				stalls++
				assert.True(t, strings.HasSuffix(ev.Stack, "(cut at 64 KB)"), "the cut is said")
			}
		}
		assert.Equal(t, 1, stalls)
	})
}
