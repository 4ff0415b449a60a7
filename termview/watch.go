package termview

import (
	"context"
	"io"

	"github.com/bgjob/bgjob"
)

// Watch shows the jobs of sub on w until sub's channel is closed, which
// the Runner does after Shutdown once every job has ended, or until ctx
// ends. It starts from sub's snapshot, so that jobs that began before the
// subscription are shown too, and feeds every event to a View made with
// New(w, o), which it closes before it returns, leaving the terminal clean.
//
// It returns nil when the channel was closed and ctx's error when ctx
// ended. It does not close sub: a caller that stops watching before the
// channel is closed should call sub.Close to release what the subscription
// holds. ctx and sub must not be nil.
func Watch(ctx context.Context, w io.Writer, sub *bgjob.Subscription, o Options) error {
	v := New(w, o)
	defer v.Close()
	v.seed(sub.Snapshot())
	events := sub.Events()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			v.Event(ev)
		}
	}
}
