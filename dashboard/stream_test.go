package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/bgjob/bgjob/dashboard"
)

// untilStopped reads a stream's events until the given job's
// worker_stopped.
func untilStopped(t *testing.T, c *sseClient, id uuid.UUID) []bgjob.Event {
	t.Helper()
	var evs []bgjob.Event
	for {
		ev := event(t, c.nextData(t))
		evs = append(evs, ev)
		if ev.JobID == id && ev.Type == bgjob.EventWorkerStopped {
			return evs
		}
	}
}

// ofJob keeps the events of one job.
func ofJob(evs []bgjob.Event, id uuid.UUID) []bgjob.Event {
	var out []bgjob.Event
	for _, ev := range evs {
		if ev.JobID == id {
			out = append(out, ev)
		}
	}
	return out
}

func TestStreamStartsWithASnapshotThenEveryEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r)
		running, err := r.Start(ctx, "already-running", bgjobtest.HangUntilCanceled())
		require.NoError(t, err)
		c := openStream(h, "/api/events")
		defer c.close()

		f := c.nextData(t)
		assert.Equal(t, "snapshot", f.event)
		assert.Equal(t, http.StatusOK, c.w.code)
		assert.Equal(t, "text/event-stream; charset=utf-8", c.w.hdr.Get("Content-Type"))
		var snap bgjob.RunnerStatus
		f.decode(t, &snap)
		require.Len(t, snap.Jobs, 1)
		assert.Equal(t, running.ID(), snap.Jobs[0].ID)

		hd, err := r.Start(ctx, "train", bgjobtest.Succeed(3))
		require.NoError(t, err)
		evs := untilStopped(t, c, hd.ID())
		for _, ev := range evs {
			assert.NotZero(t, ev.Seq)
		}
		require.NoError(t, bgjobtest.CheckLifecycle(ofJob(evs, hd.ID())))
		running.Cancel(nil)
		evs = untilStopped(t, c, running.ID())
		assert.Equal(t, bgjob.EventWorkerStopped, evs[len(evs)-1].Type)
	})
}

func TestEventIDsAreSequenceNumbers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(t)
		h := newHandler(t, r)
		c := openStream(h, "/api/events")
		defer c.close()
		c.nextData(t)
		hd, err := r.Start(t.Context(), "train", bgjobtest.Succeed(2))
		require.NoError(t, err)
		for {
			f := c.nextData(t)
			ev := event(t, f)
			assert.Equal(t, strconv.FormatUint(ev.Seq, 10), f.id)
			if ev.JobID == hd.ID() && ev.Type == bgjob.EventWorkerStopped {
				return
			}
		}
	})
}

func TestJobStreamEndsAfterItsJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r)
		other, err := r.Start(ctx, "other", bgjobtest.HangUntilCanceled())
		require.NoError(t, err)
		defer other.Cancel(nil)
		g := bgjobtest.NewGate(2)
		hd, err := r.Start(ctx, "train", g.Job())
		require.NoError(t, err)
		c := openStream(h, "/api/jobs/"+hd.ID().String()+"/events?types=complete")
		defer c.close()
		f := c.nextData(t)
		assert.Equal(t, "snapshot", f.event)
		var st bgjob.JobStatus
		f.decode(t, &st)
		assert.Equal(t, hd.ID(), st.ID)
		g.Release(2)
		frames := c.rest()
		require.Len(t, frames, 3, "complete, worker_stopped (always), end: %v", frames)
		assert.Equal(t, bgjob.EventComplete, event(t, frames[0]).Type)
		assert.Equal(t, bgjob.EventWorkerStopped, event(t, frames[1]).Type)
		assert.Equal(t, "end", frames[2].event)
		assert.JSONEq(t, `{"reason":"stopped"}`, frames[2].data)

		// A job that has stopped: its status, and the end.
		c2 := openStream(h, "/api/jobs/"+hd.ID().String()+"/events")
		defer c2.close()
		frames = c2.rest()
		require.Len(t, frames, 2)
		assert.Equal(t, "snapshot", frames[0].event)
		assert.Equal(t, "end", frames[1].event)
	})
}

