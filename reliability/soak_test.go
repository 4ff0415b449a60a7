package reliability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bgjob/bgjob"
)

const (
	soakHours = 6
	// soakGrowth bounds how much the live heap may grow from the end of
	// the first hour, when every bounded store is full, to the end of the
	// last: a flat line with room for the collector's noise.
	soakGrowth = 2 << 20
)

// TestSoak runs a busy Runner for six hours of the bubble's clock — a job
// started every two seconds, sixteen at a time, each taking steps of five
// seconds for up to 40 seconds with progress, a metric and log lines (so
// that the jobs keep up with the starts), some failing,
// some canceled, some paused and resumed — watched by a lossless reader,
// a slow lagging reader, a structured event log and a stream of one job
// now and then. At the end of each hour it collects garbage and samples
// the live heap, which must stay flat once the history and the other
// bounded stores are full.
func TestSoak(t *testing.T) {
	began := time.Now()
	synctest.Test(t, runSoak)
	t.Logf("soak: %v of real time", time.Since(began).Round(time.Millisecond))
}

func runSoak(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r, err := bgjob.NewRunner(
		bgjob.WithMaxRunning(16),
		bgjob.WithProgressInterval(5*time.Second),
		bgjob.WithResourceInterval(10*time.Second),
		bgjob.WithHistoryLimit(200),
		bgjob.WithLogLimit(20),
		bgjob.WithEventLog(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	)
	if err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	counted := make([]int, 2)
	for i, opts := range [][]bgjob.SubscribeOption{
		{bgjob.WithPolicy(bgjob.Lossless)},
		{bgjob.WithBacklog(64), bgjob.WithBuffer(8)},
	} {
		sub, err := r.Subscribe(opts...)
		if err != nil {
			t.Fatal(err)
		}
		readers.Go(func() {
			for range sub.Events() {
				counted[i]++
				if i == 1 {
					time.Sleep(50 * time.Millisecond) // slower than the jobs, now and then
				}
			}
		})
	}

	start := time.Now()
	var heap [soakHours + 1]uint64
	heap[0] = liveHeap()
	jobs, ended := 0, map[bgjob.State]int{}
	var handles []*bgjob.Handle
	for hour := 1; hour <= soakHours; hour++ {
		for time.Since(start) < time.Duration(hour)*time.Hour {
			h, err := r.Start(context.Background(), fmt.Sprint("soak-", jobs), soakJob(rng.IntN(8), rng.IntN(10)))
			if err != nil {
				t.Fatal(err)
			}
			jobs++
			handles = append(handles, h)
			switch rng.IntN(10) {
			case 0:
				readers.Go(func() { // a stream of this one job, read to its end
					if sub, err := r.Subscribe(bgjob.WithJob(h.ID())); err == nil {
						for range sub.Events() {
						}
					}
				})
			case 1:
				readers.Go(func() {
					time.Sleep(5 * time.Second)
					_ = h.Cancel(errors.New("soak: canceled"))
				})
			case 2:
				readers.Go(func() {
					time.Sleep(7 * time.Second)
					if h.Pause() == nil {
						time.Sleep(10 * time.Second)
						_ = h.Resume()
					}
				})
			}
			time.Sleep(2 * time.Second)
			// Let the handles of ended jobs go, as a service would.
			live := handles[:0]
			for _, h := range handles {
				select {
				case <-h.Done():
					ended[h.Status().State]++
				default:
					live = append(live, h)
				}
			}
			clear(handles[len(live):])
			handles = live
		}
		heap[hour] = liveHeap()
		t.Logf("soak: hour %d: %5d jobs started, live heap %6.2f MB", hour, jobs, float64(heap[hour])/(1<<20))
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	readers.Wait()
	t.Logf("soak: %d jobs in %d hours of the bubble's time, ended %v; the lossless reader received %d events, the slow one %d",
		jobs, soakHours, ended, counted[0], counted[1])
	if grown := int64(heap[soakHours]) - int64(heap[1]); grown > soakGrowth {
		t.Errorf("the live heap grew by %.2f MB from the first hour to the last (%v), more than %.2f MB",
			float64(grown)/(1<<20), heap, float64(soakGrowth)/(1<<20))
	}
}

// soakJob takes steps of five seconds, reporting progress and a metric at
// each and a line of log at every other one; it fails one time in ten.
func soakJob(steps, fate int) bgjob.JobFunc {
	return func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(int64(steps))
		log := p.Logger()
		for i := range steps {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			time.Sleep(5 * time.Second)
			p.Add(1)
			_ = p.Metric("loss", 1/float64(i+1))
			if i%2 == 0 {
				p.SetMessage(fmt.Sprint("step ", i))
				log.Info("step", "i", i)
			}
		}
		if fate == 0 {
			return errors.New("soak: scripted failure")
		}
		return nil
	}
}

// liveHeap returns the bytes of the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the second one frees what the first one's finalizers let go
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
