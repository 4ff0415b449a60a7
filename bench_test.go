package bgjob

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/delivery"
)

// The baselines: the machine's own primitives, measured in the same run as
// the library so that the ratios in docs/performance.md hold on a noisy
// machine.

func BenchmarkBaselineAtomicStore(b *testing.B) {
	var v atomic.Int64
	for i := 0; i < b.N; i++ {
		v.Store(int64(i))
	}
}

func BenchmarkBaselineMutex(b *testing.B) {
	var s struct {
		mu sync.Mutex
		v  int64
	}
	for i := 0; i < b.N; i++ {
		s.mu.Lock()
		s.v = int64(i)
		s.mu.Unlock()
	}
}

func BenchmarkBaselineChannel(b *testing.B) {
	ch := make(chan int64, DefaultBuffer)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	for i := 0; i < b.N; i++ {
		ch <- int64(i)
	}
	close(ch)
	<-done
}

func BenchmarkBaselineGoroutine(b *testing.B) {
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
}

const parked = 100_000

func BenchmarkBaselineParkedGoroutines(b *testing.B) {
	var perG float64
	for i := 0; i < b.N; i++ {
		release := make(chan struct{})
		var started, stopped sync.WaitGroup
		before := memInUse()
		started.Add(parked)
		stopped.Add(parked)
		for range parked {
			go func() {
				started.Done()
				<-release
				stopped.Done()
			}()
		}
		started.Wait()
		perG = float64(memInUse()-before) / parked
		close(release)
		stopped.Wait()
	}
	b.ReportMetric(perG, "B/goroutine")
}

