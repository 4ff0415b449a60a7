package bgjob_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/bgjob/bgjob"
)

// A job runs in the background; Start returns at once and Wait collects
// its outcome.
func Example() {
	ctx := context.Background()
	r, err := bgjob.NewRunner()
	if err != nil {
		panic(err)
	}
	defer r.Shutdown(ctx)

	h, err := r.Start(ctx, "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		const epochs = 5
		p.SetTotal(epochs)
		for epoch := 1; epoch <= epochs; epoch++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			// ... one epoch of training ...
			p.Add(1)
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}

	err = h.Wait(ctx)
	st := h.Status()
	fmt.Println(st.State, st.Step, "of", st.Total, "steps, error:", err)
	// Output: succeeded 5 of 5 steps, error: <nil>
}

// Every job publishes the same lifecycle, in order. The channel is closed
// after Shutdown once its last event has been received.
func ExampleRunner_Subscribe() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	sub, _ := r.Subscribe() // subscribe before starting jobs

	h, _ := r.Start(ctx, "import", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.Report(50, "halfway")
		p.Report(100, "done")
		return nil
	}))
	go func() {
		<-h.Done()
		r.Shutdown(ctx)
	}()

	for ev := range sub.Events() {
		fmt.Println(ev.Seq, ev.Type, ev.State, ev.Percent)
	}
	fmt.Println("lost:", sub.Stats().Lost)
	// Output:
	// 1 info running 0
	// 2 worker_started running 0
	// 3 progress running 100
	// 4 complete succeeded 100
	// 5 worker_stopped succeeded 100
	// lost: 0
}

// A subscription to one job starts with that job's status and ends with
// its worker_stopped: what a server needs to stream one job.
func ExampleWithJob() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	release := make(chan struct{})
	h, _ := r.Start(ctx, "export", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetPercent(40)
		<-release
		return nil
	}))
	for h.Status().Percent != 40 {
		runtime.Gosched()
	}

	sub, _ := r.Subscribe(bgjob.WithJob(h.ID()))
	first := sub.Snapshot()[0]
	fmt.Println("now:", first.State, first.Percent)
	close(release)
	for ev := range sub.Events() { // ends after this job's worker_stopped
		fmt.Println(ev.Type, ev.State)
	}
	// Output:
	// now: running 40
	// progress running
	// complete succeeded
	// worker_stopped succeeded
}

// Code that knows jobs by id — a dashboard — finds them with Job, live or
// recently finished.
func ExampleRunner_Job() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	started, _ := r.Start(ctx, "reindex", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	id := started.ID() // what a URL or a queue would carry

	h, _ := r.Job(id)
	h.Cancel(errors.New("stopped from the dashboard"))
	h.Wait(ctx)
	h, _ = r.Job(id) // still found once finished
	fmt.Println(h.Status().State, h.Status().Err)
	// Output: canceled stopped from the dashboard
}

// Application code polls the status; it always shows the latest progress.
func ExampleHandle_Status() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	reached := make(chan struct{})
	release := make(chan struct{})
	h, _ := r.Start(ctx, "index", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(200)
		p.SetStep(50)
		p.SetMessage("indexing shard 1")
		close(reached)
		<-release
		return nil
	}))

	<-reached
	st := h.Status()
	fmt.Printf("%s: %s, %.0f%% (%d/%d) %q, alive: %t\n", st.Name, st.State, st.Percent, st.Step, st.Total, st.Message, st.Alive)
	close(release)
	h.Wait(ctx)
	fmt.Println(h.Status().State)
	// Output:
	// index: running, 25% (50/200) "indexing shard 1", alive: true
	// succeeded
}

// Cancel takes a reason, which the job sees as its context's cause and
// which the job's status reports.
func ExampleHandle_Cancel() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "finetune", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-ctx.Done()
		return ctx.Err()
	}))

	errSuperseded := errors.New("superseded by a newer dataset")
	h.Cancel(errSuperseded)
	err := h.Wait(ctx)
	fmt.Println(h.Status().State, errors.Is(err, errSuperseded))
	fmt.Println(h.Cancel(nil)) // the job has ended
	// Output:
	// canceled true
	// bgjob: job already finished
}

// A panic in a job is a failure that keeps the panic value and its stack;
// the Runner keeps working.
func ExamplePanicError() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "buggy", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		var weights []float64
		_ = weights[3]
		return nil
	}))

	var pe *bgjob.PanicError
	if errors.As(h.Wait(ctx), &pe) {
		fmt.Println(h.Status().State, "-", pe.Value)
		fmt.Println("stack recorded:", len(pe.Stack) > 0)
	}
	// Output:
	// failed - runtime error: index out of range [3] with length 0
	// stack recorded: true
}

// A lossless subscription never drops an event: when its reader falls a
// whole backlog behind, Start waits for it instead.
func ExampleWithPolicy() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	audit, _ := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBacklog(100))

	for i := range 3 {
		h, _ := r.Start(ctx, fmt.Sprintf("batch-%d", i), bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			return nil
		}))
		h.Wait(ctx)
	}
	r.Shutdown(ctx)

	completed := 0
	for ev := range audit.Events() {
		if ev.Type == bgjob.EventComplete {
			completed++
		}
	}
	st := audit.Stats()
	fmt.Println("completed:", completed, "lost:", st.Lost)
	// Output: completed: 3 lost: 0
}

