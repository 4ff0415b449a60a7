package bgjobriver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

// These tests run nodes as separate OS processes (this test binary, started
// again), on one database, and watch and steer them from the test process.
// Real time cannot be avoided across processes: every wait polls with a
// deadline, and the heartbeat and rescue window are short (setup_test.go).

// TestProcessWatchPauseResumeCancel: node A works a job; the test process,
// another node, watches its progress, pauses and resumes it, and cancels it
// with a reason that reaches the job in A as context.Cause.
func TestProcessWatchPauseResumeCancel(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		watcher := b.open(t)
		a := startNode(t, "node-a", b.nodeEnv...)
		logPath := filepath.Join(t.TempDir(), "steps.log")
		ctx := context.Background()
		id, err := watcher.Start(ctx, "steps", stepsInput{Steps: 10_000, StepMS: 10, Log: logPath}, WithName("long run"))
		require.NoError(t, err)

		st := waitFor(t, "progress from node A", 20*time.Second, statusOf(watcher, id), func(s Status) bool {
			return s.State == bgjob.StateRunning && s.Step >= 3
		})
		require.Equal(t, "node-a", st.Node)
		require.Equal(t, a.pid(), st.ProcessID, "the job runs in node A's process")
		require.True(t, st.Alive)
		require.Equal(t, "long run", st.Name)
		require.EqualValues(t, 10_000, st.Total)

		require.NoError(t, watcher.Pause(ctx, id))
		paused := waitFor(t, "paused on node A", 10*time.Second, statusOf(watcher, id), func(s Status) bool {
			return s.State == bgjob.StatePaused
		})
		require.True(t, paused.PauseRequested)
		// Paused at a checkpoint: a few heartbeats later, the same step.
		later := waitFor(t, "heartbeats while paused", 10*time.Second, statusOf(watcher, id), func(s Status) bool {
			return s.Heartbeat.After(paused.Heartbeat.Add(3 * testHeartbeat))
		})
		require.Equal(t, bgjob.StatePaused, later.State)
		require.Equal(t, paused.Step, later.Step)

		require.NoError(t, watcher.Resume(ctx, id))
		waitFor(t, "running again", 10*time.Second, statusOf(watcher, id), func(s Status) bool {
			return s.State == bgjob.StateRunning && s.Step > paused.Step
		})

		require.NoError(t, watcher.Cancel(ctx, id, fmt.Errorf("superseded by a newer dataset")))
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		end, err := watcher.Wait(wctx, id)
		require.NoError(t, err)
		require.Equal(t, bgjob.StateCanceled, end.State, "%+v", end)
		require.ErrorContains(t, end.Err, "superseded by a newer dataset")
		require.Equal(t, 1, end.Attempt)
		require.ErrorIs(t, watcher.Cancel(ctx, id, nil), ErrJobDone)

		lines := readNotes(t, logPath)
		last := lines[len(lines)-1]
		require.Equal(t, "stop", last.event, "%v", last)
		require.Equal(t, a.pid(), last.pid)
		require.Contains(t, last.text, "cause=bgjobriver: job canceled: superseded by a newer dataset")
		a.stop(t)
	})
}

// TestProcessKilledNodeJobResumesElsewhere: node A is killed with SIGKILL
// in the middle of a job; node C takes the job back once A's heartbeat is
// stale and finishes it from A's last checkpoint. No step is lost, and C
// starts only after A is dead.
func TestProcessKilledNodeJobResumesElsewhere(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		watcher := b.open(t)
		a := startNode(t, "node-a", b.nodeEnv...)
		logPath := filepath.Join(t.TempDir(), "steps.log")
		ctx := context.Background()
		const steps = 40
		id, err := watcher.Start(ctx, "steps", stepsInput{Steps: steps, StepMS: 40, Log: logPath})
		require.NoError(t, err)
		waitFor(t, "node A halfway", 20*time.Second, statusOf(watcher, id), func(s Status) bool {
			return s.Node == "node-a" && s.Step >= 8
		})
		c := startNode(t, "node-c", b.nodeEnv...)
		killedAt := a.kill(t)

		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		end, err := watcher.Wait(wctx, id)
		require.NoError(t, err)
		require.Equal(t, bgjob.StateSucceeded, end.State, "%+v", end)
		require.Equal(t, "node-c", end.Node)
		require.Equal(t, c.pid(), end.ProcessID)
		require.Equal(t, 2, end.Attempt)
		require.Equal(t, 1, end.Rescues)
		require.Len(t, end.Errors, 1)
		require.Contains(t, end.Errors[0].Error, "no heartbeat from node node-a")
		require.EqualValues(t, steps, end.Step)

		checkResumed(t, readNotes(t, logPath), a.pid(), c.pid(), killedAt, steps)
		c.stop(t)
	})
}

