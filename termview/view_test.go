package termview

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveView returns a forced live view without colour on an emulated
// screen.
func liveView(t *testing.T, cols int) (*View, *screen) {
	t.Helper()
	t.Setenv("NO_COLOR", "1")
	scr := &screen{}
	return New(scr, Options{Live: new(true), Width: cols}), scr
}

func TestQueuedJob(t *testing.T) {
	v, scr := liveView(t, 100)
	info := jobA(bgjob.EventInfo, 0, bgjob.StateQueued)
	info.Alive = false
	queued := jobA(bgjob.EventQueued, 0, bgjob.StateQueued)
	queued.QueuePosition = 2
	v.Event(info)
	v.Event(queued)
	require.Equal(t, []string{"mlp-1 queued  ░░░░░░░░░░░░░░░░░░░░░░░░░   0%"}, v.drawn)

	started := jobA(bgjob.EventWorkerStarted, 3, bgjob.StateRunning)
	started.QueueWait = 3 * time.Second
	v.Event(started)
	require.Equal(t, []string{"mlp-1 running ░░░░░░░░░░░░░░░░░░░░░░░░░   0%"}, v.drawn)
	v.Close()
	require.Equal(t, []string{
		"mlp-1 accepted, waiting for a worker (worker 1)",
		"mlp-1 queued (position 2)",
		"mlp-1 worker 1 started after 3.0s in the queue",
	}, scr.lines())
}

// TestLagged checks that a job named by a lagged event shows that its
// line may be out of date until its next event, and that a job whose
// complete was lost leaves the area at its worker_stopped.
func TestLagged(t *testing.T) {
	v, scr := liveView(t, 100)
	play(v, script()[:7])
	lag := bgjob.Event{Type: bgjob.EventLagged, Time: at(7), LagFirst: 9, LagLast: 12, LagJobs: []uuid.UUID{idA, uuid.New()}}
	v.Event(lag)
	require.Len(t, v.drawn, 2)
	assert.Equal(t, "mlp-1           lagged  █████░░░░░░░░░░░░░░░░░░░░  20%  200/1000 loss 0.7034 acc 0.5", v.drawn[0],
		"no rate, no ETA")
	assert.Contains(t, v.drawn[1], "resnet-finetune running")

	// The complete of mlp-1 was among the events lost.
	stopped := jobA(bgjob.EventWorkerStopped, 15, bgjob.StateSucceeded)
	v.Event(stopped)
	require.Len(t, v.drawn, 1)
	assert.Contains(t, v.drawn[0], "resnet-finetune running")
	v.Close()
	lines := scr.lines()
	assert.Equal(t, "missed events seq 9 to 12 of 2 job(s): the reader fell behind", lines[len(lines)-3])
	assert.Contains(t, lines[len(lines)-2], "mlp-1           lagged  ", "the job's last line is left")
	assert.Equal(t, "mlp-1 worker 1 stopped", lines[len(lines)-1])
}

// TestUnknownJobs checks events of jobs whose first events the view did
// not see: progress adds the job, a log line or an ended job does not.
func TestUnknownJobs(t *testing.T) {
	v, scr := liveView(t, 100)
	logB := jobB(bgjob.EventLog, 1, bgjob.StateRunning)
	logB.Message = "hello"
	v.Event(logB)
	require.Empty(t, v.drawn)

	v.Event(withSteps(jobA(bgjob.EventProgress, 2, bgjob.StateRunning), 5, 10, 1, 5*time.Second))
	require.Equal(t, []string{"mlp-1 running ████████████░░░░░░░░░░░░░  50%  5/10 1.0 it/s ETA 5.0s"}, v.drawn)

	done := jobB(bgjob.EventComplete, 3, bgjob.StateCanceled)
	done.Err, done.Duration = bgjob.ErrCanceled, 2*time.Second
	v.Event(done)
	require.Len(t, v.drawn, 1)
	v.Close()
	assert.Equal(t, []string{
		"[worker 2] INFO hello",
		"resnet-finetune canceled after 2.0s: bgjob: job canceled",
	}, scr.lines())
}

