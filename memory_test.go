package bgjob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"log"
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

// This file tests what a run leaves behind: its log, its history record,
// its timeline and the resources it used.

func TestJobLogsReachSubscribersTheTailAndTheRunnersLogger(t *testing.T) {
	var out bytes.Buffer
	var outMu sync.Mutex
	runnerLog := slog.New(slog.NewTextHandler(lockedWriter{&outMu, &out}, nil))
	r := newRunner(t, bgjob.WithLogger(runnerLog), bgjob.WithLogLimit(3))
	events := events(t, r)
	h := start(t, r, "chatty", func(ctx context.Context, p *bgjob.Progress) error {
		l := p.Logger().With("run", 7)
		l.Info("loading data", "rows", 1000)
		l.WithGroup("epoch").Info("done", "n", 1, "loss", 0.25)
		bgjob.Logger(ctx).Warn("from the context")
		p.Logger().Debug("below the level: dropped")
		stdlog := log.New(p.LogWriter(slog.LevelInfo), "", 0)
		stdlog.Print("printed line")
		return nil
	})
	require.NoError(t, waitJob(t, h))
	require.NoError(t, r.Shutdown(context.Background()))

	var logs []bgjob.Event
	for _, ev := range checkLifecyclesWithLogs(t, collect(events)) {
		if ev.Type == bgjob.EventLog {
			logs = append(logs, ev)
		}
	}
	require.Len(t, logs, 4)
	assert.Equal(t, "loading data", logs[0].Message)
	// Attributes keep their kind: a number stays a number.
	assert.Equal(t, []bgjob.LogAttr{{Key: "run", Value: slog.Int64Value(7)}, {Key: "rows", Value: slog.Int64Value(1000)}}, logs[0].Attrs)
	assert.Equal(t, []bgjob.LogAttr{
		{Key: "run", Value: slog.Int64Value(7)}, {Key: "epoch.n", Value: slog.Int64Value(1)}, {Key: "epoch.loss", Value: slog.Float64Value(0.25)},
	}, logs[1].Attrs)
	assert.Equal(t, slog.LevelWarn, logs[2].Level)
	assert.Equal(t, "printed line", logs[3].Message)

	tail := h.Logs()
	require.Len(t, tail, 3, "the tail keeps the last WithLogLimit lines")
	assert.Equal(t, "done", tail[0].Message)
	assert.Equal(t, "printed line", tail[2].Message)

	outMu.Lock()
	text := out.String()
	outMu.Unlock()
	assert.Contains(t, text, "job_id="+h.ID().String())
	assert.Contains(t, text, "job_name=chatty")
	assert.Contains(t, text, "msg=\"loading data\"")

	// The logger outlives the job: its records reach only the Runner's
	// logger.
	var kept *bgjob.Progress
	h2 := start(t, r2(t, runnerLog), "ended", func(ctx context.Context, p *bgjob.Progress) error {
		kept = p
		return nil
	})
	waitJob(t, h2)
	kept.Logger().Info("after the end")
	assert.Empty(t, h2.Logs())
}

func r2(t *testing.T, l *slog.Logger) *bgjob.Runner { return newRunner(t, bgjob.WithLogger(l)) }

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(b)
}

// checkLifecyclesWithLogs checks the lifecycle of every job in evs, log
// events allowed between worker_started and complete.
func checkLifecyclesWithLogs(t *testing.T, evs []bgjob.Event) []bgjob.Event {
	t.Helper()
	jobs := map[[16]byte]bool{}
	var spine []bgjob.Event
	for _, ev := range evs {
		jobs[ev.JobID] = true
		if ev.Type != bgjob.EventLog {
			spine = append(spine, ev)
		}
	}
	checkLifecycles(t, spine, len(jobs))
	return evs
}

