package bgjobprom_test

import (
	"context"
	"log/slog"

	"github.com/bgjob/bgjob"
)

// trainingJob is a job that reaches step of total, records the metrics
// given, closes recorded, and then runs until release is closed (and
// succeeds) or it is canceled: a training run caught mid-way, whose
// status holds still for as long as the test looks at it.
type trainingJob struct {
	step, total int64
	metrics     []bgjob.Scalar
	recorded    chan struct{}
	release     chan struct{}
}

func newTrainingJob(step, total int64, metrics ...bgjob.Scalar) *trainingJob {
	return &trainingJob{
		step: step, total: total, metrics: metrics,
		recorded: make(chan struct{}),
		release:  make(chan struct{}),
	}
}

func (j *trainingJob) Run(ctx context.Context, p *bgjob.Progress) error {
	p.SetTotal(j.total)
	p.SetStep(j.step)
	if err := p.Metrics(j.metrics...); err != nil {
		return err
	}
	close(j.recorded)
	select {
	case <-j.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discardLogger keeps a Runner's complaints, about a history store that
// refuses records, out of the test's output.
var discardLogger = slog.New(slog.DiscardHandler)