// TestProcessStoppedNodeHandsJobOver: node A is told to stop while a job
// runs and its Close's context ends at once: the job is canceled, goes back
// to the queue without counting the attempt, and node C finishes it from
// A's last checkpoint.
func TestProcessStoppedNodeHandsJobOver(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	watcher := b.open(t)
	a := startNode(t, "node-a", append(b.nodeEnv, nodeCloseEnv+"=1ms")...)
	logPath := filepath.Join(t.TempDir(), "steps.log")
	ctx := context.Background()
	const steps = 30
	id, err := watcher.Start(ctx, "steps", stepsInput{Steps: steps, StepMS: 30, Log: logPath})
	require.NoError(t, err)
	waitFor(t, "node A started", 20*time.Second, statusOf(watcher, id), func(s Status) bool {
		return s.Node == "node-a" && s.Step >= 5
	})
	c := startNode(t, "node-c", b.nodeEnv...)
	a.stop(t)

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	end, err := watcher.Wait(wctx, id)
	require.NoError(t, err)
	require.Equal(t, bgjob.StateSucceeded, end.State, "%+v", end)
	require.Equal(t, "node-c", end.Node)
	require.Equal(t, 1, end.Attempt, "a hand-over does not count as an attempt")
	require.Zero(t, end.Rescues)

	lines := readNotes(t, logPath)
	var stop *noteLine
	for i := range lines {
		if lines[i].event == "stop" && lines[i].pid == a.pid() {
			stop = &lines[i]
		}
	}
	require.NotNil(t, stop, "node A's job saw its cancellation")
	require.Contains(t, stop.text, ErrNodeStopping.Error())
	checkResumed(t, lines, a.pid(), c.pid(), stop.at, steps)
	c.stop(t)
}

func statusOf(c *Client, id int64) func(ctx context.Context) (Status, error) {
	return func(ctx context.Context) (Status, error) { return c.Status(ctx, id) }
}

// checkResumed checks the steps log of a job that node `from` started and
// node `to` finished: `to` started after `from` ended, from `from`'s last
// checkpoint (a step at most is done again: the one between its checkpoint
// and its note), and every step was done.
func checkResumed(t *testing.T, lines []noteLine, from, to int, fromEnded time.Time, steps int) {
	t.Helper()
	done := map[int]bool{}
	lastFrom := 0
	var resume *noteLine
	for i, l := range lines {
		switch {
		case l.pid == from:
			require.Nil(t, resume, "node %d worked after node %d took over: %v", from, to, l)
			if l.event == "step" {
				lastFrom = l.int("i")
				done[lastFrom] = true
			}
		case l.pid == to:
			if resume == nil {
				require.Equal(t, "start", l.event)
				resume = &lines[i]
				require.True(t, l.at.After(fromEnded), "node %d started at %s, before node %d ended at %s", to, l.at, from, fromEnded)
			}
			if l.event == "step" {
				done[l.int("i")] = true
			}
		}
	}
	require.NotNil(t, resume, "node %d never started the job", to)
	require.GreaterOrEqual(t, lastFrom, 1)
	require.GreaterOrEqual(t, resume.int("from"), lastFrom)
	require.LessOrEqual(t, resume.int("from"), lastFrom+1)
	// The step between the last note and the kill was checkpointed, so done.
	for i := 1; i <= resume.int("from"); i++ {
		done[i] = true
	}
	for i := 1; i <= steps; i++ {
		require.True(t, done[i], "step %d lost", i)
	}
	require.Equal(t, "end", lines[len(lines)-1].event)
}

// noteLine is one line of a steps log: "<unix ns> <pid> <event> k=v …".
type noteLine struct {
	at    time.Time
	pid   int
	event string
	text  string
}

func (l noteLine) int(key string) int {
	for _, f := range strings.Fields(l.text) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

func readNotes(t *testing.T, path string) []noteLine {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []noteLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		require.Len(t, fields, 4, sc.Text())
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		require.NoError(t, err)
		pid, err := strconv.Atoi(fields[1])
		require.NoError(t, err)
		ev, _, _ := strings.Cut(fields[2]+" "+fields[3], " ")
		out = append(out, noteLine{at: time.Unix(0, ns), pid: pid, event: ev, text: fields[3]})
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, out)
	return out
}

// TestProcessCancelOfAJobOnADeadNode: node A dies with a job; the job is
// canceled before any node takes it back; the sweep on node C then cancels
// it rather than running it again.
func TestProcessCancelOfAJobOnADeadNode(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	watcher := b.open(t)
	a := startNode(t, "node-a", b.nodeEnv...)
	logPath := filepath.Join(t.TempDir(), "steps.log")
	ctx := context.Background()
	id, err := watcher.Start(ctx, "steps", stepsInput{Steps: 1000, StepMS: 20, Log: logPath})
	require.NoError(t, err)
	waitFor(t, "node A working", 20*time.Second, statusOf(watcher, id), func(s Status) bool {
		return s.Node == "node-a" && s.Step >= 2
	})
	a.kill(t)
	require.NoError(t, watcher.Cancel(ctx, id, fmt.Errorf("not worth finishing")))
	st, err := watcher.Status(ctx, id)
	require.NoError(t, err)
	require.True(t, st.CancelRequested)
	require.Equal(t, rivertype.JobStateRunning, st.RiverState, "nobody has taken it back yet")

	c := startNode(t, "node-c", b.nodeEnv...)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	end, err := watcher.Wait(wctx, id)
	require.NoError(t, err)
	require.Equal(t, bgjob.StateCanceled, end.State, "%+v", end)
	require.ErrorContains(t, end.Err, "not worth finishing")
	require.Equal(t, 1, end.Rescues)
	for _, l := range readNotes(t, logPath) {
		require.NotEqual(t, c.pid(), l.pid, "node C ran the canceled job")
	}
	c.stop(t)
}