func TestLogRecordsAreBounded(t *testing.T) {
	r := newRunner(t)
	h := start(t, r, "huge", func(ctx context.Context, p *bgjob.Progress) error {
		attrs := []any{"big", strings.Repeat("v", 10_000)}
		for i := range 50 {
			attrs = append(attrs, fmt.Sprint("k", i), i)
		}
		p.Logger().Info(strings.Repeat("é", 10_000)+"tail", attrs...)
		p.Logger().Info("bad \xff\xfe bytes")
		w := p.LogWriter(slog.LevelInfo)
		fmt.Fprint(w, strings.Repeat("x", bgjob.MaxLogMessage+10))
		fmt.Fprint(w, "\nsecond\r\nthird")
		w.Flush() // "third" has no newline: Flush records it
		w.Flush() // nothing left: no record
		return nil
	})
	require.NoError(t, waitJob(t, h))
	logs := h.Logs()
	require.Len(t, logs, 6)
	assert.LessOrEqual(t, len(logs[0].Message), bgjob.MaxLogMessage)
	assert.True(t, strings.HasSuffix(logs[0].Message, "…"))
	assert.True(t, utf8Valid(logs[0].Message), "cut on a rune boundary")
	// The big value, cut to MaxLogAttrValue, and small ones up to
	// MaxLogAttrs; the rest is counted.
	assert.Len(t, logs[0].Attrs, bgjob.MaxLogAttrs+1)
	assert.Equal(t, bgjob.LogAttr{Key: "bgjob.dropped_attrs", Value: slog.Int64Value(19)}, logs[0].Attrs[bgjob.MaxLogAttrs])
	assert.LessOrEqual(t, len(logs[0].Attrs[0].Value.String()), bgjob.MaxLogAttrValue)
	assert.Equal(t, "bad \uFFFD bytes", logs[1].Message)
	assert.Equal(t, strings.Repeat("x", bgjob.MaxLogMessage), logs[2].Message, "a long line is cut into records")
	assert.Equal(t, "xxxxxxxxxx", logs[3].Message)
	assert.Equal(t, "second", logs[4].Message)
	assert.Equal(t, "third", logs[5].Message)
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "!") == s }

func TestLogRecordAttributesHaveAByteBudget(t *testing.T) {
	r := newRunner(t)
	h := start(t, r, "wide", func(ctx context.Context, p *bgjob.Progress) error {
		var attrs []any
		for i := range 10 {
			attrs = append(attrs, fmt.Sprint("k", i), strings.Repeat("v", 1000))
		}
		p.Logger().Info("wide", attrs...)
		return nil
	})
	require.NoError(t, waitJob(t, h))
	attrs := h.Logs()[0].Attrs
	size := 0
	for _, a := range attrs[:len(attrs)-1] {
		size += len(a.Key) + len(a.Value.String())
	}
	assert.LessOrEqual(t, size, bgjob.MaxLogAttrBytes)
	assert.Equal(t, bgjob.LogAttr{Key: "bgjob.dropped_attrs", Value: slog.Int64Value(6)}, attrs[len(attrs)-1])
}

// A subscriber that does not read while a job logs a hundred thousand
// lines: the job never waits, the subscriber loses the oldest lines first
// and says how many, and it loses nothing else.
func TestStalledSubscriberLosesOldestLogLinesFirst(t *testing.T) {
	const lines, logBacklog = 100_000, 50
	r := newRunner(t, bgjob.WithLogLimit(10))
	sub, err := r.Subscribe(bgjob.WithBuffer(1), bgjob.WithLogBacklog(logBacklog), bgjob.WithPolicy(bgjob.Lossless))
	require.NoError(t, err)
	h := start(t, r, "logger", func(ctx context.Context, p *bgjob.Progress) error {
		l := p.Logger()
		for i := range lines {
			l.Info("line", "i", i)
		}
		return nil
	})
	require.NoError(t, waitJob(t, h), "the job never waits for the reader")
	require.NoError(t, r.Shutdown(context.Background()))
	evs := collect(sub.Events())
	checkLifecyclesWithLogs(t, evs)
	var got []string
	for _, ev := range evs {
		if ev.Type == bgjob.EventLog {
			got = append(got, ev.Attrs[0].Value.String())
		}
	}
	st := sub.Stats()
	assert.Equal(t, uint64(lines-len(got)), st.LogDropped, "every dropped line is counted")
	// The bound, plus what the pump had already taken to hand over.
	assert.LessOrEqual(t, len(got), logBacklog+64+2)
	assert.Equal(t, fmt.Sprint(lines-1), got[len(got)-1], "the newest line is kept")
	assert.LessOrEqual(t, st.MaxPending, logBacklog+64+5)
	assert.Len(t, h.Logs(), 10)
}