// memInUse returns the heap and stack memory in use after a collection.
func memInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// benchRunner returns a Runner shut down when the benchmark ends.
func benchRunner(b *testing.B, opts ...Option) *Runner {
	b.Helper()
	r, err := NewRunner(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// inJob runs body inside a running job, timing only body.
func inJob(b *testing.B, r *Runner, body func(p *Progress)) {
	b.Helper()
	ready := make(chan struct{})
	h, err := r.Start(context.Background(), "bench", JobFunc(func(ctx context.Context, p *Progress) error {
		<-ready
		body(p)
		return nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	close(ready)
	<-h.Done()
	b.StopTimer()
}

func BenchmarkProgressUpdate(b *testing.B) {
	r := benchRunner(b)
	inJob(b, r, func(p *Progress) {
		for i := 0; i < b.N; i++ {
			p.SetStep(int64(i))
		}
	})
}

func BenchmarkProgressUpdateStalledSubscriber(b *testing.B) {
	r := benchRunner(b)
	sub, err := r.Subscribe(WithBuffer(1))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	inJob(b, r, func(p *Progress) {
		for i := 0; i < b.N; i++ {
			p.SetStep(int64(i))
		}
	})
}

func BenchmarkProgressUpdate64Subscribers(b *testing.B) {
	r := benchRunner(b)
	var wg sync.WaitGroup
	for range 64 {
		sub, err := r.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for range sub.Events() {
			}
		})
	}
	inJob(b, r, func(p *Progress) {
		for i := 0; i < b.N; i++ {
			p.SetStep(int64(i))
		}
	})
	r.Shutdown(context.Background())
	wg.Wait()
}

func BenchmarkProgressReport(b *testing.B) {
	r := benchRunner(b)
	inJob(b, r, func(p *Progress) {
		for i := 0; i < b.N; i++ {
			p.Report(float64(i%100), "training")
		}
	})
}

func BenchmarkJobLifecycle(b *testing.B) {
	benchLifecycle(b, 0)
}

// benchLifecycle times start-to-wait of a job that reports one step, with
// one subscriber that receives all five of its lifecycle events, while live
// other jobs are parked.
func benchLifecycle(b *testing.B, live int) {
	r := benchRunner(b)
	sub, err := r.Subscribe(WithPolicy(Lossless))
	if err != nil {
		b.Fatal(err)
	}
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		for ev := range sub.Events() {
			if ev.Type == EventWorkerStopped {
				received.Add(1)
			}
		}
		close(done)
	}()
	release := parkJobs(b, r, live)
	job := JobFunc(func(ctx context.Context, p *Progress) error {
		p.SetStep(1)
		return nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := r.Start(ctx, "empty", job)
		if err != nil {
			b.Fatal(err)
		}
		<-h.Done()
	}
	// The subscriber must have received every job's events.
	for received.Load() < int64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	release()
	r.Shutdown(ctx)
	<-done
}

// parkJobs starts n jobs that wait for their context, and returns a func
// that cancels them.
func parkJobs(b *testing.B, r *Runner, n int) (release func()) {
	b.Helper()
	handles := make([]*Handle, n)
	var started sync.WaitGroup
	started.Add(n)
	for i := range handles {
		h, err := r.Start(context.Background(), "parked", JobFunc(func(ctx context.Context, p *Progress) error {
			started.Done()
			<-ctx.Done()
			return ctx.Err()
		}))
		if err != nil {
			b.Fatal(err)
		}
		handles[i] = h
	}
	started.Wait()
	return func() {
		for _, h := range handles {
			h.Cancel(nil)
		}
		for _, h := range handles {
			<-h.Done()
		}
	}
}

func BenchmarkJobLifecycleWithLive(b *testing.B) {
	for _, live := range []int{1, 1_000, 100_000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) { benchLifecycle(b, live) })
	}
}

// runningJob starts a job that reports at full speed until released.
func runningJob(b *testing.B, r *Runner) (*Handle, func()) {
	b.Helper()
	stop := make(chan struct{})
	running := make(chan struct{})
	h, err := r.Start(context.Background(), "busy", JobFunc(func(ctx context.Context, p *Progress) error {
		p.SetTotal(1 << 62)
		close(running)
		for {
			select {
			case <-stop:
				return nil
			default:
			}
			for range 1000 {
				p.Add(1)
			}
		}
	}))
	if err != nil {
		b.Fatal(err)
	}
	<-running
	return h, func() {
		close(stop)
		<-h.Done()
	}
}

func BenchmarkGetStatus(b *testing.B) {
	r := benchRunner(b)
	release := make(chan struct{})
	h := startParked(b, r, release)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = h.Status()
	}
	b.StopTimer()
	close(release)
	<-h.Done()
}

func startParked(b *testing.B, r *Runner, release <-chan struct{}) *Handle {
	b.Helper()
	running := make(chan struct{})
	h, err := r.Start(context.Background(), "parked", JobFunc(func(ctx context.Context, p *Progress) error {
		p.SetTotal(100)
		p.SetStep(42)
		p.SetMessage("epoch 42")
		close(running)
		<-release
		return nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	<-running
	// Reads are timed as they are after the job's first progress
	// interval, once the Runner has settled its message (read without a
	// lock from then on until the job sets another).
	for m := h.j.settled.Load(); m == nil || m.set != h.j.messageSet.Load(); m = h.j.settled.Load() {
		time.Sleep(time.Millisecond)
	}
	return h
}

// BenchmarkGetStatusParallel reads one job's status from every core at
// once: the job parked, as in BenchmarkGetStatus, so that ns/op against
// GetStatus's says whether readers slow each other; and the job adding
// to its step at full speed on one of the cores, where every read also
// fetches the cache line the job writes.
func BenchmarkGetStatusParallel(b *testing.B) {
	read := func(b *testing.B, h *Handle) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = h.Status()
			}
		})
		b.StopTimer()
	}
	b.Run("parked", func(b *testing.B) {
		r := benchRunner(b)
		release := make(chan struct{})
		h := startParked(b, r, release)
		read(b, h)
		close(release)
		<-h.Done()
	})
	b.Run("busy", func(b *testing.B) {
		r := benchRunner(b)
		h, stop := runningJob(b, r)
		read(b, h)
		stop()
	})
}

