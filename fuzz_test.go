package bgjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// The fuzz targets of this file feed a job's reporting calls, and the
// decoders and the text form, with whatever the fuzzer makes: NaN,
// infinities, negative and huge numbers, invalid UTF-8, control
// characters, thousands of attributes. Bad input is clamped or refused
// with an error, never a panic, and what the Runner keeps stays within
// its documented bounds. Each has a seed corpus in testdata/fuzz, run by
// every `go test`; `go test -run '^$' -fuzz FuzzProgress` explores
// further.

// fuzzRunner returns a Runner shared by the inputs of one fuzz target,
// shut down when the target ends.
func fuzzRunner(f *testing.F) *bgjob.Runner {
	r, err := bgjob.NewRunner(bgjob.WithLogLimit(4))
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, r.Shutdown(context.Background())) })
	return r
}

// runJob runs fn as a job of r and returns its handle once it has ended.
func runJob(t *testing.T, r *bgjob.Runner, fn bgjob.JobFunc) *bgjob.Handle {
	h, err := r.Start(context.Background(), "fuzz", fn)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, h.Wait(ctx))
	return h
}

// A job's progress calls take any numbers and any message; the status
// shows them clamped as documented.
func FuzzProgress(f *testing.F) {
	f.Add(50.0, int64(3), int64(10), int64(1), "epoch 3")
	f.Add(math.NaN(), int64(-1), int64(-5), int64(math.MaxInt64), "\xff\xfe")
	f.Add(math.Inf(1), int64(math.MaxInt64), int64(1), int64(-math.MaxInt64), strings.Repeat("é", 2000))
	r := fuzzRunner(f)
	f.Fuzz(func(t *testing.T, percent float64, step, total, add int64, msg string) {
		h := runJob(t, r, func(ctx context.Context, p *bgjob.Progress) error {
			p.SetPercent(percent)
			p.SetTotal(total)
			p.SetStep(step)
			p.Add(add)
			p.SetMessage(msg)
			p.Report(percent, msg)
			return nil
		})
		st := h.Status()
		assert.False(t, math.IsNaN(st.Percent), "percent NaN")
		assert.True(t, st.Percent >= 0 && st.Percent <= 100, "percent %v", st.Percent)
		assert.GreaterOrEqual(t, st.Step, int64(0))
		assert.GreaterOrEqual(t, st.Total, int64(0))
		if st.Total > 0 {
			assert.LessOrEqual(t, st.Step, st.Total)
		}
		assert.True(t, utf8.ValidString(st.Message), "message %q", st.Message)
		assert.LessOrEqual(t, len(st.Message), bgjob.MaxMessageLen)
		b, err := json.Marshal(st)
		require.NoError(t, err)
		var back bgjob.JobStatus
		require.NoError(t, json.Unmarshal(b, &back), "%s", b)
		assert.Equal(t, st.Message, back.Message)
	})
}

// A metric takes any name and any value: a name it cannot keep is
// refused with an error and counted, every value of a name it keeps is
// kept, NaN and infinities included, and survives JSON.
func FuzzMetric(f *testing.F) {
	f.Add("loss", 0.412, int64(3), uint8(1))
	f.Add("", math.NaN(), int64(-1), uint8(40))
	f.Add("grad\x00norm", math.Inf(-1), int64(math.MaxInt64), uint8(255))
	r := fuzzRunner(f)
	f.Fuzz(func(t *testing.T, name string, value float64, step int64, names uint8) {
		var first error
		refused := uint64(0)
		h := runJob(t, r, func(ctx context.Context, p *bgjob.Progress) error {
			p.SetStep(step)
			first = p.Metric(name, value)
			// More names than a job keeps, to reach the bound.
			for i := range int(names) % (bgjob.MaxMetrics + 8) {
				if err := p.Metrics(bgjob.Scalar{Name: fmt.Sprint("fuzz.extra.", i), Value: -value}); err != nil {
					assert.ErrorIs(t, err, bgjob.ErrTooManyMetrics)
					refused++
				}
			}
			return nil
		})
		st := h.Status()
		if first != nil {
			assert.True(t, errors.Is(first, bgjob.ErrInvalidMetricName) || errors.Is(first, bgjob.ErrTooManyMetrics), "%v", first)
			refused++
		}
		assert.Equal(t, refused, st.MetricsDropped)
		assert.LessOrEqual(t, len(st.Metrics), bgjob.MaxMetrics)
		kept := false
		for _, m := range st.Metrics {
			if m.Name == name && !strings.HasPrefix(name, "fuzz.extra.") {
				kept = true
				assert.True(t, sameFloat(m.Value, value), "%v kept as %v", value, m.Value)
			}
			b, err := json.Marshal(m)
			require.NoError(t, err)
			var back bgjob.Metric
			require.NoError(t, json.Unmarshal(b, &back), "%s", b)
			assert.True(t, sameFloat(m.Value, back.Value) && m.Name == back.Name && m.Step == back.Step, "%+v read back as %+v", m, back)
		}
		if first == nil && !strings.HasPrefix(name, "fuzz.extra.") {
			assert.True(t, kept, "%q accepted, but not in the status", name)
		}
		for _, s := range h.Metrics() {
			assert.LessOrEqual(t, len(s.Points), bgjob.MaxMetricPoints)
			b, err := json.Marshal(s)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, new(bgjob.MetricSeries)), "%s", b)
		}
	})
}

