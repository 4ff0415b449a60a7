package dashboard

import (
	"testing"
	"testing/synctest"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
)

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// One job's events wake the readers of every job and of that job, not
// the readers of other jobs; a gap or the end wakes them all.
func TestEventsWakeTheirJobsReadersOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		defer r.Shutdown(ctx)
		c, err := newConfig(nil)
		require.NoError(t, err)
		h := newHub(r, c)
		defer h.close()
		require.NoError(t, h.attach())
		defer h.detach()

		waiting := func(f *filter) <-chan struct{} {
			t.Helper()
			_, _, state, wake := h.read(h.replay.head, f, nil)
			require.Equal(t, readMore, state)
			require.NotNil(t, wake)
			return wake
		}
		quiet := uuid.New()
		all, ofQuiet := waiting(&filter{}), waiting(&filter{job: quiet})
		hd, err := r.Start(ctx, "train", bgjobtest.Succeed(1))
		require.NoError(t, err)
		<-hd.Done()
		synctest.Wait()
		assert.True(t, closed(all), "a reader of every job wakes")
		assert.False(t, closed(ofQuiet), "a reader of a quiet job sleeps on")

		require.NoError(t, r.Shutdown(ctx))
		synctest.Wait()
		assert.True(t, closed(ofQuiet), "the end wakes every reader")
	})
}