func TestResumeFromLastEventID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r)
		rec := bgjobtest.Record(t, r)
		c := openStream(h, "/api/events")
		c.nextData(t)
		g := bgjobtest.NewGate(4)
		hd, err := r.Start(ctx, "train", g.Job())
		require.NoError(t, err)
		first := c.nextData(t) // info
		require.Equal(t, bgjob.EventInfo, event(t, first).Type)
		c.close() // the connection breaks

		g.Release(4)
		<-hd.Done()
		synctest.Wait()
		c = openStream(h, "/api/events", "Last-Event-ID", first.id)
		defer c.close()
		got := untilStopped(t, c, hd.ID())
		var want []bgjob.EventType
		for _, ev := range rec.Job(hd.ID())[1:] {
			if ev.Type != bgjob.EventProgress {
				want = append(want, ev.Type)
			}
		}
		var types []bgjob.EventType
		for _, ev := range got {
			if ev.Type != bgjob.EventProgress {
				types = append(types, ev.Type)
			}
		}
		assert.Equal(t, want, types, "no snapshot, and every event after the last one received")
		require.NoError(t, bgjobtest.CheckLifecycle(append([]bgjob.Event{event(t, first)}, got...)))
	})
}

func TestResumeFromBeyondTheReplayResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r, dashboard.WithReplay(4))
		c := openStream(h, "/api/events")
		c.nextData(t)
		for range 3 {
			hd, err := r.Start(ctx, "train", bgjobtest.Succeed(1))
			require.NoError(t, err)
			<-hd.Done()
		}
		synctest.Wait()
		c.close()
		c = openStream(h, "/api/events", "Last-Event-ID", "1")
		defer c.close()
		f := c.nextData(t)
		assert.Equal(t, "reset", f.event, "told that it missed events")
		var st bgjob.RunnerStatus
		f.decode(t, &st)
		assert.Equal(t, 3, st.Counts[bgjob.StateSucceeded])
	})
}

// A client that stops reading falls behind the replay: when it reads
// again, it gets what it was sent, then a reset and a fresh snapshot —
// never events with a silent gap before them.
func TestSlowClientGetsAResetNeverAGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r, dashboard.WithReplay(8))
		rec := bgjobtest.Record(t, r)
		c := openStream(h, "/api/events")
		defer c.close()
		c.nextData(t)
		var last *bgjob.Handle
		for range 6 {
			hd, err := r.Start(ctx, "train", bgjobtest.Succeed(1))
			require.NoError(t, err)
			<-hd.Done()
			last = hd
		}
		synctest.Wait()
		var got []bgjob.Event
		for {
			f := c.nextData(t)
			if f.event == "reset" {
				var st bgjob.RunnerStatus
				f.decode(t, &st)
				assert.Positive(t, st.Counts[bgjob.StateSucceeded], "a snapshot as of the reset")
				break
			}
			got = append(got, event(t, f))
		}
		if len(got) == 0 {
			return // the stream was behind before it sent anything
		}
		all := rec.Events()
		i := 0
		for all[i].Seq != got[0].Seq {
			i++
		}
		for _, ev := range got {
			assert.Equal(t, all[i].Seq, ev.Seq, "what came before the reset has no gap")
			i++
		}
		assert.NotEqual(t, last.ID(), got[len(got)-1].JobID, "the reset came before the end")
	})
}

func TestProgressIsCoalescedForASlowClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r)
		c := openStream(h, "/api/events")
		defer c.close()
		c.nextData(t)
		const steps = 50
		hd, err := r.Start(ctx, "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(steps)
			for i := range steps {
				p.SetStep(int64(i + 1))
				time.Sleep(bgjob.DefaultProgressInterval)
			}
			return nil
		}))
		require.NoError(t, err)
		<-hd.Done() // the client read nothing meanwhile
		synctest.Wait()
		evs := untilStopped(t, c, hd.ID())
		progress := 0
		var lastStep int64
		for _, ev := range evs {
			if ev.Type == bgjob.EventProgress {
				progress++
				lastStep = ev.Step
			}
		}
		assert.Less(t, progress, steps/2, "a slow client gets the latest progress, not a queue of it")
		assert.Equal(t, int64(steps), lastStep, "and the latest is there")
		require.NoError(t, bgjobtest.CheckLifecycle(evs))
		assert.Positive(t, h.Stats().Replay)
	})
}

func TestHeartbeatsKeepAnIdleStreamOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHandler(t, newRunner(t), dashboard.WithHeartbeat(5*time.Second))
		c := openStream(h, "/api/events")
		defer c.close()
		c.nextData(t)
		start := time.Now()
		f, ok := c.next()
		require.True(t, ok)
		assert.True(t, f.comment)
		assert.Equal(t, 5*time.Second, time.Since(start))
	})
}

func TestLeavingFreesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r, dashboard.WithIdleTimeout(10*time.Second))
		assert.False(t, h.Stats().Feeding, "nothing runs before the first stream")
		var cs []*sseClient
		for range 3 {
			c := openStream(h, "/api/events")
			c.nextData(t)
			cs = append(cs, c)
		}
		hd, err := r.Start(ctx, "train", bgjobtest.Succeed(1))
		require.NoError(t, err)
		<-hd.Done()
		synctest.Wait()
		st := h.Stats()
		assert.Equal(t, 3, st.Streams)
		assert.True(t, st.Feeding)
		assert.Positive(t, st.Replay)
		for _, c := range cs {
			c.close()
		}
		st = h.Stats()
		assert.Zero(t, st.Streams)
		assert.True(t, st.Feeding, "kept for a client that reconnects")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		st = h.Stats()
		assert.False(t, st.Feeding)
		assert.Zero(t, st.Replay)
		assert.Zero(t, st.ReplayBytes)
	})
}

func TestCloseEndsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(t)
		h, err := dashboard.New(r)
		require.NoError(t, err)
		c := openStream(h, "/api/events")
		c.nextData(t)
		h.Close()
		assert.Empty(t, c.rest(), "the stream ends")
		c.close()
		h.Close()
		c = openStream(h, "/api/events")
		defer c.close()
		c.rest()
		assert.Equal(t, http.StatusServiceUnavailable, c.w.code)
		assert.Equal(t, http.StatusOK, do(h, http.MethodGet, "/api/status", nil).Code)
	})
}

func TestShutdownEndsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r)
		c := openStream(h, "/api/events")
		defer c.close()
		c.nextData(t)
		hd, err := r.Start(ctx, "train", bgjobtest.Succeed(1))
		require.NoError(t, err)
		require.NoError(t, r.Shutdown(ctx))
		frames := c.rest()
		require.NotEmpty(t, frames)
		assert.Equal(t, "end", frames[len(frames)-1].event)
		assert.JSONEq(t, `{"reason":"shutdown"}`, frames[len(frames)-1].data)
		assert.Equal(t, bgjob.EventWorkerStopped, event(t, frames[len(frames)-2]).Type)

		c2 := openStream(h, "/api/events")
		defer c2.close()
		frames = c2.rest()
		require.Len(t, frames, 2)
		assert.Equal(t, "snapshot", frames[0].event)
		assert.Equal(t, "end", frames[1].event)
		_ = hd
	})
}

// Over a real connection, a client that goes away frees its stream at
// once.
func TestDisconnectOverTheNetwork(t *testing.T) {
	r := newRunner(t)
	h := newHandler(t, r, dashboard.WithIdleTimeout(0))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i := range 3 {
		resp, err := http.Get(srv.URL + "/api/events")
		require.NoError(t, err, i)
		buf := make([]byte, 64)
		_, err = resp.Body.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, 1, h.Stats().Streams)
		resp.Body.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		for h.Stats().Streams != 0 || h.Stats().Feeding {
			select {
			case <-ctx.Done():
				t.Fatalf("the stream is still open: %+v", h.Stats())
			case <-time.After(time.Millisecond):
			}
		}
		cancel()
	}
}