func BenchmarkRunnerGetStatus(b *testing.B) {
	for _, n := range []int{10, 1_000, 100_000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			r := benchRunner(b, WithHistoryLimit(0))
			release := parkJobs(b, r, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if st := r.GetStatus(); len(st.Jobs) != n {
					b.Fatalf("%d jobs, want %d", len(st.Jobs), n)
				}
			}
			b.StopTimer()
			release()
		})
	}
}

func BenchmarkEventDelivery(b *testing.B) {
	r := benchRunner(b)
	sub, err := r.Subscribe(WithPolicy(Lossless), WithBacklog(1<<30))
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		for range sub.Events() {
			got.Add(1)
		}
		close(done)
	}()
	// The publisher's one event, published again and again: the hub
	// copies it for the subscriber whenever it must keep it, as it does a
	// job's, so what the delivery costs, copies and allocations, is
	// counted here.
	id := uuid.New()
	ev := &Event{Type: EventInfo, JobID: id, JobName: "bench", ProcessID: r.pid}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.hub.Publish(id, delivery.Topic(ev.Type), delivery.Lifecycle, ev)
	}
	for got.Load() < int64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	r.Shutdown(context.Background())
	<-done
}

func BenchmarkParkedJobs(b *testing.B) {
	var perJob float64
	for i := 0; i < b.N; i++ {
		r := benchRunner(b, WithHistoryLimit(0))
		before := memInUse()
		release := parkJobs(b, r, parked)
		perJob = float64(memInUse()-before) / parked
		release()
		r.Shutdown(context.Background())
	}
	b.ReportMetric(perJob, "B/job")
}

// BenchmarkMemoryAfterMillionJobs runs a million jobs one after another and
// reports the heap in use afterwards: finished jobs beyond the history
// bound must not stay in memory.
func BenchmarkMemoryAfterMillionJobs(b *testing.B) {
	const jobs = 1_000_000
	var before, after int64
	for i := 0; i < b.N; i++ {
		r := benchRunner(b)
		before = memInUse()
		ctx := context.Background()
		for range jobs {
			h, err := r.Start(ctx, "short", JobFunc(func(context.Context, *Progress) error { return nil }))
			if err != nil {
				b.Fatal(err)
			}
			<-h.Done()
		}
		after = memInUse()
		r.Shutdown(ctx)
	}
	b.ReportMetric(float64(before)/(1<<20), "MiB-before")
	b.ReportMetric(float64(after)/(1<<20), "MiB-after")
}

// BenchmarkLog is one record through a job's logger, with two attributes,
// into its log ring, with one subscriber draining the events.
func BenchmarkLog(b *testing.B) {
	r := benchRunner(b)
	sub, err := r.Subscribe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for range sub.Events() {
		}
		close(done)
	}()
	inJob(b, r, func(p *Progress) {
		log := p.Logger()
		for i := 0; i < b.N; i++ {
			log.Info("batch done", "batch", i, "loss", 0.25)
		}
	})
	r.Shutdown(context.Background())
	<-done
}

// finishedRunner returns a Runner whose history holds n finished jobs
// (WithHistoryLimit(n)), and the id of the oldest of them: the one a
// lookup that scans would find last.
func finishedRunner(b *testing.B, n int) (*Runner, uuid.UUID) {
	b.Helper()
	r := benchRunner(b, WithHistoryLimit(max(n, 1)))
	var oldest uuid.UUID
	for i := range max(n, 1) {
		h, err := r.Start(context.Background(), "done", JobFunc(func(ctx context.Context, p *Progress) error {
			p.SetTotal(10)
			p.SetStep(10)
			p.Logger().Info("finished")
			return nil
		}))
		if err != nil {
			b.Fatal(err)
		}
		<-h.Done()
		if i == 0 {
			oldest = h.ID()
		}
	}
	return r, oldest
}

