package bgjobtest

import (
	"context"

	"github.com/bgjob/bgjob"
)

// Succeed returns a job of steps steps that succeeds: it sets its total to
// steps, then for each step calls Checkpoint (where Pause parks it) and
// adds one step. It returns Checkpoint's error if it is canceled on the
// way, and nil otherwise.
func Succeed(steps int) bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(int64(steps))
		for range steps {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			p.Add(1)
		}
		return nil
	})
}

// Fail returns a job that fails at once with err. It panics if err is
// nil: a job that returns nil succeeds.
func Fail(err error) bgjob.Job {
	if err == nil {
		panic("bgjobtest: Fail needs an error")
	}
	return bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return err })
}

// Panic returns a job that panics at once with v; the Runner reports it
// failed with a *bgjob.PanicError holding v.
func Panic(v any) bgjob.Job {
	return bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { panic(v) })
}

// HangUntilCanceled returns a job that does nothing until it is canceled,
// then returns its context's error, so that it ends canceled. It never
// reaches a checkpoint: Pause leaves it pausing.
func HangUntilCanceled() bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, _ *bgjob.Progress) error {
		<-ctx.Done()
		return ctx.Err()
	})
}

// IgnoreCancel returns a job that ignores its cancellation: it runs until
// release is closed, then returns nil (so it ends succeeded, even if it was
// canceled). With bgjob.WithCancelGrace, a canceled IgnoreCancel job is
// abandoned once the grace has passed. Close release before the test ends:
// until then the job's goroutine runs, and goleak sees it.
func IgnoreCancel(release <-chan struct{}) bgjob.Job {
	return bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
		<-release
		return nil
	})
}
