package termview

import (
	"math"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatRate(t *testing.T) {
	tests := []struct {
		give float64
		unit string
		want string
	}{
		{give: 12.34, unit: "it", want: "12.3 it/s"},
		{give: 1, unit: "it", want: "1.0 it/s"},
		{give: 845.2, unit: "it", want: "845 it/s"},
		{give: 12345, unit: "it", want: "12.3k it/s"},
		{give: 2.5e7, unit: "it", want: "25.0M it/s"},
		{give: 0.5, unit: "it", want: "2.0s/it"},
		{give: 1.0 / 90, unit: "it", want: "1.5min/it"},
		{give: 4, unit: "%", want: "4.0 %/s"},
		{give: 0.25, unit: "%", want: "4.0s/%"},
		{give: 1e-300, unit: "it", want: "0 it/s"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, formatRate(tt.give, tt.unit), "%v %s", tt.give, tt.unit)
	}
}

func TestFormatMetric(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{give: 0.41234, want: "0.4123"},
		{give: 0.873, want: "0.873"},
		{give: 2, want: "2"},
		{give: 12345.6, want: "1.235e+04"},
		{give: 0.0001234, want: "0.0001234"},
		{give: math.NaN(), want: "NaN"},
		{give: math.Inf(1), want: "+Inf"},
		{give: math.Inf(-1), want: "-Inf"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, formatMetric(tt.give), "%v", tt.give)
	}
}

func TestFormatPercent(t *testing.T) {
	tests := []struct {
		give float64
		want string
	}{
		{give: 0, want: "  0%"},
		{give: 7.5, want: "  7%"},
		{give: 99.9, want: " 99%"},
		{give: 100, want: "100%"},
		{give: 150, want: "100%"},
		{give: -5, want: "  0%"},
		{give: math.NaN(), want: "  0%"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, formatPercent(tt.give), "%v", tt.give)
	}
}

func TestDrawBar(t *testing.T) {
	assert.Equal(t, "░░░░░░░░░░", drawBar(0, 10))
	assert.Equal(t, "████░░░░░░", drawBar(45, 10))
	assert.Equal(t, "██████████", drawBar(100, 10))
	assert.Equal(t, "██████████", drawBar(math.Inf(1), 10))
	assert.Equal(t, "░░░░░░░░░░", drawBar(math.NaN(), 10))
}

func TestWidth(t *testing.T) {
	tests := []struct {
		give string
		want int
	}{
		{give: "mlp-1", want: 5},
		{give: "日本語", want: 6},
		{give: "e\u0301te\u0301", want: 3}, // combining accents
		{give: "🚀 launch", want: 9},
		{give: "█░…·", want: 4},
		{give: "한국", want: 4},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, width(tt.give), "%q", tt.give)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		give  string
		width int
		want  string
	}{
		{give: "resnet-finetune", width: 20, want: "resnet-finetune"},
		{give: "resnet-finetune", width: 15, want: "resnet-finetune"},
		{give: "resnet-finetune", width: 10, want: "resnet-fi…"},
		{give: "日本語です", width: 5, want: "日本…"},
		{give: "日本語です", width: 6, want: "日本…"},
		{give: "abc", width: 1, want: "…"},
		{give: "abc", width: 0, want: ""},
	}
	for _, tt := range tests {
		got := truncate(tt.give, tt.width)
		assert.Equal(t, tt.want, got, "%q to %d", tt.give, tt.width)
		assert.LessOrEqual(t, width(got), max(tt.width, 0))
	}
}

func TestClean(t *testing.T) {
	assert.Equal(t, "plain text", clean("plain text", false))
	assert.Equal(t, "a\ufffd[31mred\ufffd", clean("a\x1b[31mred\a", false))
	assert.Equal(t, "col 1 2", clean("col\t1\t2", false))
	assert.Equal(t, "col\t1", clean("col\t1", true))
	assert.Equal(t, "line\ufffdbreak", clean("line\nbreak", false))
	assert.Equal(t, "bad \ufffd byte", clean("bad \xff byte", false))
}