// sameFloat reports whether a and b are the same value, NaN being NaN.
func sameFloat(a, b float64) bool {
	return a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b)
}

// A log record takes any message, keys and values, and any number of
// attributes; what the job keeps is valid UTF-8 within the record's
// bounds, says how many attributes it dropped, and survives JSON.
func FuzzLogRecord(f *testing.F) {
	f.Add("epoch done", "loss", "0.41", 0.41, uint16(2))
	f.Add("\xff\xfe\x00\n\r\x1b[31m", "", "\xc3", math.NaN(), uint16(1000))
	f.Add(strings.Repeat("x", 10_000), strings.Repeat("k", 2000), strings.Repeat("€", 1000), math.Inf(1), uint16(40))
	r := fuzzRunner(f)
	f.Fuzz(func(t *testing.T, msg, key, value string, num float64, attrs uint16) {
		h := runJob(t, r, func(ctx context.Context, p *bgjob.Progress) error {
			args := []any{key, value, slog.Float64("num", num), slog.Group("g", slog.String(key, value), slog.Duration("d", time.Duration(num)))}
			for i := range int(attrs) % 2048 {
				args = append(args, slog.String(fmt.Sprint(key, i), value))
			}
			p.Logger().Info(msg, args...)
			w := p.LogWriter(slog.LevelWarn)
			_, _ = w.Write([]byte(msg))
			w.Flush()
			return nil
		})
		logs := h.Logs()
		require.NotEmpty(t, logs)
		for _, rec := range logs {
			assert.True(t, utf8.ValidString(rec.Message), "message %q", rec.Message)
			assert.LessOrEqual(t, len(rec.Message), bgjob.MaxLogMessage)
			assert.LessOrEqual(t, len(rec.Attrs), bgjob.MaxLogAttrs+1) // and the count of those dropped
			size := 0
			for _, a := range rec.Attrs {
				assert.True(t, utf8.ValidString(a.Key), "key %q", a.Key)
				assert.LessOrEqual(t, len(a.Key), bgjob.MaxLogAttrValue)
				size += len(a.Key)
				if a.Value.Kind() == slog.KindString {
					assert.True(t, utf8.ValidString(a.Value.String()), "value %q", a.Value.String())
					assert.LessOrEqual(t, len(a.Value.String()), bgjob.MaxLogAttrValue)
					size += len(a.Value.String())
				}
			}
			assert.LessOrEqual(t, size, bgjob.MaxLogAttrBytes+len("bgjob.dropped_attrs"))
			b, err := json.Marshal(rec)
			require.NoError(t, err)
			var back bgjob.LogRecord
			require.NoError(t, json.Unmarshal(b, &back), "%s", b)
			again, err := json.Marshal(back)
			require.NoError(t, err)
			assert.Equal(t, string(b), string(again))
		}
	})
}

