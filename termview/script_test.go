package termview

import (
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
)

// A script is a fixed run of two jobs, with fixed times, that passes
// through every case a view has to show: progress by steps and by
// percent, metrics (NaN among them), a log line, a pause, a stall with its
// stacks, a line of the caller's own, a success and a failure with a
// panic's stack.

var (
	t0   = time.Date(2025, 10, 21, 15, 30, 0, 0, time.UTC)
	idA  = uuid.MustParse("00000000-0000-4000-8000-00000000000a")
	idB  = uuid.MustParse("00000000-0000-4000-8000-00000000000b")
	errB = errors.New("panic: CUDA out of memory")
)

// step is one thing a script does to a view: show an event, or print a
// line of its own.
type step struct {
	ev      bgjob.Event
	println string
}

// at returns the time sec seconds into the script.
func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// jobA and jobB return an event of each job, with their identity.
func jobA(t bgjob.EventType, sec float64, state bgjob.State) bgjob.Event {
	return bgjob.Event{Type: t, Time: at(sec), JobID: idA, JobName: "mlp-1", WorkerID: 1,
		WorkerName: "mlp-1", ProcessID: 4242, Alive: true, State: state, StartTime: t0}
}

func jobB(t bgjob.EventType, sec float64, state bgjob.State) bgjob.Event {
	return bgjob.Event{Type: t, Time: at(sec), JobID: idB, JobName: "resnet-finetune", WorkerID: 2,
		WorkerName: "resnet-finetune", ProcessID: 4242, Alive: true, State: state, StartTime: at(1)}
}

// withSteps and withPercent set an event's progress.
func withSteps(ev bgjob.Event, step, total int64, rate float64, eta time.Duration, ms ...bgjob.Metric) bgjob.Event {
	ev.Step, ev.Total, ev.Percent = step, total, float64(step)*100/float64(total)
	ev.Rate, ev.ETA, ev.Metrics = rate, eta, ms
	return ev
}

func withPercent(ev bgjob.Event, pct, rate float64, eta time.Duration, msg string, ms ...bgjob.Metric) bgjob.Event {
	ev.Percent, ev.Rate, ev.ETA, ev.Message, ev.Metrics = pct, rate, eta, msg, ms
	return ev
}

func metric(name string, v float64, stepAt int64) bgjob.Metric {
	return bgjob.Metric{Name: name, Value: v, Step: stepAt}
}

func script() []step {
	const (
		running = bgjob.StateRunning
		paused  = bgjob.StatePaused
	)
	var (
		E = func(ev bgjob.Event) step { return step{ev: ev} }
		s = time.Second
	)
	infoA := jobA(bgjob.EventInfo, 0, running)
	infoB := jobB(bgjob.EventInfo, 1, running)
	startedA := jobA(bgjob.EventWorkerStarted, 0, running)
	startedB := jobB(bgjob.EventWorkerStarted, 1, running)

	logA := jobA(bgjob.EventLog, 5, running)
	logA.Message = "checkpoint saved"
	logA.Attrs = []bgjob.LogAttr{{Key: "path", Value: slog.StringValue("/tmp/ckpt-200.pt")}}

	pausedA := withSteps(jobA(bgjob.EventPaused, 6, paused), 200, 1000, 50, 16*s,
		metric("loss", 0.7034, 200), metric("acc", 0.5, 200))
	resumedA := withSteps(jobA(bgjob.EventResumed, 9, running), 200, 1000, 50, 16*s,
		metric("loss", 0.7034, 200), metric("acc", 0.5, 200))
	resumedA.Paused = 3 * s

	stalledB := withPercent(jobB(bgjob.EventStalled, 10, running), 10, 5, 18*s, "no progress for 7.0s")
	stalledB.Stack = "main.loadShard(...)\n\t/src/data/load.go:42\nmain.(*Trainer).Run(...)\n\t/src/train.go:88\n"
	unstalledB := withPercent(jobB(bgjob.EventUnstalled, 13, running), 12.5, 4.8, 18*s, "loading data")

	completeA := withSteps(jobA(bgjob.EventComplete, 15, bgjob.StateSucceeded), 1000, 1000, 83.3, 0,
		metric("loss", 0.3981, 1000), metric("acc", 0.8812, 1000))
	completeA.Duration, completeA.Paused, completeA.Alive = 12*s, 3*s, false
	stoppedA := jobA(bgjob.EventWorkerStopped, 15, bgjob.StateSucceeded)
	stoppedA.Alive = false

	completeB := withPercent(jobB(bgjob.EventComplete, 16, bgjob.StateFailed), 40, 2.7, 0, "epoch 1",
		metric("loss", math.NaN(), 0))
	completeB.Duration, completeB.Err, completeB.Alive = 15*s, errB, false
	completeB.Stack = "goroutine 7 [running]:\nmain.(*Trainer).step(...)\n\t/src/train.go:120"
	stoppedB := jobB(bgjob.EventWorkerStopped, 16, bgjob.StateFailed)
	stoppedB.Alive = false

	return []step{
		E(infoA),
		E(startedA),
		E(infoB),
		E(startedB),
		E(withSteps(jobA(bgjob.EventProgress, 2, running), 100, 1000, 50, 18*s, metric("loss", 0.9123, 100))),
		E(withPercent(jobB(bgjob.EventProgress, 3, running), 10, 5, 18*s, "loading data")),
		E(withSteps(jobA(bgjob.EventProgress, 4, running), 200, 1000, 50, 16*s,
			metric("loss", 0.7034, 200), metric("acc", 0.5, 200))),
		E(logA),
		{println: "operator: pausing mlp-1 to look at it"},
		E(pausedA),
		E(resumedA),
		E(stalledB),
		E(withSteps(jobA(bgjob.EventProgress, 12, running), 600, 1000, 80, 5*s,
			metric("loss", 0.41234, 600), metric("acc", 0.87312, 600))),
		E(unstalledB),
		E(withPercent(jobB(bgjob.EventProgress, 14, running), 40, 4, 15*s, "epoch 1",
			metric("loss", math.NaN(), 0))),
		E(withSteps(jobA(bgjob.EventProgress, 15, running), 1000, 1000, 85, 0,
			metric("loss", 0.3981, 1000), metric("acc", 0.8812, 1000))),
		E(completeA),
		E(stoppedA),
		E(completeB),
		E(stoppedB),
	}
}

// play runs a script on v.
func play(v *View, steps []step) {
	for _, st := range steps {
		if st.println != "" {
			v.Println(st.println)
			continue
		}
		v.Event(st.ev)
	}
}