func TestHistoryRecordsRunsAndFilters(t *testing.T) {
	r := newRunner(t, bgjob.WithHistoryLimit(5), bgjob.WithMaxRunning(1))
	errBad := errors.New("bad batch")
	for i := range 8 {
		name := "train"
		if i%2 == 1 {
			name = "eval"
		}
		h := start(t, r, name, func(ctx context.Context, p *bgjob.Progress) error {
			p.Report(float64(10*i), fmt.Sprint("step ", i))
			p.Logger().Info("working", "i", i)
			if i%3 == 0 {
				return errBad
			}
			return nil
		})
		waitJob(t, h)
	}
	var all []bgjob.JobRecord
	for run := range r.History(bgjob.HistoryFilter{}) {
		all = append(all, run)
	}
	require.Len(t, all, 5, "the history keeps its bound")
	assert.Equal(t, "step 7", all[0].Message, "newest first")
	assert.Equal(t, "step 3", all[4].Message)
	assert.Equal(t, 70.0, all[0].Percent, "the last progress")
	require.Len(t, all[0].Logs, 1)
	assert.Equal(t, "working", all[0].Logs[0].Message)

	var failed []string
	for run := range r.History(bgjob.HistoryFilter{States: []bgjob.State{bgjob.StateFailed}}) {
		failed = append(failed, run.Message)
		assert.ErrorIs(t, run.Err, errBad)
	}
	assert.Equal(t, []string{"step 6", "step 3"}, failed)
	n := 0
	for run := range r.History(bgjob.HistoryFilter{Name: "eval", States: []bgjob.State{bgjob.StateSucceeded}}) {
		assert.Equal(t, "eval", run.Name)
		n++
	}
	assert.Equal(t, 2, n)
	for range r.History(bgjob.HistoryFilter{}) {
		break // stopping early is fine
	}
}

func TestHistoryBoundHeldOverManyJobs(t *testing.T) {
	r := newRunner(t, bgjob.WithHistoryLimit(50))
	for range 20_000 {
		waitJob(t, start(t, r, "short", succeed))
	}
	n := 0
	for range r.History(bgjob.HistoryFilter{}) {
		n++
	}
	assert.Equal(t, 50, n)
	assert.Equal(t, 20_000, r.GetStatus().Counts[bgjob.StateSucceeded])

	none := newRunner(t, bgjob.WithHistoryLimit(0))
	h := start(t, none, "forgotten", succeed)
	waitJob(t, h)
	for range none.History(bgjob.HistoryFilter{}) {
		t.Fatal("a zero limit keeps no run")
	}
	assert.Equal(t, bgjob.StateSucceeded, h.Status().State, "the handle keeps its own job")
}

func TestReadingTheHistoryWhileJobsFinish(t *testing.T) {
	r := newRunner(t, bgjob.WithHistoryLimit(100))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			seen := map[[16]byte]bool{}
			for run := range r.History(bgjob.HistoryFilter{}) {
				assert.False(t, seen[run.ID], "each run once")
				seen[run.ID] = true
				assert.True(t, run.State.Terminal())
			}
			assert.LessOrEqual(t, len(seen), 100)
		}
	})
	for range 2000 {
		start(t, r, "j", succeed)
	}
	require.NoError(t, r.Shutdown(context.Background()))
	close(stop)
	wg.Wait()
}

// recordingHistory is a HistoryStore, as a durable store would be.
type recordingHistory struct {
	mu   sync.Mutex
	runs []bgjob.JobRecord
	fail bool
}

func (h *recordingHistory) Add(run bgjob.JobRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		return errors.New("disk full")
	}
	h.runs = append(h.runs, run)
	return nil
}

func (h *recordingHistory) Records() iter.Seq[bgjob.JobRecord] {
	return func(yield func(bgjob.JobRecord) bool) {
		h.mu.Lock()
		runs := append([]bgjob.JobRecord(nil), h.runs...)
		h.mu.Unlock()
		for i := len(runs) - 1; i >= 0; i-- {
			if !yield(runs[i]) {
				return
			}
		}
	}
}

func TestPluggableHistory(t *testing.T) {
	store := &recordingHistory{}
	var logged bytes.Buffer
	var mu sync.Mutex
	r := newRunner(t, bgjob.WithHistoryStore(store), bgjob.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))))
	h := start(t, r, "stored", succeed)
	waitJob(t, h)
	found, err := r.Job(h.ID())
	require.NoError(t, err)
	assert.Equal(t, bgjob.StateSucceeded, found.Status().State)
	require.Eventually(t, func() bool { return len(slices.Collect(r.History(bgjob.HistoryFilter{}))) == 1 },
		time.Minute, time.Millisecond, "the store gets the record on the Runner's own goroutine")
	store.mu.Lock()
	assert.Equal(t, h.ID(), store.runs[0].ID)
	store.fail = true
	store.mu.Unlock()

	waitJob(t, start(t, r, "lost", succeed))
	require.Eventually(t, func() bool { return r.GetStatus().History.Failed == 1 }, time.Minute, time.Millisecond,
		"a failing store is counted")
	mu.Lock()
	assert.Contains(t, logged.String(), "disk full", "and reported in the log, not silent")
	mu.Unlock()
	_, err = bgjob.NewRunner(bgjob.WithHistoryStore(nil))
	assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
}

