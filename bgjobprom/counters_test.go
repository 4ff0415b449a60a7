package bgjobprom_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/prometheus/client_golang/prometheus"
)

// TestCountersNeverGoBack scrapes while jobs end, to check that the
// counters only grow and that each job is counted once: started is always
// finished plus live. A job whose state is terminal but which the Runner
// has not retired yet is the case to catch.
func TestCountersNeverGoBack(t *testing.T) {
	ctx := t.Context()
	r, err := bgjob.NewRunner(bgjob.WithMaxRunning(4), bgjob.WithHistoryLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	c, err := bgjobprom.NewCollector(r)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	const jobs = 2_000
	started := make(chan error, 1)
	go func() {
		for i := range jobs {
			job := bgjobtest.Succeed(1)
			if i%3 == 0 {
				job = bgjobtest.Fail(errors.New("bad batch"))
			}
			if _, err := r.Start(ctx, "batch", job); err != nil {
				started <- err
				return
			}
		}
		started <- nil
	}()

	prev := map[string]float64{}
	for done := false; !done; {
		select {
		case err := <-started:
			if err != nil {
				t.Fatal(err)
			}
			done = true // one more scrape after the last Start
		default:
		}
		got := gather(t, reg)
		for key, v := range got {
			if strings.HasSuffix(strings.SplitN(key, "{", 2)[0], "_total") && v < prev[key] {
				t.Fatalf("%s went back from %v to %v", key, prev[key], v)
			}
		}
		finished := got[`bgjob_jobs_finished_total{outcome="succeeded"}`] +
			got[`bgjob_jobs_finished_total{outcome="failed"}`] +
			got[`bgjob_jobs_finished_total{outcome="canceled"}`]
		var live float64
		for key, v := range got {
			if strings.HasPrefix(key, "bgjob_jobs{") {
				live += v
			}
		}
		if s := got["bgjob_jobs_started_total"]; s != finished+live {
			t.Fatalf("started %v, but finished %v and live %v", s, finished, live)
		}
		prev = got
	}
	if got := prev["bgjob_jobs_started_total"]; got != jobs {
		t.Errorf("started %v, want %d", got, jobs)
	}
}

// gather scrapes reg and returns every sample by its name and labels, as
// in the text form: name{label="value",…}.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				samples[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				samples[key] = m.GetGauge().GetValue()
			}
		}
	}
	return samples
}