// TestStalledFolded checks that progress clears a stall whose unstalled
// event the view never saw.
func TestStalledFolded(t *testing.T) {
	v, _ := liveView(t, 100)
	stalled := withSteps(jobA(bgjob.EventStalled, 1, bgjob.StateRunning), 5, 10, 1, 5*time.Second)
	stalled.Message = "no progress for 30.0s"
	v.Event(stalled)
	require.Contains(t, v.drawn[0], "stalled")
	require.NotContains(t, v.drawn[0], "30.0s", "the stall's message is not the job's")

	same := withSteps(jobA(bgjob.EventProgress, 2, bgjob.StateRunning), 5, 10, 1, 5*time.Second)
	v.Event(same)
	require.Contains(t, v.drawn[0], "stalled", "progress that did not move says nothing of the stall")

	v.Event(withSteps(jobA(bgjob.EventProgress, 3, bgjob.StateRunning), 6, 10, 1, 4*time.Second))
	require.Equal(t, "mlp-1 running ███████████████░░░░░░░░░░  60%  6/10 1.0 it/s ETA 4.0s", v.drawn[0])
	v.Close()
}

// TestHostileText checks that escape sequences and newlines in what jobs
// report cannot reach the terminal.
func TestHostileText(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprint("live=", live), func(t *testing.T) {
			t.Setenv("NO_COLOR", "1")
			var out bytes.Buffer
			v := New(&out, Options{Live: new(live)})
			ev := withPercent(jobA(bgjob.EventProgress, 1, bgjob.StateRunning), 10, 1, 0, "evil\x1b[2J\nnext line\r")
			v.Event(ev)
			logA := jobA(bgjob.EventLog, 2, bgjob.StateRunning)
			logA.Message = "title\x1b]0;pwned\a"
			v.Event(logA)
			v.Println("mine\x1b[31m")
			v.Close()
			got := out.String()
			for _, bad := range []string{"\x1b[2J", "\x1b]0", "\a", "\r", "\x1b[31m", "evil\n"} {
				assert.NotContains(t, got, bad)
			}
			assert.Contains(t, got, "evil\ufffd[2J\ufffdnext line\ufffd")
		})
	}
}

// TestConcurrent feeds a view from many goroutines and checks, with the
// race detector, that the screen comes out whole.
func TestConcurrent(t *testing.T) {
	v, scr := liveView(t, 100)
	var wg sync.WaitGroup
	const jobs, steps = 8, 50
	for g := range jobs {
		wg.Go(func() {
			id := uuid.New()
			name := fmt.Sprintf("job-%d", g)
			ev := bgjob.Event{JobID: id, JobName: name, WorkerID: int64(g), State: bgjob.StateRunning, Total: steps}
			for _, typ := range []bgjob.EventType{bgjob.EventInfo, bgjob.EventWorkerStarted} {
				ev.Type = typ
				v.Event(ev)
			}
			ev.Type = bgjob.EventProgress
			for s := range int64(steps) {
				ev.Step, ev.Percent, ev.Time = s+1, float64(s+1)*100/steps, at(float64(s))
				v.Event(ev)
				if s%10 == 0 {
					v.Println(name, "at", s)
				}
			}
			ev.Type, ev.State = bgjob.EventComplete, bgjob.StateSucceeded
			v.Event(ev)
		})
	}
	wg.Wait()
	v.Close()
	require.Empty(t, scr.unknown)
	lines := scr.lines()
	require.Len(t, lines, jobs*(2+steps/10+2), "every line printed above is there, whole:\n%s", strings.Join(lines, "\n"))
	for _, l := range lines {
		require.NotContains(t, l, "░", "no live line is left: %q", l)
	}
}
