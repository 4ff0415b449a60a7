package termview

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/bgjob/bgjob"
)

// Brief plain output tells each lifecycle event in one line, as live mode
// does, without any escape sequence.
func TestBriefPlain(t *testing.T) {
	var out strings.Builder
	live := false
	v := New(&out, Options{Live: &live, Brief: true})
	id := uuid.New()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := bgjob.Event{JobID: id, JobName: "mlp-1", WorkerID: 1, WorkerName: "mlp-1", ProcessID: 7, Time: at, StartTime: at}
	for _, give := range []bgjob.Event{
		with(base, func(e *bgjob.Event) { e.Type, e.State, e.Alive = bgjob.EventInfo, bgjob.StateRunning, true }),
		with(base, func(e *bgjob.Event) { e.Type, e.State, e.Alive = bgjob.EventWorkerStarted, bgjob.StateRunning, true }),
		with(base, func(e *bgjob.Event) {
			e.Type, e.State, e.Duration = bgjob.EventComplete, bgjob.StateSucceeded, 2*time.Second
		}),
		with(base, func(e *bgjob.Event) { e.Type, e.State = bgjob.EventWorkerStopped, bgjob.StateSucceeded }),
	} {
		v.Event(give)
	}
	v.Close()
	assert.Equal(t, "mlp-1 started (worker 1)\nmlp-1 worker 1 started\nmlp-1 completed successfully (Duration: 2.0s)\nmlp-1 worker 1 stopped\n", out.String())
}

func with(ev bgjob.Event, f func(*bgjob.Event)) bgjob.Event {
	f(&ev)
	return ev
}
