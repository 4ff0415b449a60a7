package bgjobprom_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A service registers the Collector on its registry and serves it on
// /metrics; each scrape reads the Runner's status then.
func ExampleNewCollector() {
	ctx := context.Background()
	r, err := bgjob.NewRunner()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Shutdown(ctx)

	c, err := bgjobprom.NewCollector(r)
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// A service would now serve mux: http.ListenAndServe(addr, mux).

	h, err := r.Start(ctx, "import", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(3)
		p.Add(3)
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	// One scrape, as Prometheus would make it.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "bgjob_jobs_started") || strings.HasPrefix(line, "bgjob_jobs_finished") {
			fmt.Print(line)
		}
	}
	// Output:
	// bgjob_jobs_finished_total{outcome="canceled"} 0
	// bgjob_jobs_finished_total{outcome="failed"} 0
	// bgjob_jobs_finished_total{outcome="succeeded"} 1
	// bgjob_jobs_started_total 1
}

// Each running job has series of its own: its progress, run time, queue
// wait, ETA and the latest value of each metric it records, labelled with
// its id and name. WithMaxJobSeries bounds how many jobs have them.
func ExampleWithMaxJobSeries() {
	ctx := context.Background()
	r, err := bgjob.NewRunner()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Shutdown(ctx)
	c, err := bgjobprom.NewCollector(r, bgjobprom.WithMaxJobSeries(20))
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	epochDone, stop := make(chan struct{}), make(chan struct{})
	h, err := r.Start(ctx, "resnet-finetune", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(10)
		p.Add(1)
		if err := p.Metrics(bgjob.Scalar{Name: "loss", Value: 0.75}, bgjob.Scalar{Name: "accuracy", Value: 0.5}); err != nil {
			return err
		}
		close(epochDone)
		<-stop // the rest of the epochs
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer close(stop)
	<-epochDone

	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "bgjob_job_metric") || strings.HasPrefix(line, "bgjob_job_progress") {
			fmt.Print(strings.ReplaceAll(line, h.ID().String(), "<id>"))
		}
	}
	// Output:
	// bgjob_job_metric{job_id="<id>",job_name="resnet-finetune",metric="accuracy"} 0.5
	// bgjob_job_metric{job_id="<id>",job_name="resnet-finetune",metric="loss"} 0.75
	// bgjob_job_progress_ratio{job_id="<id>",job_name="resnet-finetune"} 0.1
}

// A subscription's counters tell whether its reader keeps up: what it
// received, what was coalesced and what was lost.
func ExampleWithSubscription() {
	ctx := context.Background()
	r, err := bgjob.NewRunner()
	if err != nil {
		log.Fatal(err)
	}
	sub, err := r.Subscribe()
	if err != nil {
		log.Fatal(err)
	}
	c, err := bgjobprom.NewCollector(r, bgjobprom.WithSubscription("dashboard", sub))
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	if _, err := r.Start(ctx, "reindex", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil })); err != nil {
		log.Fatal(err)
	}
	if err := r.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	for range sub.Events() { // info, worker_started, complete, worker_stopped
	}

	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "bgjob_subscriber_events_") {
			fmt.Print(line)
		}
	}
	// Output:
	// bgjob_subscriber_events_coalesced_total{subscriber="dashboard"} 0
	// bgjob_subscriber_events_delivered_total{subscriber="dashboard"} 4
	// bgjob_subscriber_events_lost_total{subscriber="dashboard"} 0
	// bgjob_subscriber_events_pending{subscriber="dashboard"} 0
	// bgjob_subscriber_events_pending_peak{subscriber="dashboard"} 0
}

// Several Runners export to one registry, each through a registerer that
// adds a label telling them apart.
func ExampleNewCollector_severalRunners() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	runners := map[string]*bgjob.Runner{}
	for _, name := range []string{"training", "indexing"} {
		r, err := bgjob.NewRunner()
		if err != nil {
			log.Fatal(err)
		}
		defer r.Shutdown(ctx)
		c, err := bgjobprom.NewCollector(r)
		if err != nil {
			log.Fatal(err)
		}
		prometheus.WrapRegistererWith(prometheus.Labels{"runner": name}, reg).MustRegister(c)
		runners[name] = r
	}

	h, err := runners["training"].Start(ctx, "resnet-finetune", bgjob.JobFunc(func(context.Context, *bgjob.Progress) error {
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(w.Body.String()) {
		if strings.HasPrefix(line, "bgjob_jobs_started_total") {
			fmt.Print(line)
		}
	}
	// Output:
	// bgjob_jobs_started_total{runner="indexing"} 0
	// bgjob_jobs_started_total{runner="training"} 1
}
