package bgjob_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// A training job records its loss and accuracy; they show in its status,
// in its progress events, in FormatText, in its series and in its record.
func TestMetricsShowEverywhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
		require.NoError(t, err)
		var evs []bgjob.Event
		read := make(chan struct{})
		go func() {
			evs = collect(sub.Events())
			close(read)
		}()
		h, err := r.Start(t.Context(), "train", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(10)
			for epoch := 1; epoch <= 10; epoch++ {
				time.Sleep(150 * time.Millisecond)
				p.SetStep(int64(epoch))
				require.NoError(t, p.Metrics(bgjob.Scalar{"loss", 1 / float64(epoch)}, bgjob.Scalar{"accuracy", 0.5 + float64(epoch)/25}))
			}
			return nil
		}))
		require.NoError(t, err)
		require.NoError(t, h.Wait(t.Context()))
		require.NoError(t, r.Shutdown(context.Background()))
		<-read

		st := h.Status()
		require.Len(t, st.Metrics, 2)
		assert.Equal(t, bgjob.Metric{Name: "loss", Value: 0.1, Step: 10}, st.Metrics[0])
		assert.Equal(t, "accuracy", st.Metrics[1].Name)
		assert.InDelta(t, 0.9, st.Metrics[1].Value, 1e-9)

		var progress []bgjob.Event
		for _, ev := range evs {
			if ev.Type == bgjob.EventProgress {
				progress = append(progress, ev)
			}
		}
		require.NotEmpty(t, progress)
		last := progress[len(progress)-1]
		assert.Equal(t, st.Metrics, last.Metrics, "the last progress carries the last values")
		assert.Contains(t, bgjob.FormatText(last), "loss 0.1 accuracy 0.9")

		series := h.Metrics()
		require.Len(t, series, 2)
		assert.Equal(t, "loss", series[0].Name)
		require.Len(t, series[0].Points, 10)
		assert.Equal(t, 1.0, series[0].Points[0].Max)
		assert.Equal(t, int64(10), series[0].Points[9].Step)

		var rec bgjob.JobRecord
		for r := range r.History(bgjob.HistoryFilter{}) {
			rec = r
		}
		assert.Equal(t, series, rec.Series)
		assert.Equal(t, st.Metrics, rec.Metrics)
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		var back bgjob.JobRecord
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, rec.Series, back.Series, "the series round-trip through JSON")
		assert.Equal(t, rec.Metrics, back.Metrics)
	})
}

// A diverging loss is information: NaN and infinities are kept, and stay
// valid JSON. Bad names are refused with a clear error and counted.
func TestMetricBadInput(t *testing.T) {
	r := newRunner(t)
	var errs []error
	h := start(t, r, "diverging", func(ctx context.Context, p *bgjob.Progress) error {
		errs = append(errs,
			p.Metric("loss", math.NaN()),
			p.Metric("grad", math.Inf(1)),
			p.Metric("", 1),
			p.Metric(strings.Repeat("n", bgjob.MaxMetricNameLen+1), 1),
			p.Metric("bad\xff", 1),
			p.Metric("a\nb", 1),
		)
		for i := range bgjob.MaxMetrics + 5 {
			_ = p.Metric(strings.Repeat("m", i%60+1)+string(rune('a'+i/60)), float64(i))
		}
		return nil
	})
	require.NoError(t, waitJob(t, h))
	require.Len(t, errs, 6)
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
	for _, err := range errs[2:] {
		assert.ErrorIs(t, err, bgjob.ErrInvalidMetricName)
	}
	st := h.Status()
	assert.Len(t, st.Metrics, bgjob.MaxMetrics, "names beyond the bound are dropped")
	assert.Equal(t, uint64(4+7), st.MetricsDropped, "and counted, with the bad names")
	assert.True(t, math.IsNaN(st.Metrics[0].Value))
	assert.True(t, math.IsInf(st.Metrics[1].Value, 1))
	b, err := json.Marshal(st)
	require.NoError(t, err)
	assert.Contains(t, string(b), `{"name":"loss","value":"NaN","step":0}`)
	assert.Contains(t, string(b), `{"name":"grad","value":"+Inf","step":0}`)
	var back bgjob.JobStatus
	require.NoError(t, json.Unmarshal(b, &back))
	assert.True(t, math.IsNaN(back.Metrics[0].Value))
}

// Recording a name already seen allocates nothing.
func TestMetricAllocatesNothing(t *testing.T) {
	r := newRunner(t)
	var allocs float64
	h := start(t, r, "hot", func(ctx context.Context, p *bgjob.Progress) error {
		_ = p.Metric("loss", 1)
		allocs = testing.AllocsPerRun(1000, func() {
			_ = p.Metric("loss", 0.5)
			_ = p.Metrics(bgjob.Scalar{"loss", 0.4}, bgjob.Scalar{"acc", 0.9})
		})
		return nil
	})
	require.NoError(t, waitJob(t, h))
	assert.Zero(t, allocs)
}