// TestLineStates checks what a line shows in each state: no ETA and no
// rate for a job that waits, is paused, stalled or out of date.
func TestLineStates(t *testing.T) {
	base := job{name: "mlp-1", percent: 40, step: 400, total: 1000, rate: 50, eta: 12 * time.Second,
		metrics: []bgjob.Metric{{Name: "loss", Value: 0.412}, {Name: "acc", Value: 0.873}}, message: "epoch 2"}
	tests := []struct {
		name  string
		state bgjob.State
		mod   func(*job)
		want  string
	}{
		{name: "running", state: bgjob.StateRunning,
			want: "mlp-1 running ██████████░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873"},
		{name: "pausing", state: bgjob.StatePausing,
			want: "mlp-1 pausing ██████████░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873"},
		{name: "paused", state: bgjob.StatePaused,
			want: "mlp-1 paused  ██████████░░░░░░░░░░░░░░░  40%  400/1000 loss 0.412 acc 0.873 · epoch 2"},
		{name: "stalled", state: bgjob.StateRunning, mod: func(j *job) { j.stalled = true },
			want: "mlp-1 stalled ██████████░░░░░░░░░░░░░░░  40%  400/1000 loss 0.412 acc 0.873 · epoch 2"},
		{name: "paused while stalled", state: bgjob.StatePaused, mod: func(j *job) { j.stalled = true },
			want: "mlp-1 paused  ██████████░░░░░░░░░░░░░░░  40%  400/1000 loss 0.412 acc 0.873 · epoch 2"},
		{name: "lagged", state: bgjob.StateRunning, mod: func(j *job) { j.stale = true },
			want: "mlp-1 lagged  ██████████░░░░░░░░░░░░░░░  40%  400/1000 loss 0.412 acc 0.873 · epoch 2"},
		{name: "queued", state: bgjob.StateQueued, mod: func(j *job) { *j = job{name: "mlp-1", state: bgjob.StateQueued} },
			want: "mlp-1 queued  ░░░░░░░░░░░░░░░░░░░░░░░░░   0%"},
		{name: "canceling", state: bgjob.StateCanceling,
			want: "mlp-1 canceling ██████████░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s loss 0.412 acc 0.873 · epoch 2"},
		{name: "done", state: bgjob.StateSucceeded, mod: func(j *job) { j.eta = 0 },
			want: "mlp-1 done    ██████████░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s loss 0.412 acc 0.873 · epoch 2"},
		{name: "steps without a total", state: bgjob.StateRunning, mod: func(j *job) { j.total, j.percent, j.eta = 0, 0, 0 },
			want: "mlp-1 running ░░░░░░░░░░░░░░░░░░░░░░░░░   0% 400 it 50.0 it/s loss 0.412 acc 0.873 · epoch 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := base
			j.state = tt.state
			if tt.mod != nil {
				tt.mod(&j)
			}
			l := layoutFor([]*job{&j}, 100, true, false)
			require.Equal(t, tt.want, l.render(&j))
		})
	}
}

// TestLineFits checks that a live line never takes more columns than it
// has, and gives up the message, then bar width, then metrics, in that
// order.
func TestLineFits(t *testing.T) {
	j := &job{name: "a-rather-long-job-name-for-a-line", state: bgjob.StateRunning, percent: 40, step: 400,
		total: 1000, rate: 50, eta: 12 * time.Second, message: "epoch 2 of 5, warming up",
		metrics: []bgjob.Metric{{Name: "loss", Value: 0.412}, {Name: "acc", Value: 0.873}, {Name: "lr", Value: 3e-4}}}
	for cols := 1; cols <= 160; cols++ {
		l := layoutFor([]*job{j}, cols, true, true)
		got := uncolour(l.render(j))
		require.LessOrEqual(t, width(got), cols, "%d columns: %q", cols, got)
	}
	l := layoutFor([]*job{j}, 100, true, false)
	assert.Equal(t, "a-rather-long-job-n… running ████░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873 …", l.render(j),
		"the message goes, the bar narrows to 10, a metric goes")
	l = layoutFor([]*job{j}, 120, true, false)
	assert.Equal(t, "a-rather-long-job-name-… running ████████░░░░░░░░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873 lr 0.0003", l.render(j),
		"the message goes, the bar narrows for the metrics")
	l = layoutFor([]*job{j}, 160, true, false)
	assert.Equal(t, "a-rather-long-job-name-for-a-li… running ████████████░░░░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873 lr 0.0003 · epoch 2 of 5, warmi…", l.render(j),
		"the message is cut")

	plain := layoutFor([]*job{j}, 40, false, false)
	assert.Equal(t, "a-rather-… running ████░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873 lr 0.0003 · epoch 2 of 5, warming up",
		plain.render(j), "a plain line is never cut, but for the name")
}
