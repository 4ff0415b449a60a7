package bgjob_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// The first middleware is the outermost; each sees the job's own handle.
func TestMiddlewareOrderAndHandle(t *testing.T) {
	var trace []string
	named := func(tag string) bgjob.Middleware {
		return func(next bgjob.Job) bgjob.Job {
			return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
				trace = append(trace, tag+">"+p.Handle().Name())
				err := next.Run(ctx, p)
				trace = append(trace, "<"+tag)
				return err
			})
		}
	}
	r, err := bgjob.NewRunner(bgjob.WithMiddleware(named("a"), named("b")), bgjob.WithMiddleware(named("c")))
	require.NoError(t, err)
	defer r.Shutdown(context.Background())

	var seen *bgjob.Handle
	h, err := r.Start(context.Background(), "job", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		trace = append(trace, "run")
		seen = p.Handle()
		return nil
	}))
	require.NoError(t, err)
	require.NoError(t, h.Wait(context.Background()))
	require.Equal(t, "a>job b>job c>job run <c <b <a", strings.Join(trace, " "))
	require.Equal(t, h.ID(), seen.ID())
}

// A middleware's error and a panic it lets through are the job's outcome.
func TestMiddlewareSeesTheOutcome(t *testing.T) {
	var got error
	var panicked any
	mw := func(next bgjob.Job) bgjob.Job {
		return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			defer func() {
				if v := recover(); v != nil {
					panicked = v
					panic(v)
				}
			}()
			got = next.Run(ctx, p)
			return got
		})
	}
	r, err := bgjob.NewRunner(bgjob.WithMiddleware(mw))
	require.NoError(t, err)
	defer r.Shutdown(context.Background())

	boom := errors.New("boom")
	h, err := r.Start(context.Background(), "fails", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return boom }))
	require.NoError(t, err)
	require.ErrorIs(t, h.Wait(context.Background()), boom)
	require.ErrorIs(t, got, boom)

	h, err = r.Start(context.Background(), "panics", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { panic("oops") }))
	require.NoError(t, err)
	var pe *bgjob.PanicError
	require.ErrorAs(t, h.Wait(context.Background()), &pe)
	require.Equal(t, "oops", panicked)
	require.Equal(t, bgjob.StateFailed, h.Status().State)
}

func TestMiddlewareBadInput(t *testing.T) {
	_, err := bgjob.NewRunner(bgjob.WithMiddleware(nil))
	require.ErrorIs(t, err, bgjob.ErrInvalidOption)

	r, err := bgjob.NewRunner(bgjob.WithMiddleware(func(bgjob.Job) bgjob.Job { return nil }))
	require.NoError(t, err)
	defer r.Shutdown(context.Background())
	_, err = r.Start(context.Background(), "x", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil }))
	require.ErrorIs(t, err, bgjob.ErrNilJob)
}
