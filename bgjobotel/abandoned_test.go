package bgjobotel_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
)

// A job that ignores its cancellation is abandoned; if it still runs when
// the Runner's last event is out, its span ends then, abandoned.
func TestAbandonedJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, nil, bgjob.WithCancelGrace(time.Minute))
		release := make(chan struct{})
		defer close(release)
		h, err := g.r.Start(t.Context(), "stubborn", bgjobtest.IgnoreCancel(release))
		require.NoError(t, err)
		require.NoError(t, h.Cancel(errors.New("quota exceeded")))
		require.NoError(t, bgjobtest.WaitStatus(t.Context(), g.r, h, func(st bgjob.JobStatus) bool {
			return st.State == bgjob.StateAbandoned
		}))
		g.shutdown(t)

		s := g.span(t, "stubborn")
		require.Equal(t, []string{"canceled", "abandoned"}, eventNames(s))
		outcome, _ := attr(s, "bgjob.job.outcome")
		require.Equal(t, "abandoned", outcome.AsString())
		require.Equal(t, codes.Error, s.Status().Code)
	})
}