func TestTimelineRecordsProgressPausesStallsAndResources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second), bgjob.WithResourceInterval(500*time.Millisecond))
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		h, err := r.Start(t.Context(), "timeline", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(20)
			time.Sleep(50 * time.Millisecond)
			for i := range 20 {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				if i == 10 {
					time.Sleep(2 * time.Second) // a stall
				}
				p.SetMessage(fmt.Sprint("batch ", i/5))
				time.Sleep(100 * time.Millisecond)
				p.Add(1)
			}
			return nil
		}))
		require.NoError(t, err)
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, h.Pause())
		time.Sleep(time.Second)
		require.NoError(t, h.Resume())
		require.NoError(t, h.Wait(t.Context()))

		kinds := map[bgjob.TimelineKind]int{}
		var messages []string
		var last bgjob.TimelinePoint
		for i, pt := range h.Timeline() {
			kinds[pt.Kind]++
			if pt.Message != "" {
				messages = append(messages, pt.Message)
			}
			if i > 0 {
				assert.False(t, pt.Time.Before(last.Time), "in time order")
			}
			if pt.Kind == bgjob.TimelineResources {
				require.NotNil(t, pt.Resources)
				assert.Positive(t, pt.Resources.Goroutines)
				assert.Positive(t, pt.Resources.Heap)
			}
			last = pt
		}
		assert.Positive(t, kinds[bgjob.TimelineProgress])
		assert.Equal(t, 1, kinds[bgjob.TimelinePaused])
		assert.Equal(t, 1, kinds[bgjob.TimelineResumed])
		assert.Equal(t, 1, kinds[bgjob.TimelineStalled])
		assert.Equal(t, 1, kinds[bgjob.TimelineUnstalled])
		assert.GreaterOrEqual(t, kinds[bgjob.TimelineResources], 8)
		assert.Equal(t, []string{"batch 0", "batch 1", "batch 2", "batch 3"}, messages, "messages when they change")
		assert.Equal(t, 100.0, last.Percent, "the last point is the end")
		assert.NotZero(t, r.GetStatus().Resources.Goroutines)

		// The history keeps the same timeline.
		for run := range r.History(bgjob.HistoryFilter{}) {
			assert.Equal(t, h.Timeline(), run.Timeline)
		}
	})
}

func TestTimelineMemoryIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithResourceInterval(time.Hour))
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		h, err := r.Start(t.Context(), "week-long", steadyJob(20_000)) // 100ms each: 33 minutes
		require.NoError(t, err)
		require.NoError(t, h.Wait(t.Context()))
		tl := h.Timeline()
		progress := 0
		for _, pt := range tl {
			if pt.Kind == bgjob.TimelineProgress {
				progress++
			}
		}
		assert.LessOrEqual(t, progress, bgjob.MaxTimeline)
		assert.Greater(t, progress, bgjob.MaxTimeline/4, "downsampled, not emptied")
		assert.Equal(t, 100.0, tl[len(tl)-1].Percent)
		assert.Less(t, tl[0].Percent, 1.0, "the start is kept")
	})
}

// steadyJob takes steps steps of 100ms each.
func steadyJob(steps int64) bgjob.JobFunc {
	return func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(steps)
		for range steps {
			time.Sleep(100 * time.Millisecond)
			p.Add(1)
		}
		return nil
	}
}

func TestLockedThreadRecordsItsCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread CPU time is read on Linux")
	}
	r := newRunner(t, bgjob.WithResourceInterval(time.Millisecond), bgjob.WithProgressInterval(time.Millisecond))
	release := make(chan struct{})
	h := start(t, r, "pinned", func(ctx context.Context, p *bgjob.Progress) error {
		x := 0.0
		for {
			select {
			case <-release:
				p.SetMessage(fmt.Sprint(x > 0))
				return nil
			default:
			}
			for i := range 100_000 {
				x += float64(i)
			}
		}
	}, bgjob.LockOSThread())
	for {
		found := false
		for _, pt := range h.Timeline() {
			if pt.Resources != nil && pt.Resources.ThreadCPU > 0 {
				found = true
			}
		}
		if found {
			break
		}
		runtime.Gosched()
	}
	close(release)
	require.NoError(t, waitJob(t, h))
	seen := map[time.Time]bool{}
	for _, pt := range h.Timeline() {
		if pt.Kind == bgjob.TimelineResources {
			assert.False(t, seen[pt.Time], "one resource sample per instant")
			seen[pt.Time] = true
		}
	}
}

