package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobriver"
	"github.com/riverqueue/river/rivertype"
)

// stepsInput drives the steps job; the tests insert it.
type stepsInput struct {
	Steps        int    `json:"steps"`
	StepMS       int    `json:"step_ms"`
	FailAttempts int    `json:"fail_attempts"` // the first n attempts fail at their first step
	Log          string `json:"log"`           // a file each attempt appends its steps to
}

type stepsCheckpoint struct {
	Done int `json:"done"`
}

// stepsJob counts Steps steps of StepMS each, checkpointing after each and
// resuming from the last checkpoint. It notes every start, step, stop and
// end in Log, with its process id, for the tests to check who did what when.
var stepsJob = bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
	var in stepsInput
	if err := bgjobriver.Input(ctx, &in); err != nil {
		return err
	}
	att, _ := bgjobriver.CurrentAttempt(ctx)
	var cp stepsCheckpoint
	if _, err := bgjobriver.LoadCheckpoint(ctx, &cp); err != nil {
		return err
	}
	p.SetTotal(int64(in.Steps))
	p.SetStep(int64(cp.Done))
	note(in.Log, "start attempt=%d from=%d", att.Number, cp.Done)
	for i := cp.Done + 1; i <= in.Steps; i++ {
		if err := p.Checkpoint(); err != nil {
			note(in.Log, "stop attempt=%d cause=%v", att.Number, context.Cause(ctx))
			return err
		}
		if att.Number <= in.FailAttempts {
			note(in.Log, "fail attempt=%d", att.Number)
			return fmt.Errorf("attempt %d fails on purpose", att.Number)
		}
		select {
		case <-ctx.Done():
			note(in.Log, "stop attempt=%d cause=%v", att.Number, context.Cause(ctx))
			return context.Cause(ctx)
		case <-time.After(time.Duration(in.StepMS) * time.Millisecond):
		}
		if err := bgjobriver.SaveCheckpoint(ctx, stepsCheckpoint{Done: i}); err != nil {
			note(in.Log, "fail attempt=%d err=%v", att.Number, err)
			return err
		}
		p.SetStep(int64(i))
		p.SetMessage(fmt.Sprintf("step %d", i))
		note(in.Log, "step attempt=%d i=%d", att.Number, i)
	}
	note(in.Log, "end attempt=%d", att.Number)
	return nil
})

// note appends a line "<unix ns> <pid> <event> k=v …" to path.
func note(path, format string, args ...any) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d %d "+format+"\n", append([]any{time.Now().UnixNano(), os.Getpid()}, args...)...)
}

// fastRetry retries a failed attempt after 100ms, so that a transient
// failure on a loaded machine costs the tests a moment, not River's backoff.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}