// The Runner-wide status counts jobs by state.
func ExampleRunner_GetStatus() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	ok, _ := r.Start(ctx, "ok", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil }))
	bad, _ := r.Start(ctx, "bad", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
		return errors.New("out of memory")
	}))
	ok.Wait(ctx)
	bad.Wait(ctx)

	st := r.GetStatus()
	fmt.Println("running:", st.AnyRunning, "succeeded:", st.Counts[bgjob.StateSucceeded], "failed:", st.Counts[bgjob.StateFailed])
	// Output: running: false succeeded: 1 failed: 1
}

// FormatText renders events for operators, in the words of the original
// design.
func ExampleFormatText() {
	ev := bgjob.Event{
		Type:       bgjob.EventInfo,
		JobName:    "resnet-finetune",
		State:      bgjob.StateRunning,
		ProcessID:  52341,
		WorkerID:   7,
		WorkerName: "resnet-finetune",
		Alive:      true,
	}
	fmt.Println(bgjob.FormatText(ev))
	ev.Type, ev.Percent, ev.Message = bgjob.EventProgress, 10, "Loading and preparing data..."
	fmt.Println(bgjob.FormatText(ev))
	ev.Type, ev.State, ev.Duration = bgjob.EventComplete, bgjob.StateSucceeded, 45*time.Minute+18*time.Second
	fmt.Println(bgjob.FormatText(ev))
	ev.Type, ev.StartTime = bgjob.EventWorkerStopped, time.Now()
	fmt.Println(bgjob.FormatText(ev))
	// Output:
	// resnet-finetune started in background
	//    Process ID: 52341
	//    Worker ID: 7
	//    Worker Name: resnet-finetune
	//    Alive: true
	// [worker 7] Loading and preparing data... (10%)
	// resnet-finetune completed successfully (Duration: 45.3min)
	// resnet-finetune worker 7 stopped
}

// With a limit on the jobs running at once, the others wait in a queue,
// highest priority first, then first come.
func ExampleWithMaxRunning() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner(bgjob.WithMaxRunning(1))
	defer r.Shutdown(ctx)

	release := make(chan struct{})
	first, _ := r.Start(ctx, "first", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-release
		return nil
	}))
	second, _ := r.Start(ctx, "second", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil }))

	fmt.Println(second.Name(), second.Status().State)
	close(release)
	first.Wait(ctx)
	second.Wait(ctx)
	fmt.Println(second.Name(), second.Status().State)
	// Output:
	// second queued
	// second succeeded
}

// Pausing is cooperative: the job parks at its next checkpoint, and the
// time it spends there is not counted as run time.
func ExampleHandle_Pause() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	batch := make(chan struct{}) // stands for the work of one batch
	h, _ := r.Start(ctx, "finetune", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(3)
		for range 3 {
			<-batch
			if err := p.Checkpoint(); err != nil { // parks here while paused
				return err
			}
			p.Add(1)
		}
		return nil
	}))

	h.Pause()
	fmt.Println(h.Status().State) // asked; the job is still in its batch
	batch <- struct{}{}           // the batch ends: the job parks
	for h.Status().State != bgjob.StatePaused {
		runtime.Gosched()
	}
	fmt.Println(h.Status().State, h.Status().Step)
	h.Resume()
	batch <- struct{}{}
	batch <- struct{}{}
	h.Wait(ctx)
	fmt.Println(h.Status().State, h.Status().Step)
	// Output:
	// pausing
	// paused 0
	// succeeded 3
}

// A timeout cancels the job with ErrTimeout as the cause.
func ExampleWithTimeout() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "import", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-ctx.Done() // an import that would never end
		return ctx.Err()
	}), bgjob.WithTimeout(10*time.Millisecond))

	err := h.Wait(ctx)
	fmt.Println(h.Status().State, errors.Is(err, bgjob.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: canceled true true
}

// A job that reports no progress for the stall timeout is marked stalled,
// with an event that carries the stacks of its goroutines.
func ExampleWithStallTimeout() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner(
		bgjob.WithStallTimeout(50*time.Millisecond),
		bgjob.WithProgressInterval(10*time.Millisecond),
	)
	sub, _ := r.Subscribe()

	mirror := make(chan struct{}) // a slow mirror, answering only when told
	h, _ := r.Start(ctx, "download", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetStep(1)
		<-mirror
		p.SetStep(2)
		return nil
	}))
	go func() {
		h.Wait(ctx)
		r.Shutdown(ctx)
	}()
	for ev := range sub.Events() {
		switch ev.Type {
		case bgjob.EventStalled:
			fmt.Println("stalled; stack shows the job:", strings.Contains(ev.Stack, "ExampleWithStallTimeout"))
			close(mirror)
		case bgjob.EventUnstalled:
			fmt.Println("progressing again")
		}
	}
	// Output:
	// stalled; stack shows the job: true
	// progressing again
}