// A client that got its job's worker_stopped but not the end that
// followed, and reconnects from it, is told the job is over: before,
// its stream waited for an end that had come, sending heartbeats for
// ever.
func TestJobStreamResumedAfterItsEndEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(t)
		h := newHandler(t, r)
		all := openStream(h, "/api/events") // the replay holds the job's info
		defer all.close()
		all.nextData(t)
		g := bgjobtest.NewGate(1)
		hd, err := r.Start(t.Context(), "train", g.Job())
		require.NoError(t, err)
		info := all.nextData(t)
		require.Equal(t, bgjob.EventInfo, event(t, info).Type)
		target := "/api/jobs/" + hd.ID().String() + "/events"
		c := openStream(h, target)
		require.Equal(t, "snapshot", c.nextData(t).event)
		g.Release(1)
		var stopped frame
		for stopped.id == "" {
			if f := c.nextData(t); event(t, f).Type == bgjob.EventWorkerStopped {
				stopped = f
			}
		}
		c.close() // before the end
		synctest.Wait()

		c = openStream(h, target, "Last-Event-ID", stopped.id)
		defer c.close()
		frames := c.rest()
		require.Len(t, frames, 2, "a reset with the final status, then the end: %v", frames)
		assert.Equal(t, "reset", frames[0].event)
		var st bgjob.JobStatus
		frames[0].decode(t, &st)
		assert.Equal(t, bgjob.StateSucceeded, st.State)
		assert.Equal(t, "end", frames[1].event)
		assert.JSONEq(t, `{"reason":"stopped"}`, frames[1].data)

		// Resumed from before its end, a stopped job's stream still
		// gets the events it missed, then the end.
		c2 := openStream(h, target, "Last-Event-ID", info.id)
		defer c2.close()
		frames = c2.rest()
		require.GreaterOrEqual(t, len(frames), 2, "%v", frames)
		assert.Empty(t, frames[0].event, "no snapshot: the events after info")
		assert.Equal(t, bgjob.EventWorkerStopped, event(t, frames[len(frames)-2]).Type)
		assert.Equal(t, "end", frames[len(frames)-1].event)
	})
}

// The stream of one job neither writes, flushes nor renews its write
// deadline for the events of others.
func TestJobStreamIsIdleWhileOthersRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r := newRunner(t)
		h := newHandler(t, r)
		watched, err := r.Start(ctx, "watched", bgjobtest.HangUntilCanceled())
		require.NoError(t, err)
		synctest.Wait() // its events are published before the stream opens
		c := openStream(h, "/api/jobs/"+watched.ID().String()+"/events")
		defer c.close()
		require.Equal(t, "snapshot", c.nextData(t).event)
		synctest.Wait()
		flushes, deadlines := c.w.flushes.Load(), c.w.deadlines.Load()

		for range 3 {
			hd, err := r.Start(ctx, "other", bgjobtest.Succeed(5))
			require.NoError(t, err)
			<-hd.Done()
		}
		synctest.Wait()
		assert.Equal(t, flushes, c.w.flushes.Load(), "flushed for other jobs' events")
		assert.Equal(t, deadlines, c.w.deadlines.Load(), "renewed its deadline for other jobs' events")

		// And it was waiting, not stuck in a write: its own job's events
		// reach it.
		watched.Cancel(nil)
		frames := c.rest()
		require.NotEmpty(t, frames)
		assert.Equal(t, bgjob.EventWorkerStopped, event(t, frames[len(frames)-2]).Type)
		assert.Equal(t, "end", frames[len(frames)-1].event)
	})
}