// Decoding any bytes as a JobStatus, a RunnerStatus or a JobRecord must
// not panic, and what decodes must encode and read back to the same
// encoding. (FuzzEventJSON does the same for events.)
func FuzzStatusJSON(f *testing.F) {
	f.Add([]byte(`{"id":"6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e","name":"train","state":"running","percent":"NaN"}`))
	f.Add([]byte(`{"state":"paused","eta_seconds":1e300,"duration_seconds":-1,"metrics":[{"name":"loss","value":"-Inf","step":-9}]}`))
	f.Add([]byte(`{"counts":{"running":1,"bogus":2},"jobs":[{"state":"queued"}],"resources":{"cpu_seconds":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodesStably[bgjob.JobStatus](t, data)
		decodesStably[bgjob.RunnerStatus](t, data)
		decodesStably[bgjob.JobRecord](t, data)
	})
}

// decodesStably checks that data, if it decodes as a T, encodes again and
// reads back to the same encoding.
func decodesStably[T any](t *testing.T, data []byte) {
	var v T
	if json.Unmarshal(data, &v) != nil {
		return
	}
	first, err := json.Marshal(v)
	require.NoErrorf(t, err, "%T: %s decoded, but does not encode again", v, data)
	var back T
	require.NoErrorf(t, json.Unmarshal(first, &back), "%T: decoding %s", v, first)
	second, err := json.Marshal(back)
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second), "%T", v)
}

// FormatText renders any event, of any type, with any strings in it,
// without a panic, the same way each time, with no trailing newline, no
// control character, no byte that is not UTF-8 and no line a job's string
// could forge.
func FuzzFormatText(f *testing.F) {
	f.Add(uint8(bgjob.EventProgress), uint8(bgjob.StateRunning), "train", "epoch 3 loss 0.41", "", "", 30.0, int64(3), int64(10), int64(time.Minute))
	f.Add(uint8(bgjob.EventComplete), uint8(bgjob.StateFailed), "\x1b[2J", "\xff", "boom\n", "goroutine 1 [running]:\n\tmain.go:1\n", math.NaN(), int64(-1), int64(0), int64(-1))
	f.Add(uint8(255), uint8(0), "", "", "", "", math.Inf(-1), int64(math.MinInt64), int64(math.MaxInt64), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, typ, state uint8, name, msg, errText, stack string, percent float64, step, total, nanos int64) {
		ev := bgjob.Event{
			Type: bgjob.EventType(typ), State: bgjob.State(state), Seq: uint64(step),
			JobID: uuid.Nil, JobName: name, WorkerID: step, WorkerName: name, Alive: step%2 == 0,
			Percent: percent, Step: step, Total: total, Message: msg, Rate: percent,
			ETA: time.Duration(nanos), Duration: time.Duration(nanos), Paused: time.Duration(-nanos),
			QueueWait: time.Duration(nanos), QueuePosition: int(total), Stack: stack,
			StartTime: time.Unix(0, nanos), Level: slog.Level(state),
			Attrs:    []bgjob.LogAttr{{Key: name, Value: slog.StringValue(msg)}, {Key: msg, Value: slog.Float64Value(percent)}},
			Metrics:  []bgjob.Metric{{Name: name, Value: percent, Step: step}},
			LagFirst: uint64(step), LagLast: uint64(total), LagJobs: []uuid.UUID{uuid.Nil}, LagMore: step < 0,
		}
		if errText != "" {
			ev.Err = errors.New(errText)
		}
		text := bgjob.FormatText(ev)
		assert.Equal(t, text, bgjob.FormatText(ev))
		assert.False(t, strings.HasSuffix(text, "\n"), "a trailing newline: %q", text)
		lines := strings.Split(text, "\n")
		for _, line := range lines[1:] {
			assert.True(t, strings.HasPrefix(line, "   "), "a line not indented, which a job could forge: %q", text)
		}
		assert.True(t, utf8.ValidString(text), "bytes that are not UTF-8 reach the text: %q", text)
		for _, r := range text {
			if r != '\n' && r != '\t' && unicode.IsControl(r) {
				t.Fatalf("a control character %q reaches the text: %q", r, text)
			}
		}
		_ = ev.LogMessage()
		_ = ev.LogAttrs()
		_ = ev.LogLevel()
		_ = bgjob.FormatDuration(time.Duration(nanos))
	})
}