// A job logs through its logger; subscribers get the lines as events, and
// the job keeps the tail, readable while it runs and after.
func ExampleProgress_Logger() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner(bgjob.WithLogLimit(2))
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		log := p.Logger()
		for epoch := 1; epoch <= 3; epoch++ {
			log.Info("epoch done", "epoch", epoch, "loss", 1.0/float64(epoch))
		}
		return nil
	}))
	h.Wait(ctx)
	for _, rec := range h.Logs() {
		fmt.Println(rec.Level, rec.Message, rec.Attrs)
	}
	// Output:
	// INFO epoch done [{epoch 2} {loss 0.5}]
	// INFO epoch done [{epoch 3} {loss 0.3333333333333333}]
}

// The history keeps the last finished jobs, to be filtered by state and
// name.
func ExampleRunner_History() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	for i := range 4 {
		h, _ := r.Start(ctx, "nightly", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
			if i%2 == 1 {
				return fmt.Errorf("shard %d unreadable", i)
			}
			return nil
		}))
		h.Wait(ctx)
	}
	for rec := range r.History(bgjob.HistoryFilter{Name: "nightly", States: []bgjob.State{bgjob.StateFailed}}) {
		fmt.Println(rec.State, rec.Err)
	}
	// Output:
	// failed shard 3 unreadable
	// failed shard 1 unreadable
}

// A job's timeline records its progress over time, with its pauses and
// stalls, in a bounded amount of memory; a dashboard draws it.
func ExampleHandle_Timeline() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner(bgjob.WithProgressInterval(time.Millisecond))
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "import", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(4)
		for range 4 {
			p.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}))
	h.Wait(ctx)
	tl := h.Timeline()
	last := tl[len(tl)-1]
	fmt.Println(last.Kind, last.Percent)
	// Output: progress 100
}

// A training job records its loss and accuracy; the status shows the
// latest values, FormatText prints them, and Metrics keeps each series,
// bounded, with its minimum, maximum and last value per point.
func ExampleProgress_Metrics() {
	ctx := context.Background()
	r, _ := bgjob.NewRunner()
	defer r.Shutdown(ctx)

	h, _ := r.Start(ctx, "finetune", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(3)
		for epoch := 1; epoch <= 3; epoch++ {
			loss, acc := 1.0/float64(epoch), 0.6+0.1*float64(epoch)
			p.SetStep(int64(epoch))
			p.Metrics(bgjob.Scalar{"loss", loss}, bgjob.Scalar{"accuracy", acc})
		}
		return nil
	}))
	h.Wait(ctx)

	st := h.Status()
	for _, m := range st.Metrics {
		fmt.Printf("%s %.3f at step %d\n", m.Name, m.Value, m.Step)
	}
	ev := bgjob.Event{Type: bgjob.EventProgress, WorkerID: st.WorkerID, Percent: st.Percent, Metrics: st.Metrics}
	fmt.Println(bgjob.FormatText(ev))
	loss := h.Metrics()[0]
	fmt.Println(loss.Name, "points:", len(loss.Points), "max:", loss.Points[0].Max)
	// Output:
	// loss 0.333 at step 3
	// accuracy 0.900 at step 3
	// [worker 1] (100%) loss 0.3333 accuracy 0.9
	// loss points: 3 max: 1
}

// WithEventLog writes every event as a structured record, at a level
// that fits it: here, only what an operator must see (warnings and up).
func ExampleWithEventLog() {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "job_id" || a.Key == "duration" {
				return slog.Attr{} // for a stable example
			}
			return a
		},
	}))
	r, _ := bgjob.NewRunner(bgjob.WithEventLog(log), bgjob.WithMaxRunning(1))
	release := make(chan struct{})
	first, _ := r.Start(ctx, "import", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-release
		return nil
	}))
	waiting, _ := r.Start(ctx, "report", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		return nil
	}))
	waiting.Cancel(errors.New("superseded"))
	close(release)
	first.Wait(ctx)
	r.Shutdown(ctx)
	// Output:
	// level=WARN msg="report canceled before it started: superseded" event=complete job_name=report worker_id=2 state=canceled percent=0 error=superseded
}

// A middleware runs around every job, on the job's goroutine: what it puts
// in the context (a trace span, a request-scoped logger) is what the job
// sees.
func ExampleWithMiddleware() {
	type tenantKey struct{}
	tagged := func(next bgjob.Job) bgjob.Job {
		return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			fmt.Println("before", p.Handle().Name())
			err := next.Run(context.WithValue(ctx, tenantKey{}, "acme"), p)
			fmt.Println("after", p.Handle().Name(), err)
			return err
		})
	}
	ctx := context.Background()
	r, err := bgjob.NewRunner(bgjob.WithMiddleware(tagged))
	if err != nil {
		panic(err)
	}
	defer r.Shutdown(ctx)

	h, err := r.Start(ctx, "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		fmt.Println("training for", ctx.Value(tenantKey{}))
		return nil
	}))
	if err != nil {
		panic(err)
	}
	_ = h.Wait(ctx)
	// Output:
	// before train
	// training for acme
	// after train <nil>
}
