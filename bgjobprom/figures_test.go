package bgjobprom_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The figures the scene leaves at zero: stalls and a history store that
// refuses records.

func TestStalledJobsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.Start(t.Context(), "hang", bgjobtest.HangUntilCanceled())
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = h.Cancel(nil)
			if err := r.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		stalled := func(st bgjob.JobStatus) bool { return st.Stalled }
		if err := bgjobtest.WaitStatus(t.Context(), r, h, stalled); err != nil {
			t.Fatal(err)
		}
		c, err := bgjobprom.NewCollector(r)
		if err != nil {
			t.Fatal(err)
		}
		want := `
# HELP bgjob_jobs_stalled Live jobs marked stalled: no progress for the Runner's stall timeout.
# TYPE bgjob_jobs_stalled gauge
bgjob_jobs_stalled 1
`
		if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bgjob_jobs_stalled"); err != nil {
			t.Error(err)
		}
	})
}

// refusingStore is a history store whose Add always fails.
type refusingStore struct{}

func (refusingStore) Add(bgjob.JobRecord) error { return errors.New("disk full") }

func (refusingStore) Records() iter.Seq[bgjob.JobRecord] {
	return func(func(bgjob.JobRecord) bool) {}
}

func TestHistoryStoreFailuresAreCounted(t *testing.T) {
	r, err := bgjob.NewRunner(bgjob.WithHistoryStore(refusingStore{}), bgjob.WithLogger(discardLogger))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Start(t.Context(), "import", bgjobtest.Succeed(1)); err != nil {
			t.Fatal(err)
		}
	}
	// Shutdown returns once the store has been handed every record.
	if err := r.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err := bgjobprom.NewCollector(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP bgjob_history_records_failed_total Records of finished jobs the history store refused.
# TYPE bgjob_history_records_failed_total counter
bgjob_history_records_failed_total 2
# HELP bgjob_history_records_pending Records of finished jobs waiting to be added to the history store.
# TYPE bgjob_history_records_pending gauge
bgjob_history_records_pending 0
`
	err = testutil.CollectAndCompare(c, strings.NewReader(want),
		"bgjob_history_records_failed_total", "bgjob_history_records_pending")
	if err != nil {
		t.Error(err)
	}
}