func TestMemoryOptionsBadInput(t *testing.T) {
	for _, give := range []bgjob.Option{
		bgjob.WithResourceInterval(0), bgjob.WithResourceInterval(-time.Second),
		bgjob.WithLogLimit(-1), bgjob.WithLogLevel(nil), bgjob.WithHistoryStore(nil),
	} {
		_, err := bgjob.NewRunner(give)
		assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
	}
	r := newRunner(t)
	_, err := r.Subscribe(bgjob.WithLogBacklog(0))
	assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
}

func TestLogWriterRecords(t *testing.T) {
	r := newRunner(t, bgjob.WithLogLimit(1000))
	var got []bgjob.LogRecord
	h := start(t, r, "writer", func(ctx context.Context, p *bgjob.Progress) error {
		w := p.LogWriter(slog.LevelInfo)
		fmt.Fprint(w, strings.Repeat("x", 10_000)+"\n")
		fmt.Fprint(w, strings.Repeat("a", bgjob.MaxLogMessage-1)+"é\n")
		w.Write(bytes.Repeat([]byte("y"), 64*bgjob.MaxLogMessage)) // no newline: one pass
		fmt.Fprint(w, "\n\n")
		return nil
	})
	require.NoError(t, waitJob(t, h))
	got = h.Logs()
	var sizes []int
	for _, rec := range got {
		sizes = append(sizes, len(rec.Message))
		assert.True(t, utf8Valid(rec.Message), "no character cut in two")
		assert.NotContains(t, rec.Message, "\uFFFD")
	}
	want := []int{4096, 4096, 1808, 4095, 2}
	for range 64 {
		want = append(want, 4096)
	}
	want = append(want, 0) // the empty line
	assert.Equal(t, want, sizes)
}

func TestShutdownDeadlineWithASlowHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &blockingHistory{release: make(chan struct{})}
		r, err := bgjob.NewRunner(bgjob.WithHistoryStore(store), bgjob.WithMaxRunning(1))
		require.NoError(t, err)
		hold := make(chan struct{})
		running := start(t, r, "running", blocker(hold))
		var queued []*bgjob.Handle
		for range 20 {
			queued = append(queued, start(t, r, "queued", succeed))
		}
		// A canceled queued job is recorded without waiting for the store.
		require.NoError(t, queued[0].Cancel(nil))
		<-queued[0].Done()

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		begin := time.Now()
		err = r.Shutdown(ctx)
		var se *bgjob.ShutdownError
		require.ErrorAs(t, err, &se, "the deadline holds even when the store does not answer")
		assert.Equal(t, 300*time.Millisecond, time.Since(begin), "not a moment past its deadline")
		require.Len(t, se.Jobs, 1)
		assert.Equal(t, running.ID(), se.Jobs[0].ID)
		for _, h := range queued {
			<-h.Done() // canceled at the deadline, each recorded in memory at once
			assert.Equal(t, bgjob.StateCanceled, h.Status().State)
		}
		close(hold)
		<-running.Done()

		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		err = r.Shutdown(ctx2)
		require.ErrorAs(t, err, &se, "the store still holds the records: reported, not lost")
		assert.Empty(t, se.Jobs)
		assert.Equal(t, 21, se.PendingRecords)
		assert.Equal(t, 21, r.GetStatus().History.Pending)
		assert.Contains(t, err.Error(), "21 record(s) not yet in the history store")

		close(store.release)
		require.NoError(t, r.Shutdown(context.Background()), "a later Shutdown waits for the store")
		assert.Len(t, slices.Collect(r.History(bgjob.HistoryFilter{})), 21)
	})
}

type blockingHistory struct {
	recordingHistory
	release chan struct{}
}

func (h *blockingHistory) Add(run bgjob.JobRecord) error {
	<-h.release
	return h.recordingHistory.Add(run)
}

func TestResourceSamplesSpreadOverALongRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithResourceInterval(time.Second))
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		h, err := r.Start(t.Context(), "long", steadyJob(72_000)) // 100ms each: two hours
		require.NoError(t, err)
		require.NoError(t, h.Wait(t.Context()))
		tl := h.Timeline()
		start, end := tl[0].Time, tl[len(tl)-1].Time
		quarter := end.Sub(start) / 4
		var progress, resources [4]int
		for _, pt := range tl {
			q := min(3, int(pt.Time.Sub(start)/quarter))
			switch pt.Kind {
			case bgjob.TimelineProgress:
				progress[q]++
			case bgjob.TimelineResources:
				resources[q]++
			}
		}
		for q := range 4 {
			assert.Positive(t, progress[q], "progress in quarter %d: %v", q, progress)
			assert.Positive(t, resources[q], "resources in quarter %d: %v", q, resources)
			assert.Less(t, resources[q], 3*resources[(q+1)%4]+3, "resource samples are spread: %v", resources)
		}
	})
}
