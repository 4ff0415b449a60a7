package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDemoSucceeds(t *testing.T) {
	var out strings.Builder
	code, err := run(context.Background(), &out, options{jobs: 2, epochs: 3, samples: 2000, limit: 2, verbose: true})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	text := out.String()
	for _, want := range []string{
		"mlp-1 started in background", "Process ID:", "Worker ID: 1", "Alive: true",
		"mlp-1 worker started", "Start Time:",
		"mlp-1 completed successfully", "mlp-2 completed successfully", "mlp-2 worker 2 stopped",
		"epoch 3/3 (100%, 96/96) loss ", "accuracy 0.7", "loss curve",
		"INFO data ready samples=2000", // the job's log, live
		"mlp-1 (succeeded): ",          // its run record, with the timeline
		"points, 0 pause(s), 0 stall(s)",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "peak heap 0.0", "no figure for what was not measured")
	assert.NotContains(t, text, "\r", "piped output has no live line")
}

func TestDemoFailureAndPanicExitOne(t *testing.T) {
	var out strings.Builder
	code, err := run(context.Background(), &out, options{jobs: 1, epochs: 6, samples: 2000, fail: true, panic: true, limit: 3, verbose: true})
	require.NoError(t, err)
	assert.Equal(t, 1, code)
	text := out.String()
	assert.Contains(t, text, "mlp-diverging failed")
	assert.Contains(t, text, "training diverged")
	assert.Contains(t, text, "mlp-buggy failed")
	assert.Contains(t, text, "job panicked: runtime error: index out of range")
	assert.Contains(t, text, "train.go:", "the panic's stack is printed")
	assert.Contains(t, text, "mlp-1 completed successfully")
}

func TestDemoCancelAfter(t *testing.T) {
	var out strings.Builder
	// Jobs far too long to finish: only the cancellation ends them.
	code, err := run(context.Background(), &out, options{jobs: 2, epochs: 1_000_000, samples: 2000, cancelAfter: 50 * time.Millisecond, limit: 2, verbose: true})
	require.NoError(t, err)
	assert.Equal(t, 1, code)
	assert.Equal(t, 2, strings.Count(out.String(), "canceled after"))
	assert.Contains(t, out.String(), "canceled by -cancel-after 50ms")
}

func TestDemoLiveView(t *testing.T) {
	var out strings.Builder
	live := true
	code, err := run(context.Background(), &out, options{jobs: 1, epochs: 3, samples: 2000, live: &live, interval: time.Millisecond, limit: 1})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, out.String(), "\x1b[", "redrawn in place")
}

// By default the demo tells the story briefly: each job's lifecycle in a
// line or two, then a table of the runs with their final loss, accuracy
// and loss curve.
func TestDemoIsBrief(t *testing.T) {
	var out strings.Builder
	code, err := run(context.Background(), &out, options{
		jobs: 3, epochs: 8, samples: 2000, limit: 2,
		pause: 200 * time.Millisecond, stall: true, stallFor: 1500 * time.Millisecond,
	})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	text := out.String()
	// About forty lines: how many progress lines fall between the
	// lifecycle's depends on the machine's pace, so the bound leaves room.
	assert.LessOrEqual(t, strings.Count(text, "\n"), 50, "%s", text)
	for _, want := range []string{"job", "outcome", "loss curve", "mlp-1", "mlp-stuck", "succeeded"} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `mlp-1 +succeeded +\S+ +0\.\d{4} +\d+\.\d%  [▁▂▃▄▅▆▇█]+`, text)
	assert.NotContains(t, text, "\x1b[", "not a terminal: plain lines")
	assert.NotContains(t, text, "peak heap 0.0")
}

func TestDemoQueuePauseCancelAndStall(t *testing.T) {
	var out strings.Builder
	// Jobs far too long to finish on their own: the queue, the pause, the
	// cancel with a reason (which lets the queued job in) and its stall all
	// happen before -cancel-after ends them.
	code, err := run(context.Background(), &out, options{
		jobs: 2, epochs: 1_000_000, samples: 2000, limit: 2,
		pause: 500 * time.Millisecond, cancelOne: true,
		stall: true, stallFor: 3 * time.Second,
		cancelAfter: 7 * time.Second, verbose: true,
	})
	require.NoError(t, err)
	assert.Equal(t, 1, code)
	text := out.String()
	for _, want := range []string{
		"mlp-stuck queued (position 1)",
		"asked mlp-1 to pause", "[worker 1] paused", "resumed after",
		"canceling mlp-2: superseded by a newer dataset",
		"mlp-2 canceled after", "Queue Wait:",
		"[worker 3] stalled: no progress for", "progressing again",
	} {
		assert.Contains(t, text, want)
	}
}

func TestDemoBadFlags(t *testing.T) {
	code, err := run(context.Background(), &strings.Builder{}, options{jobs: -1, epochs: 1, samples: 1})
	assert.Error(t, err)
	assert.Equal(t, 2, code)
}

// With -http the demo serves the dashboard while it trains, and after,
// until interrupted.
func TestDemoServesTheDashboard(t *testing.T) {
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	served := make(chan string, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	var out strings.Builder
	go func() {
		code, err := run(ctx, &out, options{
			jobs: 2, epochs: 3, samples: 2000, limit: 2,
			httpAddr: "127.0.0.1:0", onServe: func(url string) { served <- url },
		})
		done <- result{code, err}
	}()
	url := <-served
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, page := get("")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "<title>bgjob</title>")
	code, cfg := get("api/config")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, cfg, `"control":true`, "control from this machine")
	code, metrics := get("metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, metrics, "bgjob_jobs_started_total 2")
	assert.Contains(t, metrics, "go_goroutines")

	// Still served once the training is over: the runs are in the history.
	deadline, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		_, history := get("api/history")
		if strings.Count(history, `"state":"succeeded"`) == 2 {
			break
		}
		select {
		case <-deadline.Done():
			t.Fatalf("the runs never reached the history: %s", history)
		case <-time.After(20 * time.Millisecond):
		}
	}
	interrupt()
	res := <-done
	require.NoError(t, res.err)
	assert.Equal(t, 0, res.code)
	assert.Contains(t, out.String(), "dashboard: "+url)
	assert.Contains(t, out.String(), "until interrupted")
	_, err := http.Get(url)
	assert.Error(t, err, "the server is down")
}
