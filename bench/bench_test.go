package bench

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	pb "github.com/cheggaaa/pb/v3"
	"github.com/panjf2000/ants/v2"
	"github.com/schollz/progressbar/v3"
	"github.com/vbauerster/mpb/v8"
	"go.uber.org/goleak"

	"github.com/bgjob/bgjob"
)

// ants starts a default pool, with its goroutines, when the package is
// initialised; those are not leaks of these benchmarks.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreCurrent()) }

// BenchmarkStart starts an empty task and waits for it to end, one at a
// time: what it costs to hand work to the background.
func BenchmarkStart(b *testing.B) {
	b.Run("goroutine", func(b *testing.B) {
		var wg sync.WaitGroup
		b.ReportAllocs()
		for b.Loop() {
			wg.Add(1)
			go func() { wg.Done() }()
			wg.Wait()
		}
	})
	b.Run("bgjob", func(b *testing.B) {
		startAndWait(b, newRunner(b))
	})
	b.Run("bgjob-subscribed", func(b *testing.B) {
		r := newRunner(b)
		sub, err := r.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for range sub.Events() {
			}
		}()
		startAndWait(b, r)
	})
	b.Run("ants", func(b *testing.B) {
		pool, err := ants.NewPool(1000)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.ReleaseTimeout(10 * time.Second)
		var wg sync.WaitGroup
		task := func() { wg.Done() }
		b.ReportAllocs()
		for b.Loop() {
			wg.Add(1)
			if err := pool.Submit(task); err != nil {
				b.Fatal(err)
			}
			wg.Wait()
		}
	})
	b.Run("pond", func(b *testing.B) {
		pool := pond.NewPool(1000)
		defer pool.StopAndWait()
		b.ReportAllocs()
		for b.Loop() {
			if err := pool.Submit(func() {}).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkProgressUpdate advances a progress counter by one, as a
// training loop does after each batch. Output is discarded.
func BenchmarkProgressUpdate(b *testing.B) {
	b.Run("bgjob", func(b *testing.B) {
		r := newRunner(b)
		ready := make(chan struct{})
		h, err := r.Start(context.Background(), "bench", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(int64(b.N))
			<-ready
			for i := 0; i < b.N; i++ {
				p.Add(1)
			}
			return nil
		}))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		close(ready)
		<-h.Done()
	})
	b.Run("progressbar", func(b *testing.B) {
		bar := progressbar.NewOptions64(int64(b.N), progressbar.OptionSetWriter(io.Discard))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bar.Add(1)
		}
		b.StopTimer()
		bar.Finish()
	})
	b.Run("pb", func(b *testing.B) {
		bar := pb.New64(int64(b.N)).SetWriter(io.Discard).Start()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bar.Add(1)
		}
		b.StopTimer()
		bar.Finish()
	})
	b.Run("mpb", func(b *testing.B) {
		p := mpb.New(mpb.WithOutput(io.Discard))
		bar := p.AddBar(int64(b.N))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bar.Increment()
		}
		b.StopTimer()
		p.Wait()
	})
}

// startAndWait starts empty jobs on r and waits for each.
func startAndWait(b *testing.B, r *bgjob.Runner) {
	job := bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h, err := r.Start(ctx, "empty", job)
		if err != nil {
			b.Fatal(err)
		}
		<-h.Done()
	}
}

func newRunner(b *testing.B) *bgjob.Runner {
	b.Helper()
	r, err := bgjob.NewRunner()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}
