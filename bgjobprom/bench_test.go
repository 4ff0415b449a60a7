package bgjobprom_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BenchmarkScrape scrapes a Runner while 1,000 training jobs run, each
// with a loss and an accuracy: the status read alone (the floor: what
// GetStatus costs), the collector gathered into metric families, and a
// whole /metrics request in the text format; each with the default series
// limit and with a series for every job. ns/job divides by the 1,000 jobs.
func BenchmarkScrape(b *testing.B) {
	const jobs = 1_000
	ctx := context.Background()
	r, err := bgjob.NewRunner()
	if err != nil {
		b.Fatal(err)
	}
	running := make([]*trainingJob, jobs)
	for i := range running {
		running[i] = newTrainingJob(int64(i%10), 10,
			bgjob.Scalar{Name: "loss", Value: 1 / float64(i+1)}, bgjob.Scalar{Name: "accuracy", Value: 0.5})
		if _, err := r.Start(ctx, fmt.Sprintf("train-%d", i%50), running[i]); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for _, j := range running {
			close(j.release)
		}
		if err := r.Shutdown(ctx); err != nil {
			b.Error(err)
		}
	}()
	for _, j := range running {
		<-j.recorded
	}

	perJob := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/jobs, "ns/job")
	}
	b.Run("status", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.GetStatus()
		}
		perJob(b)
	})
	for _, series := range []int{bgjobprom.DefaultMaxJobSeries, jobs} {
		c, err := bgjobprom.NewCollector(r, bgjobprom.WithMaxJobSeries(series))
		if err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		b.Run(fmt.Sprintf("gather/series=%d", series), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			perJob(b)
		})
		h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		b.Run(fmt.Sprintf("http/series=%d", series), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body)
				}
			}
			perJob(b)
		})
	}
}