// The ETA follows the recent rate, not the whole run's average: after a
// hang it recovers within a few intervals; paused time does not count.
func TestETARecoversAfterAHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner(bgjob.WithStallTimeout(time.Second))
		require.NoError(t, err)
		defer r.Shutdown(context.Background())
		resumeAt := make(chan struct{})
		h, err := r.Start(t.Context(), "hiccup", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(200)
			time.Sleep(25 * time.Millisecond) // steps fall between intervals
			for i := range 200 {
				if err := p.Checkpoint(); err != nil {
					return err
				}
				if i == 60 {
					time.Sleep(2500 * time.Millisecond) // a hang
				}
				if i == 120 {
					close(resumeAt)
				}
				p.Add(1)
				time.Sleep(50 * time.Millisecond) // 20 steps a second
			}
			return nil
		}))
		require.NoError(t, err)

		time.Sleep(3 * time.Second) // 60 steps
		assert.InDelta(t, 20, h.Status().Rate, 2, "the rate is the steps' pace")
		time.Sleep(3 * time.Second) // through the hang and back: 70 steps
		st := h.Status()
		want := time.Duration(float64(200-st.Step) / 20 * float64(time.Second))
		assert.InDelta(t, float64(want), float64(st.ETA), float64(want)/5,
			"within a few intervals of the hang the ETA is back: %v, want about %v", st.ETA, want)

		<-resumeAt
		require.NoError(t, h.Pause())
		time.Sleep(10 * time.Second) // a long pause
		require.NoError(t, h.Resume())
		time.Sleep(500 * time.Millisecond)
		assert.InDelta(t, 20, h.Status().Rate, 3, "a pause does not drag the rate")
		require.NoError(t, h.Wait(t.Context()))
		assert.Zero(t, h.Status().ETA)
	})
}

// WithEventLog writes one structured record per event, at a level that
// fits it, with the event's fields as attributes.
func TestEventLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	l := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := bgjob.NewRunner(bgjob.WithEventLog(l))
	require.NoError(t, err)
	h := start(t, r, "train", func(ctx context.Context, p *bgjob.Progress) error {
		p.SetTotal(4)
		p.SetStep(2)
		_ = p.Metrics(bgjob.Scalar{"loss", 0.5}, bgjob.Scalar{"accuracy", 0.75})
		p.Logger().Info("epoch done", "epoch", 2)
		return errors.New("out of memory")
	})
	waitJob(t, h)
	require.NoError(t, r.Shutdown(context.Background()))

	mu.Lock()
	defer mu.Unlock()
	var records []map[string]any
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		records = append(records, rec)
	}
	byEvent := map[string]map[string]any{}
	for _, rec := range records {
		byEvent[rec["event"].(string)] = rec
		assert.Equal(t, h.ID().String(), rec["job_id"])
		assert.Equal(t, "train", rec["job_name"])
	}
	for _, want := range []string{"info", "worker_started", "progress", "log", "complete", "worker_stopped"} {
		require.Contains(t, byEvent, want, "one record per event")
	}
	assert.Equal(t, "ERROR", byEvent["complete"]["level"], "a failure is an error")
	assert.Equal(t, "out of memory", byEvent["complete"]["error"])
	assert.Equal(t, "DEBUG", byEvent["progress"]["level"], "progress is debug")
	assert.Equal(t, map[string]any{"loss": 0.5, "accuracy": 0.75}, byEvent["progress"]["metrics"])
	assert.Equal(t, 50.0, byEvent["progress"]["percent"])
	assert.Equal(t, "epoch done", byEvent["log"]["msg"])
	assert.Equal(t, map[string]any{"epoch": 2.0}, byEvent["log"]["attrs"])
	assert.Equal(t, "train started in background", byEvent["info"]["msg"])

	_, err = bgjob.NewRunner(bgjob.WithEventLog(nil))
	assert.ErrorIs(t, err, bgjob.ErrInvalidOption)
}

// blockingHandler is a slog handler that waits for release: a log
// shipper that does not answer.
type blockingHandler struct{ release chan struct{} }

func (h blockingHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (h blockingHandler) Handle(context.Context, slog.Record) error { <-h.release; return nil }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler        { return h }
func (h blockingHandler) WithGroup(string) slog.Handler             { return h }

// A handler that hangs holds up neither the jobs nor Shutdown past its
// context.
func TestEventLogThatHangsHoldsUpNoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := blockingHandler{release: make(chan struct{})}
		r, err := bgjob.NewRunner(bgjob.WithEventLog(slog.New(h)))
		require.NoError(t, err)
		job, err := r.Start(t.Context(), "logged", bgjob.JobFunc(succeed))
		require.NoError(t, err)
		require.NoError(t, job.Wait(t.Context()), "the job ends while the handler hangs")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		begin := time.Now()
		err = r.Shutdown(ctx)
		var se *bgjob.ShutdownError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 300*time.Millisecond, time.Since(begin), "not a moment past its deadline")
		close(h.release)
		require.NoError(t, r.Shutdown(context.Background()), "a later Shutdown waits for the log")
	})
}