// BenchmarkJobLookup finds a finished job by id and reads its status, as
// a dashboard does, with 1, 1,000 and 100,000 finished jobs kept.
func BenchmarkJobLookup(b *testing.B) {
	for _, n := range []int{0, 1_000, 100_000} {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			r, id := finishedRunner(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h, err := r.Job(id)
				if err != nil {
					b.Fatal(err)
				}
				_ = h.Status()
			}
		})
	}
}

// BenchmarkRunnerGetStatusWithHistory reads the Runner's status with one
// live job and 0, 1,000 and 100,000 finished ones: the history does not
// make it dearer.
func BenchmarkRunnerGetStatusWithHistory(b *testing.B) {
	for _, n := range []int{0, 1_000, 100_000} {
		b.Run(fmt.Sprintf("history=%d", n), func(b *testing.B) {
			r, _ := finishedRunner(b, n)
			release := make(chan struct{})
			h := startParked(b, r, release)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if st := r.GetStatus(); len(st.Jobs) != 1 {
					b.Fatalf("%d jobs, want 1", len(st.Jobs))
				}
			}
			b.StopTimer()
			close(release)
			<-h.Done()
		})
	}
}

// BenchmarkMetric records a value under a name already seen, as a
// training loop does at every batch.
func BenchmarkMetric(b *testing.B) {
	r := benchRunner(b)
	inJob(b, r, func(p *Progress) {
		_ = p.Metric("loss", 1)
		for i := 0; i < b.N; i++ {
			_ = p.Metric("loss", float64(i))
		}
	})
}

// BenchmarkMetrics records two values in one call, as at the end of an
// epoch.
func BenchmarkMetrics(b *testing.B) {
	r := benchRunner(b)
	inJob(b, r, func(p *Progress) {
		for i := 0; i < b.N; i++ {
			_ = p.Metrics(Scalar{"loss", float64(i)}, Scalar{"accuracy", 0.5})
		}
	})
}

// The floors: what a hand-written version of each thing costs on this
// machine, in the same run, to hold the library's figures against.

// BenchmarkFloorLifecycle is the least a background job with five events
// to one reader can cost: a goroutine, five event values through a
// buffered channel to a reader goroutine, and a wait for the end.
func BenchmarkFloorLifecycle(b *testing.B) {
	events := make(chan Event, DefaultBuffer)
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		for ev := range events {
			if ev.Type == EventWorkerStopped {
				received.Add(1)
			}
		}
		close(done)
	}()
	id := uuid.New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		finished := make(chan struct{})
		events <- Event{Type: EventInfo, JobID: id}
		go func() {
			events <- Event{Type: EventWorkerStarted, JobID: id}
			events <- Event{Type: EventProgress, JobID: id, Step: 1}
			events <- Event{Type: EventComplete, JobID: id}
			events <- Event{Type: EventWorkerStopped, JobID: id}
			close(finished)
		}()
		<-finished
	}
	close(events)
	<-done
}

// BenchmarkFloorEventDelivery is the least a publisher that never blocks
// can cost per event: a mutex-guarded slice drained by one pump goroutine
// into the reader's channel. "values" keeps a copy of each event in the
// slice, as a publisher of distinct events must keep each until it is
// sent; "shared" queues one shared pointer again and again, which keeps
// nothing: the cost of the queue and the channel alone.
func BenchmarkFloorEventDelivery(b *testing.B) {
	ev := Event{Type: EventInfo, JobID: uuid.New(), JobName: "bench"}
	b.Run("values", func(b *testing.B) {
		floorDelivery(b, func(e *Event) Event { return *e }, func(e Event) Event { return e }, &ev)
	})
	b.Run("shared", func(b *testing.B) {
		floorDelivery(b, func(e *Event) *Event { return e }, func(e *Event) Event { return *e }, &ev)
	})
}

