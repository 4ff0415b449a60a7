package bgjobotel_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobotel"
)

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		give bgjobotel.Option
	}{
		{"nil tracer provider", bgjobotel.WithTracerProvider(nil)},
		{"nil meter provider", bgjobotel.WithMeterProvider(nil)},
		{"attribute without a key", bgjobotel.WithAttributes(attribute.String("", "x"))},
		{"negative progress step", bgjobotel.WithProgressEvents(-1)},
		{"progress step over 100", bgjobotel.WithProgressEvents(101)},
		{"NaN progress step", bgjobotel.WithProgressEvents(math.NaN())},
		{"negative series limit", bgjobotel.WithMaxJobSeries(-1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := bgjobotel.New(tt.give)
			require.ErrorIs(t, err, bgjobotel.ErrInvalidOption)
			require.Nil(t, tel)
		})
	}
}

// A Telemetry instruments one Runner; a Runner option that fails leaves
// it free for another try.
func TestOneRunnerPerTelemetry(t *testing.T) {
	tel, err := bgjobotel.New()
	require.NoError(t, err)
	_, err = tel.NewRunner(bgjob.WithMaxRunning(0))
	require.ErrorIs(t, err, bgjob.ErrInvalidOption)

	r, err := tel.NewRunner() // the global providers: no-ops here
	require.NoError(t, err)
	_, err = tel.NewRunner()
	require.ErrorIs(t, err, bgjobotel.ErrAttached)

	h, err := r.Start(context.Background(), "job", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil }))
	require.NoError(t, err)
	require.NoError(t, h.Wait(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()))
	<-tel.Done()
}

// Done closes after Shutdown even if no job ever ran.
func TestDoneWithoutJobs(t *testing.T) {
	g := newRig(t, nil)
	g.shutdown(t)
	require.Empty(t, g.spans.Ended())
}

func TestWatchSubscriptionBadInput(t *testing.T) {
	g := newRig(t, nil)
	sub, err := g.r.Subscribe()
	require.NoError(t, err)
	defer sub.Close()
	require.ErrorIs(t, g.tel.WatchSubscription("ui", nil), bgjobotel.ErrInvalidSubscription)
	require.ErrorIs(t, g.tel.WatchSubscription("", sub), bgjobotel.ErrInvalidSubscription)
	require.ErrorIs(t, g.tel.WatchSubscription("\xff", sub), bgjobotel.ErrInvalidSubscription)
	require.ErrorIs(t, g.tel.WatchSubscription("bgjobotel", sub), bgjobotel.ErrInvalidSubscription)
	require.NoError(t, g.tel.WatchSubscription("ui", sub))
	require.ErrorIs(t, g.tel.WatchSubscription("ui", sub), bgjobotel.ErrInvalidSubscription)
}
