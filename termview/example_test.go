package termview_test

import (
	"context"
	"os"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/termview"
	"github.com/google/uuid"
)

// A View fed by hand, in plain mode, as in a CI log: the lifecycle in
// full, and progress at most once per job every PlainEvery (10s by
// default), by the events' time, with the last line before the end always
// shown.
func Example() {
	v := termview.New(os.Stdout, termview.Options{Live: new(false), Width: 80})
	defer v.Close()

	start := time.Date(2025, 10, 21, 15, 30, 0, 0, time.UTC)
	ev := bgjob.Event{
		JobID: uuid.MustParse("6f1c2a9e-0000-4000-8000-000000000001"), JobName: "mlp-1",
		WorkerID: 1, WorkerName: "mlp-1", ProcessID: 4242, Alive: true,
		State: bgjob.StateRunning, StartTime: start, Total: 300,
	}
	send := func(t bgjob.EventType, sec int, step int64, loss float64) {
		ev.Type, ev.Time = t, start.Add(time.Duration(sec)*time.Second)
		ev.Step, ev.Percent = step, float64(step)/3
		ev.Rate, ev.ETA = 10, time.Duration(300-step)*100*time.Millisecond
		ev.Metrics = []bgjob.Metric{{Name: "loss", Value: loss, Step: step}}
		v.Event(ev)
	}
	send(bgjob.EventInfo, 0, 0, 0)
	send(bgjob.EventWorkerStarted, 0, 0, 0)
	for sec := 1; sec <= 30; sec++ {
		send(bgjob.EventProgress, sec, int64(sec*10), 1/float64(sec))
	}
	ev.State, ev.Alive, ev.Duration = bgjob.StateSucceeded, false, 30*time.Second
	send(bgjob.EventComplete, 30, 300, 1.0/30)
	send(bgjob.EventWorkerStopped, 30, 300, 1.0/30)

	// Output:
	// mlp-1 started in background
	//    Process ID: 4242
	//    Worker ID: 1
	//    Worker Name: mlp-1
	//    Alive: true
	// mlp-1 worker started
	//    Worker ID: 1
	//    Start Time: 2025-10-21T15:30:00.000000
	// mlp-1 running ░░░░░░░░░░░░░░░░░░░░   3%  10/300 10.0 it/s ETA 29.0s loss 1
	// mlp-1 running ███████░░░░░░░░░░░░░  36% 110/300 10.0 it/s ETA 19.0s loss 0.09091
	// mlp-1 running ██████████████░░░░░░  70% 210/300 10.0 it/s ETA 9.0s loss 0.04762
	// mlp-1 running ████████████████████ 100% 300/300 10.0 it/s loss 0.03333
	// mlp-1 completed successfully (Duration: 30.0s)
	// mlp-1 worker 1 stopped
}

// Watch shows the jobs of a Runner until it shuts down.
func ExampleWatch() {
	ctx := context.Background()
	runner, err := bgjob.NewRunner()
	if err != nil {
		panic(err)
	}
	sub, err := runner.Subscribe()
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- termview.Watch(ctx, os.Stderr, sub, termview.Options{}) }()

	_, err = runner.Start(ctx, "mlp-1", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(100)
		for range 100 {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			p.Add(1)
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}
	if err := runner.Shutdown(ctx); err != nil {
		panic(err)
	}
	if err := <-done; err != nil {
		panic(err)
	}
}

// A View prints lines of the caller's own above the live area, so that
// they are not overwritten.
func ExampleView_Println() {
	v := termview.New(os.Stdout, termview.Options{Live: new(false)})
	defer v.Close()
	v.Println("epoch", 3, "done")
	// Output:
	// epoch 3 done
}