// floorDelivery publishes ev b.N times through a mutex-guarded slice of
// Q, each made by keep, that one pump goroutine sends on (as made by
// send) into the reader's channel.
func floorDelivery[Q any](b *testing.B, keep func(*Event) Q, send func(Q) Event, ev *Event) {
	var (
		mu      sync.Mutex
		queue   []Q
		pumping bool
	)
	out := make(chan Event, DefaultBuffer)
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		for range out {
			got.Add(1)
		}
		close(done)
	}()
	var pumps sync.WaitGroup
	pump := func() {
		defer pumps.Done()
		var batch []Q
		for {
			mu.Lock()
			batch, queue = queue, batch[:0]
			if len(batch) == 0 {
				pumping = false
				mu.Unlock()
				return
			}
			mu.Unlock()
			for i := range batch {
				out <- send(batch[i])
			}
			clear(batch)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		queue = append(queue, keep(ev))
		if !pumping {
			pumping = true
			pumps.Add(1)
			go pump()
		}
		mu.Unlock()
	}
	pumps.Wait()
	for got.Load() < int64(b.N) {
		runtime.Gosched()
	}
	close(out)
	<-done
}

// BenchmarkFloorStatus is the least a status read can cost: an immutable
// snapshot behind an atomic pointer, and a clock read for the live
// duration.
func BenchmarkFloorStatus(b *testing.B) {
	var snap atomic.Pointer[JobStatus]
	snap.Store(&JobStatus{Name: "parked", State: StateRunning, StartTime: time.Now()})
	b.ReportAllocs()
	var st JobStatus
	for b.Loop() {
		st = *snap.Load()
		st.Duration = time.Since(st.StartTime)
	}
	_ = st
}

// BenchmarkFloorFanOut is the least fanning events out to n readers, each
// with a channel of its own, can cost: the publisher sends each event
// value into every reader's buffered channel (one send each, blocking
// when a channel is full), and each reader receives from its own. ns/op
// and e2e-ns/sub are as in BenchmarkFanOut.
func BenchmarkFloorFanOut(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			chans := make([]chan Event, n)
			var got atomic.Int64
			var readers sync.WaitGroup
			for i := range chans {
				chans[i] = make(chan Event, DefaultBuffer)
				readers.Add(1)
				go func(c <-chan Event) {
					defer readers.Done()
					for range c {
						got.Add(1)
					}
				}(chans[i])
			}
			ev := &Event{Type: EventInfo, JobID: uuid.New(), JobName: "bench"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, c := range chans {
					c <- *ev
				}
			}
			for got.Load() < int64(b.N*n) {
				runtime.Gosched()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "e2e-ns/sub")
			for _, c := range chans {
				close(c)
			}
			readers.Wait()
		})
	}
}

// BenchmarkFanOut delivers events to 1, 8 and 64 subscribers that each
// read everything. ns/op is per event, from its publication until every
// subscriber received it; publish-ns/sub is what each subscriber adds to
// the publisher's side (the job's), e2e-ns/sub what it adds to the whole
// (publisher, pumps and readers sharing the machine's cores).
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			r := benchRunner(b)
			var got atomic.Int64
			var readers sync.WaitGroup
			for range n {
				sub, err := r.Subscribe(WithPolicy(Lossless), WithBacklog(1<<30))
				if err != nil {
					b.Fatal(err)
				}
				readers.Add(1)
				go func() {
					defer readers.Done()
					for range sub.Events() {
						got.Add(1)
					}
				}()
			}
			id := uuid.New()
			ev := &Event{Type: EventInfo, JobID: id, JobName: "bench", ProcessID: r.pid}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				r.hub.Publish(id, delivery.Topic(ev.Type), delivery.Lifecycle, ev)
			}
			published := time.Since(start)
			for got.Load() < int64(b.N*n) {
				runtime.Gosched()
			}
			b.StopTimer()
			b.ReportMetric(float64(published.Nanoseconds())/float64(b.N*n), "publish-ns/sub")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "e2e-ns/sub")
			r.Shutdown(context.Background())
			readers.Wait()
		})
	}
}
