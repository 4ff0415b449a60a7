package bgjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// The fixtures of this file. Times are fixed, in UTC and without a
// monotonic reading, which JSON does not carry; durations have nanosecond
// detail, which it must.
var (
	wireJobID   = uuid.MustParse("6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e")
	wireOtherID = uuid.MustParse("0b9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c")
	wireAt      = time.Date(2025, 10, 21, 15, 30, 0, 123456789, time.UTC)
	wireStarted = time.Date(2025, 10, 21, 14, 44, 40, 987654321, time.UTC)
	wireEnded   = time.Date(2025, 10, 21, 16, 15, 30, 1, time.UTC)
)

const (
	wireRunTime   = 45*time.Minute + 18*time.Second + 123456789
	wireQueueWait = 1234567891 * time.Nanosecond
	wirePaused    = 90*time.Second + 1
	wireETA       = 2*time.Hour + 3*time.Minute + 7
	wireThreadCPU = 44*time.Minute + 987654321
	wireStack     = "goroutine 9 [running]:\nmain.train()\n\t/src/train.go:42 +0x1d\n"
)

// wireAttrs holds a log attribute of every kind a LogAttr keeps.
var wireAttrs = []bgjob.LogAttr{
	{Key: "phase", Value: slog.StringValue("train")},
	{Key: "epoch", Value: slog.Int64Value(3)},
	{Key: "step", Value: slog.Uint64Value(math.MaxUint64)},
	{Key: "lr", Value: slog.Float64Value(2)},
	{Key: "loss", Value: slog.Float64Value(0.4120)},
	{Key: "grad", Value: slog.Float64Value(math.NaN())},
	{Key: "ratio", Value: slog.Float64Value(math.Inf(1))},
	{Key: "log_p", Value: slog.Float64Value(math.Inf(-1))},
	{Key: "best", Value: slog.BoolValue(true)},
	{Key: "epoch_time", Value: slog.DurationValue(wireRunTime)},
	{Key: "checkpoint.at", Value: slog.TimeValue(wireAt)},
}

// attrValue is a log attribute's value in a form assert.Equal compares
// rightly (see normalize).
type attrValue struct {
	Kind slog.Kind
	Text string
}

func attrValueOf(v slog.Value) attrValue {
	switch v.Kind() {
	case slog.KindFloat64:
		if f := v.Float64(); math.IsNaN(f) {
			return attrValue{v.Kind(), "NaN"}
		}
		// 'g' with the shortest precision tells every float apart,
		// -0 from 0 included.
		return attrValue{v.Kind(), strconv.FormatFloat(v.Float64(), 'g', -1, 64)}
	case slog.KindTime:
		return attrValue{v.Kind(), v.Time().Format(time.RFC3339Nano) + " " + v.Time().Location().String()}
	}
	return attrValue{v.Kind(), v.String()}
}

// normalize returns v as a JSON round trip can give it back, for
// assert.Equal:
//   - an error becomes errors.New of its message, since JSON keeps the
//     message and not the type;
//   - a log attribute's value becomes its kind and text. assert.Equal
//     cannot compare slog.Values itself: a string Value holds a pointer to
//     its first byte, so reflect.DeepEqual takes "abc" and "axe" for
//     equal; and Value.Equal takes a NaN for unequal to itself.
//
// It copies what it changes: the caller's slices are left alone.
func normalize[T any](v T) T {
	switch x := any(&v).(type) {
	case *bgjob.Event:
		x.Err, x.Attrs = plainError(x.Err), comparableAttrs(x.Attrs)
		x.Metrics = normalizeAll(x.Metrics)
	case *bgjob.JobStatus:
		x.Err = plainError(x.Err)
		x.Metrics = normalizeAll(x.Metrics)
	case *bgjob.JobRecord:
		x.JobStatus = normalize(x.JobStatus)
		x.Logs = normalizeAll(x.Logs)
		x.Series = normalizeAll(x.Series)
	case *bgjob.Metric:
		x.Value = comparableFloat(x.Value)
	case *bgjob.MetricSeries:
		x.Points = normalizeAll(x.Points)
	case *bgjob.MetricPoint:
		x.Min, x.Max, x.Last = comparableFloat(x.Min), comparableFloat(x.Max), comparableFloat(x.Last)
	case *bgjob.LogRecord:
		x.Attrs = comparableAttrs(x.Attrs)
	case *bgjob.LogAttr:
		*x = comparableAttrs([]bgjob.LogAttr{*x})[0]
	case *bgjob.RunnerStatus:
		x.Jobs = normalizeAll(x.Jobs)
	}
	return v
}

func normalizeAll[T any](vs []T) []T {
	if vs == nil {
		return nil
	}
	out := make([]T, len(vs))
	for i, v := range vs {
		out[i] = normalize(v)
	}
	return out
}

// comparableFloat stands a NaN, which equals nothing, by a value no test
// uses, so that values holding one compare equal.
func comparableFloat(f float64) float64 {
	if math.IsNaN(f) {
		return -math.MaxFloat64
	}
	return f
}

func plainError(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

func comparableAttrs(attrs []bgjob.LogAttr) []bgjob.LogAttr {
	if attrs == nil {
		return nil
	}
	out := make([]bgjob.LogAttr, len(attrs))
	for i, a := range attrs {
		out[i] = bgjob.LogAttr{Key: a.Key, Value: slog.AnyValue(attrValueOf(a.Value))}
	}
	return out
}

// roundTrip encodes give, decodes the result into a new T, and returns it
// with the encoding.
func roundTrip[T any](t *testing.T, give T) (T, []byte) {
	t.Helper()
	b, err := json.Marshal(give)
	require.NoError(t, err)
	var got T
	require.NoError(t, json.Unmarshal(b, &got), "decoding %s", b)
	return got, b
}

// assertRoundTrip checks that give comes back from JSON equal to itself,
// and returns its encoding.
func assertRoundTrip[T any](t *testing.T, give T) []byte {
	t.Helper()
	got, b := roundTrip(t, give)
	assert.Equal(t, normalize(give), normalize(got), "through %s", b)
	return b
}

// wireFields decodes a JSON object, to look at its names and values.
func wireFields(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// absent, as the want of a wire field, says the field must not be there.
type absent struct{}

// assertWireField checks that m holds want under key, or no key at all
// when want is absent{}. Numbers are float64, as JSON decodes them.
func assertWireField(t *testing.T, m map[string]any, key string, want any) {
	t.Helper()
	got, ok := m[key]
	if _, ok := want.(absent); ok {
		assert.NotContains(t, m, key)
		return
	}
	if assert.Truef(t, ok, "no %q in %v", key, m) {
		assert.Equalf(t, want, got, "%q", key)
	}
}

// requireEveryField fails unless each exported field of T is set in at
// least one of vs, so that a field added to a type later cannot escape
// these tests.
func requireEveryField[T any](t *testing.T, vs ...T) {
	t.Helper()
	typ := reflect.TypeFor[T]()
	for i := range typ.NumField() {
		if !typ.Field(i).IsExported() {
			continue
		}
		set := slices.ContainsFunc(vs, func(v T) bool { return !reflect.ValueOf(v).Field(i).IsZero() })
		require.Truef(t, set, "no fixture sets %s.%s: set it so that its JSON is tested", typ.Name(), typ.Field(i).Name)
	}
}

// wireEvent returns an event of job wireJobID, of the given type, with
// set applied.
func wireEvent(typ bgjob.EventType, set func(*bgjob.Event)) bgjob.Event {
	ev := bgjob.Event{
		Type: typ, Seq: 41, Time: wireAt,
		JobID: wireJobID, JobName: "resnet-finetune", WorkerID: 7, WorkerName: "resnet-finetune",
		ProcessID: 52341, Alive: true, State: bgjob.StateRunning,
	}
	if set != nil {
		set(&ev)
	}
	return ev
}

type wireEventCase struct {
	name string
	give bgjob.Event
	// success is the "success" field: absent{} but for complete.
	success any
}

// wireEventCases holds an event of every type, each with the fields its
// type carries, and a complete event of each outcome.
func wireEventCases() []wireEventCase {
	return []wireEventCase{
		{"info", wireEvent(bgjob.EventInfo, nil), absent{}},
		{"queued", wireEvent(bgjob.EventQueued, func(e *bgjob.Event) {
			e.State, e.Alive, e.QueuePosition = bgjob.StateQueued, false, 3
		}), absent{}},
		{"worker_started", wireEvent(bgjob.EventWorkerStarted, func(e *bgjob.Event) {
			e.StartTime, e.QueueWait, e.OSThreadID = wireStarted, wireQueueWait, 52377
		}), absent{}},
		{"progress", wireEvent(bgjob.EventProgress, func(e *bgjob.Event) {
			e.StartTime, e.Duration = wireStarted, wireRunTime
			e.Percent, e.Step, e.Total, e.Message = 37.5, 3, 8, "epoch 3 loss 0.4120"
			e.Rate, e.ETA, e.Folded = 0.0012345, wireETA, 4
			e.Metrics = wireMetrics()
		}), absent{}},
		{"paused", wireEvent(bgjob.EventPaused, func(e *bgjob.Event) {
			e.State, e.Percent, e.Step, e.Total, e.Duration = bgjob.StatePaused, 37.5, 3, 8, wireRunTime
		}), absent{}},
		{"resumed", wireEvent(bgjob.EventResumed, func(e *bgjob.Event) {
			e.Percent, e.Paused, e.Duration = 37.5, wirePaused, wireRunTime
		}), absent{}},
		{"stalled", wireEvent(bgjob.EventStalled, func(e *bgjob.Event) {
			e.Message, e.Stack = "no progress for 5.0min", "1 @ 0x1\n#\t0x1\tmain.load+0x1\t/src/load.go:9\n"
			e.Stalled = true
		}), absent{}},
		{"unstalled", wireEvent(bgjob.EventUnstalled, func(e *bgjob.Event) { e.Percent = 38 }), absent{}},
		{"log", wireEvent(bgjob.EventLog, func(e *bgjob.Event) {
			e.Level, e.Message, e.Attrs = slog.LevelWarn+2, "slow epoch", wireAttrs
		}), absent{}},
		{"abandoned", wireEvent(bgjob.EventAbandoned, func(e *bgjob.Event) {
			e.State, e.Message = bgjob.StateAbandoned, "still running 30.0s after it was canceled"
		}), absent{}},
		{"complete succeeded", wireEvent(bgjob.EventComplete, func(e *bgjob.Event) {
			e.State, e.Alive, e.Percent, e.StartTime = bgjob.StateSucceeded, false, 100, wireStarted
			e.Duration, e.QueueWait, e.Paused, e.ThreadCPU = wireRunTime, wireQueueWait, wirePaused, wireThreadCPU
		}), true},
		{"complete failed", wireEvent(bgjob.EventComplete, func(e *bgjob.Event) {
			e.State, e.Alive, e.Percent, e.StartTime, e.Duration = bgjob.StateFailed, false, 62.5, wireStarted, wireRunTime
			e.Err, e.Stack = errors.New("bgjob: job panicked: bad batch"), wireStack
		}), false},
		{"complete canceled", wireEvent(bgjob.EventComplete, func(e *bgjob.Event) {
			e.State, e.Alive, e.Percent, e.Duration = bgjob.StateCanceled, false, 40, wireRunTime
			e.Err = fmt.Errorf("user stop: %w", context.Canceled)
		}), false},
		{"worker_stopped", wireEvent(bgjob.EventWorkerStopped, func(e *bgjob.Event) {
			e.State, e.Alive, e.Percent, e.Duration = bgjob.StateSucceeded, false, 40, wireRunTime
		}), absent{}},
		// As a subscription makes it: not about a job, no time.
		{"lagged", bgjob.Event{
			Type: bgjob.EventLagged, ProcessID: 52341,
			LagFirst: 120, LagLast: 135, LagJobs: []uuid.UUID{wireJobID, wireOtherID}, LagMore: true,
		}, absent{}},
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	cases := wireEventCases()

	covered := make(map[bgjob.EventType]bool)
	for _, tt := range cases {
		covered[tt.give.Type] = true
	}
	// Up to the first type with no name, so that a type added later
	// must be added here too.
	for typ := bgjob.EventType(1); typ.String() != fmt.Sprintf("EventType(%d)", uint8(typ)); typ++ {
		assert.Truef(t, covered[typ], "no case for %v", typ)
	}
	all := make([]bgjob.Event, len(cases))
	for i, tt := range cases {
		all[i] = tt.give
	}
	requireEveryField(t, all...)

	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			b := assertRoundTrip(t, tt.give)

			m := wireFields(t, b)
			assertWireField(t, m, "type", tt.give.Type.String())
			assertWireField(t, m, "success", tt.success)
			if tt.give.Type == bgjob.EventLagged {
				assertWireField(t, m, "percent", absent{})
				assertWireField(t, m, "duration_seconds", absent{})
			} else {
				// Every event of a job has its progress and run time.
				assertWireField(t, m, "percent", tt.give.Percent)
				assertWireField(t, m, "duration_seconds", tt.give.Duration.Seconds())
			}
			if tt.give.Type != bgjob.EventLog {
				assertWireField(t, m, "level", absent{})
				assertWireField(t, m, "attrs", absent{})
			}
		})
	}
}

// What consumers read off the wire: the original design's names, seconds
// for durations, and the fields that were missing or wrong before.
func TestEventJSONWire(t *testing.T) {
	byName := make(map[string]bgjob.Event)
	for _, tt := range wireEventCases() {
		byName[tt.name] = tt.give
	}
	failed := byName["complete failed"]
	tests := []struct {
		name string
		give bgjob.Event
		key  string
		want any
	}{
		{"complete with no run time", wireEvent(bgjob.EventComplete, func(e *bgjob.Event) { e.State = bgjob.StateSucceeded }),
			"duration_seconds", 0.0},
		{"worker_stopped after a complete at 40%", byName["worker_stopped"], "percent", 40.0},
		{"progress at 0%", wireEvent(bgjob.EventProgress, nil), "percent", 0.0},
		{"lagged", byName["lagged"], "percent", absent{}},
		{"lagged", byName["lagged"], "duration_seconds", absent{}},
		{"lagged", byName["lagged"], "lag_jobs", []any{wireJobID.String(), wireOtherID.String()}},
		{"lagged", byName["lagged"], "lag_first", 120.0},
		{"lagged", byName["lagged"], "lag_last", 135.0},
		{"lagged", byName["lagged"], "lag_more", true},
		{"complete", failed, "type", "complete"},
		{"complete", failed, "seq", 41.0},
		{"complete", failed, "timestamp", "2025-10-21T15:30:00.123456789Z"},
		{"complete", failed, "job_id", wireJobID.String()},
		{"complete", failed, "name", "resnet-finetune"},
		{"complete", failed, "thread_id", 7.0},
		{"complete", failed, "thread_name", "resnet-finetune"},
		{"complete", failed, "process_id", 52341.0},
		{"complete", failed, "is_alive", false},
		{"complete", failed, "state", "failed"},
		{"complete", failed, "percent", 62.5},
		{"complete", failed, "start_time", "2025-10-21T14:44:40.987654321Z"},
		{"complete", failed, "duration_seconds", 2718.123456789},
		{"complete", failed, "error", "bgjob: job panicked: bad batch"},
		{"complete", failed, "traceback", wireStack},
		{"complete", failed, "success", false},
		{"complete", byName["complete succeeded"], "queue_wait_seconds", 1.234567891},
		{"complete", byName["complete succeeded"], "paused_seconds", 90.000000001},
		{"complete", byName["complete succeeded"], "thread_cpu_seconds", 2640.987654321},
		{"complete", byName["complete succeeded"], "error", absent{}},
		{"queued", byName["queued"], "queue_position", 3.0},
		{"worker_started", byName["worker_started"], "os_thread_id", 52377.0},
		{"progress", byName["progress"], "eta_seconds", wireETA.Seconds()},
		{"progress", byName["progress"], "rate", 0.0012345},
		{"progress", byName["progress"], "folded", 4.0},
		{"progress", byName["progress"], "step", 3.0},
		{"progress", byName["progress"], "total", 8.0},
		{"log", byName["log"], "level", "WARN+2"},
		{"log", byName["log"], "message", "slow epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.key, func(t *testing.T) {
			b, err := json.Marshal(tt.give)
			require.NoError(t, err)
			assertWireField(t, wireFields(t, b), tt.key, tt.want)
		})
	}
}

// wireStatus is a status with every field set.
func wireStatus() bgjob.JobStatus {
	return bgjob.JobStatus{
		ID: wireJobID, Name: "resnet-finetune", State: bgjob.StateFailed,
		HasWorker: true, Alive: true,
		WorkerID: 7, WorkerName: "resnet-finetune", ProcessID: 52341,
		OSThreadID: 52377, ThreadCPU: wireThreadCPU,
		Percent: 62.5, Step: 5, Total: 8, Message: "epoch 5 loss 0.3871",
		Rate: 0.0012345, ETA: wireETA,
		Metrics: wireMetrics(), MetricsDropped: 3,
		Priority: -2, QueueWait: wireQueueWait,
		StartTime: wireStarted, EndTime: wireEnded,
		Duration: wireRunTime, Paused: wirePaused, Stalled: true,
		Err:   fmt.Errorf("bgjob: job panicked: %w", errors.New("bad batch")),
		Stack: wireStack,
	}
}

func TestJobStatusJSONRoundTrip(t *testing.T) {
	give := wireStatus()
	requireEveryField(t, give)
	b := assertRoundTrip(t, give)

	m := wireFields(t, b)
	for _, tt := range []struct {
		key  string
		want any
	}{
		{"job_id", wireJobID.String()},
		{"name", "resnet-finetune"},
		{"state", "failed"},
		{"has_worker", true},
		{"is_alive", true},
		{"thread_id", 7.0},
		{"thread_name", "resnet-finetune"},
		{"process_id", 52341.0},
		{"os_thread_id", 52377.0},
		{"thread_cpu_seconds", 2640.987654321},
		{"percent", 62.5},
		{"step", 5.0},
		{"total", 8.0},
		{"message", "epoch 5 loss 0.3871"},
		{"rate", 0.0012345},
		{"eta_seconds", wireETA.Seconds()},
		{"priority", -2.0},
		{"queue_wait_seconds", 1.234567891},
		{"start_time", "2025-10-21T14:44:40.987654321Z"},
		{"end_time", "2025-10-21T16:15:30.000000001Z"},
		{"duration_seconds", 2718.123456789},
		{"paused_seconds", 90.000000001},
		{"stalled", true},
		{"error", "bgjob: job panicked: bad batch"},
		{"traceback", wireStack},
	} {
		assertWireField(t, m, tt.key, tt.want)
	}

	t.Run("nothing done yet", func(t *testing.T) {
		give := bgjob.JobStatus{ID: wireJobID, Name: "fresh", State: bgjob.StateQueued}
		m := wireFields(t, assertRoundTrip(t, give))
		// A consumer always finds the progress and the run time.
		assertWireField(t, m, "percent", 0.0)
		assertWireField(t, m, "duration_seconds", 0.0)
		assertWireField(t, m, "error", absent{})
		assertWireField(t, m, "start_time", absent{})
	})
}

// wireRecord is a finished job's record with its log and a point of every
// kind on its timeline.
func wireRecord() bgjob.JobRecord {
	st := wireStatus()
	st.Alive, st.Stalled = false, false
	return bgjob.JobRecord{
		JobStatus: st,
		Logs: []bgjob.LogRecord{
			{Time: wireStarted, Level: slog.LevelInfo, Message: "loading data"},
			{Time: wireAt, Level: slog.LevelWarn, Message: "slow epoch", Attrs: wireAttrs},
		},
		Timeline: wireTimeline(),
		Series: []bgjob.MetricSeries{
			{Name: "loss", Points: []bgjob.MetricPoint{
				{Step: 0, Min: 0.9, Max: 2.5, Last: 1.2, Count: 4},
				{Step: 4, Min: 0.38, Max: 100, Last: math.NaN(), Count: 4},
			}},
			{Name: "grad_norm", Points: []bgjob.MetricPoint{{Step: 2, Min: math.Inf(-1), Max: math.Inf(1), Last: 3, Count: 2}}},
		},
	}
}

// wireMetrics are metric values of every sort: a float, a whole number,
// NaN and the infinities.
func wireMetrics() []bgjob.Metric {
	return []bgjob.Metric{
		{Name: "loss", Value: 0.3871, Step: 5},
		{Name: "epoch", Value: 5, Step: 5},
		{Name: "grad_norm", Value: math.NaN(), Step: 5},
		{Name: "lr", Value: math.Inf(1), Step: 4},
		{Name: "margin", Value: math.Inf(-1), Step: 4},
	}
}

func wireTimeline() []bgjob.TimelinePoint {
	res := wireResources()
	return []bgjob.TimelinePoint{
		{Time: wireStarted, Kind: bgjob.TimelineProgress, Percent: 12.5, Step: 1, Message: "epoch 1"},
		{Time: wireStarted.Add(time.Minute), Kind: bgjob.TimelinePaused, Percent: 25, Step: 2},
		{Time: wireStarted.Add(wirePaused), Kind: bgjob.TimelineResumed, Percent: 25, Step: 2},
		{Time: wireAt, Kind: bgjob.TimelineStalled, Percent: 37.5, Step: 3},
		{Time: wireAt.Add(time.Second), Kind: bgjob.TimelineUnstalled, Percent: 50, Step: 4},
		{Time: wireEnded, Kind: bgjob.TimelineResources, Percent: 62.5, Step: 5, Resources: &res},
	}
}

func wireResources() bgjob.Resources {
	return bgjob.Resources{
		CPU: 3*time.Second + 250*time.Millisecond + 1, RSS: 12 << 30, Heap: 3<<30 + 5,
		Goroutines: 42, ThreadCPU: wireThreadCPU,
	}
}

func TestJobRecordJSONRoundTrip(t *testing.T) {
	give := wireRecord()
	requireEveryField(t, give)
	b := assertRoundTrip(t, give)

	m := wireFields(t, b)
	// The status's fields sit beside logs and timeline, not under a key
	// of their own.
	assertWireField(t, m, "duration_seconds", 2718.123456789)
	assertWireField(t, m, "error", "bgjob: job panicked: bad batch")
	assertWireField(t, m, "thread_id", 7.0)
	assertWireField(t, m, "JobStatus", absent{})
	if assert.Contains(t, m, "logs") {
		assert.Len(t, m["logs"], 2)
	}
	if assert.Contains(t, m, "timeline") {
		assert.Len(t, m["timeline"], 6)
	}

	t.Run("without logs or timeline", func(t *testing.T) {
		assertRoundTrip(t, bgjob.JobRecord{JobStatus: wireStatus()})
	})

	// As a history store reads it back: the durations and the error are
	// there, not zero.
	t.Run("from a stored document", func(t *testing.T) {
		doc := `{
			"job_id": "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e", "name": "resnet-finetune", "state": "failed",
			"has_worker": true, "is_alive": false, "thread_id": 7, "thread_name": "resnet-finetune",
			"process_id": 52341, "percent": 62.5, "step": 5, "total": 8, "rate": 0,
			"queue_wait_seconds": 1.234567891, "eta_seconds": 7380.000000007, "thread_cpu_seconds": 2640.987654321,
			"start_time": "2025-10-21T14:44:40.987654321Z", "end_time": "2025-10-21T16:15:30.000000001Z",
			"duration_seconds": 2718.123456789, "paused_seconds": 90.000000001,
			"error": "disk full", "traceback": "",
			"logs": [{"time": "2025-10-21T15:30:00.123456789Z", "level": "WARN", "message": "slow epoch",
				"attrs": [{"key": "epoch", "kind": "int64", "value": 3}, {"key": "epoch_time", "kind": "duration", "value": 2718.123456789}]}],
			"timeline": [{"time": "2025-10-21T16:15:30.000000001Z", "kind": "resources", "percent": 62.5, "step": 5,
				"resources": {"cpu_seconds": 3.250000001, "rss_bytes": 12884901888, "heap_bytes": 3221225477, "goroutines": 42}}]
		}`
		var got bgjob.JobRecord
		require.NoError(t, json.Unmarshal([]byte(doc), &got))

		res := wireResources()
		res.ThreadCPU = 0
		want := bgjob.JobRecord{
			JobStatus: bgjob.JobStatus{
				ID: wireJobID, Name: "resnet-finetune", State: bgjob.StateFailed, HasWorker: true,
				WorkerID: 7, WorkerName: "resnet-finetune", ProcessID: 52341,
				Percent: 62.5, Step: 5, Total: 8,
				QueueWait: wireQueueWait, ETA: wireETA, ThreadCPU: wireThreadCPU,
				StartTime: wireStarted, EndTime: wireEnded,
				Duration: wireRunTime, Paused: wirePaused,
				Err: errors.New("disk full"),
			},
			Logs: []bgjob.LogRecord{{Time: wireAt, Level: slog.LevelWarn, Message: "slow epoch", Attrs: []bgjob.LogAttr{
				{Key: "epoch", Value: slog.Int64Value(3)},
				{Key: "epoch_time", Value: slog.DurationValue(wireRunTime)},
			}}},
			Timeline: []bgjob.TimelinePoint{{Time: wireEnded, Kind: bgjob.TimelineResources, Percent: 62.5, Step: 5, Resources: &res}},
		}
		assert.Equal(t, normalize(want), normalize(got))
	})
}

func TestLogAttrJSONRoundTrip(t *testing.T) {
	tests := []struct {
		give bgjob.LogAttr
		want string
	}{
		// A string is JSON's default: no kind.
		{bgjob.LogAttr{Key: "phase", Value: slog.StringValue("train")}, `{"key":"phase","value":"train"}`},
		{bgjob.LogAttr{Key: "empty", Value: slog.StringValue("")}, `{"key":"empty","value":""}`},
		{bgjob.LogAttr{Key: "looks_like_a_number", Value: slog.StringValue("3")}, `{"key":"looks_like_a_number","value":"3"}`},
		// A number stays a JSON number.
		{bgjob.LogAttr{Key: "epoch", Value: slog.Int64Value(3)}, `{"key":"epoch","kind":"int64","value":3}`},
		{bgjob.LogAttr{Key: "min", Value: slog.Int64Value(math.MinInt64)}, `{"key":"min","kind":"int64","value":-9223372036854775808}`},
		{bgjob.LogAttr{Key: "max", Value: slog.Uint64Value(math.MaxUint64)}, `{"key":"max","kind":"uint64","value":18446744073709551615}`},
		// A whole float keeps its kind: without it, 2 would read back as
		// an integer.
		{bgjob.LogAttr{Key: "lr", Value: slog.Float64Value(2.0)}, `{"key":"lr","kind":"float64","value":2}`},
		{bgjob.LogAttr{Key: "loss", Value: slog.Float64Value(0.1)}, `{"key":"loss","kind":"float64","value":0.1}`},
		{bgjob.LogAttr{Key: "tiny", Value: slog.Float64Value(5e-324)}, `{"key":"tiny","kind":"float64","value":5e-324}`},
		{bgjob.LogAttr{Key: "zero", Value: slog.Float64Value(math.Copysign(0, -1))}, `{"key":"zero","kind":"float64","value":-0}`},
		// JSON has no number for these: a diverging loss is a string.
		{bgjob.LogAttr{Key: "grad", Value: slog.Float64Value(math.NaN())}, `{"key":"grad","kind":"float64","value":"NaN"}`},
		{bgjob.LogAttr{Key: "ratio", Value: slog.Float64Value(math.Inf(1))}, `{"key":"ratio","kind":"float64","value":"+Inf"}`},
		{bgjob.LogAttr{Key: "log_p", Value: slog.Float64Value(math.Inf(-1))}, `{"key":"log_p","kind":"float64","value":"-Inf"}`},
		{bgjob.LogAttr{Key: "best", Value: slog.BoolValue(true)}, `{"key":"best","kind":"bool","value":true}`},
		{bgjob.LogAttr{Key: "worse", Value: slog.BoolValue(false)}, `{"key":"worse","kind":"bool","value":false}`},
		{bgjob.LogAttr{Key: "epoch_time", Value: slog.DurationValue(wireRunTime)}, `{"key":"epoch_time","kind":"duration","value":2718.123456789}`},
		{bgjob.LogAttr{Key: "wait", Value: slog.DurationValue(wireQueueWait)}, `{"key":"wait","kind":"duration","value":1.234567891}`},
		{bgjob.LogAttr{Key: "at", Value: slog.TimeValue(wireAt)}, `{"key":"at","kind":"time","value":"2025-10-21T15:30:00.123456789Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.give.Key, func(t *testing.T) {
			got, b := roundTrip(t, tt.give)
			assert.Equal(t, tt.want, string(b))
			assert.Equal(t, tt.give.Key, got.Key)
			assert.Equal(t, tt.give.Value.Kind(), got.Value.Kind())
			if tt.give.Value.Kind() == slog.KindFloat64 && math.IsNaN(tt.give.Value.Float64()) {
				assert.True(t, math.IsNaN(got.Value.Float64()), "got %v", got.Value)
				return
			}
			assert.Equal(t, normalize(tt.give), normalize(got))
		})
	}

	t.Run("other kinds keep their text", func(t *testing.T) {
		got, b := roundTrip(t, bgjob.LogAttr{Key: "shape", Value: slog.AnyValue([]int{3, 224, 224})})
		assert.JSONEq(t, `{"key":"shape","value":"[3 224 224]"}`, string(b))
		assert.Equal(t, normalize(bgjob.LogAttr{Key: "shape", Value: slog.StringValue("[3 224 224]")}), normalize(got))
	})

	t.Run("unknown kind", func(t *testing.T) {
		var a bgjob.LogAttr
		assert.Error(t, json.Unmarshal([]byte(`{"key":"x","kind":"complex128","value":1}`), &a))
	})
}

func TestLogRecordJSONRoundTrip(t *testing.T) {
	var records []bgjob.LogRecord
	for _, level := range []slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn + 2, slog.LevelError + 8} {
		records = append(records, bgjob.LogRecord{Time: wireAt, Level: level, Message: "epoch done", Attrs: wireAttrs})
	}
	requireEveryField(t, records...)
	for _, give := range records {
		t.Run(give.Level.String(), func(t *testing.T) {
			m := wireFields(t, assertRoundTrip(t, give))
			assertWireField(t, m, "level", give.Level.String())
		})
	}
	t.Run("no attributes", func(t *testing.T) {
		m := wireFields(t, assertRoundTrip(t, bgjob.LogRecord{Time: wireAt, Message: "start"}))
		assertWireField(t, m, "attrs", absent{})
	})
}

func TestTimelineJSONRoundTrip(t *testing.T) {
	points := wireTimeline()
	requireEveryField(t, points...)
	for _, give := range points {
		t.Run(string(give.Kind), func(t *testing.T) {
			assertRoundTrip(t, give)
		})
	}
	t.Run("all", func(t *testing.T) {
		assertRoundTrip(t, points)
	})
}

func TestResourcesJSONRoundTrip(t *testing.T) {
	give := wireResources()
	requireEveryField(t, give)
	m := wireFields(t, assertRoundTrip(t, give))
	// Seconds, not nanoseconds.
	assertWireField(t, m, "cpu_seconds", 3.250000001)
	assertWireField(t, m, "thread_cpu_seconds", 2640.987654321)
	assertWireField(t, m, "rss_bytes", float64(12<<30))
	assertWireField(t, m, "heap_bytes", float64(3<<30+5))
	assertWireField(t, m, "goroutines", 42.0)

	t.Run("no thread of its own", func(t *testing.T) {
		give := wireResources()
		give.ThreadCPU = 0
		m := wireFields(t, assertRoundTrip(t, give))
		assertWireField(t, m, "thread_cpu_seconds", absent{})
	})
}

func TestRunnerStatusJSONRoundTrip(t *testing.T) {
	queued := wireStatus()
	queued.ID, queued.State, queued.Err, queued.Stack = wireOtherID, bgjob.StateQueued, nil, ""
	give := bgjob.RunnerStatus{
		ProcessID:  52341,
		AnyRunning: true,
		Counts:     make(map[bgjob.State]int),
		Jobs:       []bgjob.JobStatus{wireStatus(), queued},
		Closed:     true,
		Resources:  wireResources(),
		History:    bgjob.HistoryStatus{Pending: 3, Failed: 2, Dropped: 1},
		Totals: map[bgjob.State]bgjob.RunTotals{
			bgjob.StateSucceeded: {Jobs: 7, Duration: 90*time.Second + 1, QueueWait: 1500 * time.Millisecond, Paused: time.Minute},
			bgjob.StateFailed:    {Jobs: 8},
		},
	}
	states := []bgjob.State{bgjob.StateQueued, bgjob.StateRunning, bgjob.StatePausing, bgjob.StatePaused,
		bgjob.StateCanceling, bgjob.StateAbandoned, bgjob.StateSucceeded, bgjob.StateFailed, bgjob.StateCanceled}
	for i, s := range states {
		give.Counts[s] = i + 1
	}
	requireEveryField(t, give)
	m := wireFields(t, assertRoundTrip(t, give))

	// Counts are keyed by the states' names.
	want := make(map[string]any)
	for i, s := range states {
		want[s.String()] = float64(i + 1)
	}
	assertWireField(t, m, "counts", want)
	assertWireField(t, m, "history", map[string]any{"pending": 3.0, "failed": 2.0, "dropped": 1.0})
	assertWireField(t, m, "totals", map[string]any{
		"succeeded": map[string]any{"jobs": 7.0, "duration_seconds": 90.000000001, "queue_wait_seconds": 1.5, "paused_seconds": 60.0},
		"failed":    map[string]any{"jobs": 8.0, "duration_seconds": 0.0, "queue_wait_seconds": 0.0, "paused_seconds": 0.0},
	})
	if assert.IsType(t, map[string]any{}, m["resources"]) {
		assert.Equal(t, 3.250000001, m["resources"].(map[string]any)["cpu_seconds"])
	}
}

// The types with plain JSON, by their field names.
func TestPlainTypesJSONRoundTrip(t *testing.T) {
	t.Run("SubscriptionStats", func(t *testing.T) {
		give := bgjob.SubscriptionStats{Delivered: 1 << 40, Coalesced: 299, Lost: 16, Lags: 1, LogDropped: 7, Pending: 4, MaxPending: 10_000}
		requireEveryField(t, give)
		m := wireFields(t, assertRoundTrip(t, give))
		assertWireField(t, m, "log_dropped", 7.0)
		assertWireField(t, m, "max_pending", 10000.0)
	})
	t.Run("HistoryStatus", func(t *testing.T) {
		give := bgjob.HistoryStatus{Pending: 3, Failed: 2, Dropped: math.MaxUint64}
		requireEveryField(t, give)
		assertRoundTrip(t, give)
	})
	t.Run("HistoryFilter", func(t *testing.T) {
		give := bgjob.HistoryFilter{States: []bgjob.State{bgjob.StateFailed, bgjob.StateCanceled}, Name: "resnet-finetune"}
		requireEveryField(t, give)
		assertRoundTrip(t, give)
	})
	t.Run("Policy", func(t *testing.T) {
		for _, give := range []bgjob.Policy{bgjob.Lagging, bgjob.Lossless} {
			b := assertRoundTrip(t, give)
			assert.Equal(t, strconv.Quote(give.String()), string(b), "a policy is its name")
		}
		_, err := json.Marshal(bgjob.Policy(0))
		assert.Error(t, err)
		var p bgjob.Policy
		assert.Error(t, json.Unmarshal([]byte(`"eager"`), &p))
	})
	t.Run("TimelineKind", func(t *testing.T) {
		for _, give := range []bgjob.TimelineKind{bgjob.TimelineProgress, bgjob.TimelinePaused, bgjob.TimelineResumed,
			bgjob.TimelineStalled, bgjob.TimelineUnstalled, bgjob.TimelineResources} {
			b := assertRoundTrip(t, give)
			assert.Equal(t, strconv.Quote(string(give)), string(b))
		}
	})
}

// Durations far beyond the fixtures' come back exactly too: a busy
// process's CPU time passes a month in a day or two, and a job far from
// its end may have an ETA of years.
func TestLongDurationsJSONRoundTrip(t *testing.T) {
	durations := []struct {
		name string
		give time.Duration
	}{
		{"a month", 30*24*time.Hour + 123456789},
		// Two days of 24 cores.
		{"48 days", 1165*time.Hour + 20*time.Minute + 13*time.Second + 191661107},
		{"a year", 365*24*time.Hour + 123456789},
		{"the longest Duration", math.MaxInt64},
		{"the shortest Duration", math.MinInt64},
	}
	// Each place a duration travels, as a function that sends d through
	// JSON and returns what came back and the two encodings.
	carriers := []struct {
		name string
		trip func(t *testing.T, d time.Duration) (back time.Duration, first, second []byte)
	}{
		{"Event.ETA", func(t *testing.T, d time.Duration) (time.Duration, []byte, []byte) {
			got, b := roundTrip(t, bgjob.Event{Type: bgjob.EventProgress, ETA: d})
			_, b2 := roundTrip(t, got)
			return got.ETA, b, b2
		}},
		{"Event.Duration", func(t *testing.T, d time.Duration) (time.Duration, []byte, []byte) {
			got, b := roundTrip(t, bgjob.Event{Type: bgjob.EventComplete, State: bgjob.StateSucceeded, Duration: d})
			_, b2 := roundTrip(t, got)
			return got.Duration, b, b2
		}},
		{"JobStatus.Duration", func(t *testing.T, d time.Duration) (time.Duration, []byte, []byte) {
			got, b := roundTrip(t, bgjob.JobStatus{State: bgjob.StateRunning, Duration: d})
			_, b2 := roundTrip(t, got)
			return got.Duration, b, b2
		}},
		{"Resources.CPU", func(t *testing.T, d time.Duration) (time.Duration, []byte, []byte) {
			got, b := roundTrip(t, bgjob.Resources{CPU: d})
			_, b2 := roundTrip(t, got)
			return got.CPU, b, b2
		}},
		{"LogAttr", func(t *testing.T, d time.Duration) (time.Duration, []byte, []byte) {
			got, b := roundTrip(t, bgjob.LogAttr{Key: "took", Value: slog.DurationValue(d)})
			_, b2 := roundTrip(t, got)
			return got.Value.Duration(), b, b2
		}},
	}
	for _, c := range carriers {
		for _, tt := range durations {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				back, first, second := c.trip(t, tt.give)
				assert.Equalf(t, tt.give, back, "%d ns came back as %d ns through %s", tt.give, back, first)
				assert.Equal(t, string(first), string(second), "encoding what was decoded changes it")
			})
		}
	}
}

func TestStateAndEventTypeJSON(t *testing.T) {
	states := []struct {
		give bgjob.State
		want string
	}{
		{bgjob.StateQueued, `"queued"`},
		{bgjob.StateRunning, `"running"`},
		{bgjob.StatePausing, `"pausing"`},
		{bgjob.StatePaused, `"paused"`},
		{bgjob.StateCanceling, `"canceling"`},
		{bgjob.StateAbandoned, `"abandoned"`},
		{bgjob.StateSucceeded, `"succeeded"`},
		{bgjob.StateFailed, `"failed"`},
		{bgjob.StateCanceled, `"canceled"`},
	}
	for _, tt := range states {
		got, b := roundTrip(t, tt.give)
		assert.Equal(t, tt.want, string(b))
		assert.Equal(t, tt.give, got)
	}

	types := []struct {
		give bgjob.EventType
		want string
	}{
		{bgjob.EventInfo, `"info"`},
		{bgjob.EventQueued, `"queued"`},
		{bgjob.EventWorkerStarted, `"worker_started"`},
		{bgjob.EventProgress, `"progress"`},
		{bgjob.EventPaused, `"paused"`},
		{bgjob.EventResumed, `"resumed"`},
		{bgjob.EventStalled, `"stalled"`},
		{bgjob.EventUnstalled, `"unstalled"`},
		{bgjob.EventLog, `"log"`},
		{bgjob.EventAbandoned, `"abandoned"`},
		{bgjob.EventComplete, `"complete"`},
		{bgjob.EventWorkerStopped, `"worker_stopped"`},
		{bgjob.EventLagged, `"lagged"`},
	}
	for _, tt := range types {
		got, b := roundTrip(t, tt.give)
		assert.Equal(t, tt.want, string(b))
		assert.Equal(t, tt.give, got)
	}

	t.Run("unknown names", func(t *testing.T) {
		for _, give := range []string{`""`, `"Running"`, `"done"`, `"worker-started"`, `"State(0)"`, `0`, `2`, `true`} {
			var s bgjob.State
			assert.Errorf(t, json.Unmarshal([]byte(give), &s), "state %s", give)
			var typ bgjob.EventType
			assert.Errorf(t, json.Unmarshal([]byte(give), &typ), "event type %s", give)
		}
		var ev bgjob.Event
		assert.Error(t, json.Unmarshal([]byte(`{"type":"info","state":"done"}`), &ev))
		assert.Error(t, json.Unmarshal([]byte(`{"type":"finished"}`), &ev))
	})

	t.Run("invalid values do not encode", func(t *testing.T) {
		for _, give := range []any{bgjob.State(0), bgjob.State(200), bgjob.EventType(0), bgjob.EventType(200),
			bgjob.Event{}, map[bgjob.State]int{0: 1}} {
			_, err := json.Marshal(give)
			assert.Errorf(t, err, "%#v", give)
		}
	})

	// MarshalJSON never writes an event without a type, and the zero type
	// is not valid: decoding one must fail, or the event decoded cannot be
	// encoded again.
	t.Run("an event needs a type", func(t *testing.T) {
		for _, give := range []string{`{}`, `{"seq":1,"percent":5}`, `{"type":null}`} {
			var ev bgjob.Event
			assert.Errorf(t, json.Unmarshal([]byte(give), &ev), "%s decodes to an event of type %v, which does not encode", give, ev.Type)
		}
	})
}

// The events and the record of a real run read back as they were
// written: each event's encoding is stable through a round trip, and the
// facts consumers rely on hold.
func TestJSONOfARealRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, err := bgjob.NewRunner()
		require.NoError(t, err)
		sub, err := r.Subscribe(bgjob.WithPolicy(bgjob.Lossless))
		require.NoError(t, err)
		h, err := r.Start(t.Context(), "resnet-finetune", bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.Report(40, "epoch 2")
			p.Logger().Warn("slow epoch", "epoch", 2, "loss", 0.5, "lr", 2.0, "took", 1500*time.Millisecond)
			time.Sleep(time.Second)
			return errors.New("disk full")
		}))
		require.NoError(t, err)
		require.EqualError(t, h.Wait(t.Context()), "disk full")
		require.NoError(t, r.Shutdown(t.Context()))

		var types []bgjob.EventType
		for ev := range sub.Events() {
			types = append(types, ev.Type)
			first, err := json.Marshal(ev)
			require.NoError(t, err)
			var back bgjob.Event
			require.NoError(t, json.Unmarshal(first, &back))
			second, err := json.Marshal(back)
			require.NoError(t, err)
			assert.Equal(t, string(first), string(second))
			assert.Equal(t, ev.Duration, back.Duration, "%v", ev.Type)
			assert.Equal(t, normalize(bgjob.Event{Attrs: ev.Attrs, Err: ev.Err}), normalize(bgjob.Event{Attrs: back.Attrs, Err: back.Err}))

			m := wireFields(t, first)
			assert.Containsf(t, m, "percent", "%v", ev.Type)
			assert.Containsf(t, m, "duration_seconds", "%v", ev.Type)
			switch ev.Type {
			case bgjob.EventComplete:
				assertWireField(t, m, "success", false)
				assertWireField(t, m, "error", "disk full")
				assertWireField(t, m, "percent", 40.0)
				assertWireField(t, m, "duration_seconds", ev.Duration.Seconds())
				assert.Equal(t, time.Second, ev.Duration)
			case bgjob.EventWorkerStopped:
				assertWireField(t, m, "percent", 40.0)
			}
		}
		assert.Contains(t, types, bgjob.EventLog)
		assert.Contains(t, types, bgjob.EventComplete)

		var rec bgjob.JobRecord
		for rec = range r.History(bgjob.HistoryFilter{}) {
			break
		}
		require.Equal(t, h.ID(), rec.ID)
		got, b := roundTrip(t, rec)
		m := wireFields(t, b)
		assert.Contains(t, m, "logs")
		assert.Contains(t, m, "timeline")
		assert.Equal(t, rec.Duration, got.Duration)
		assert.Equal(t, rec.QueueWait, got.QueueWait)
		assert.Equal(t, rec.Paused, got.Paused)
		assert.Equal(t, normalize(bgjob.JobStatus{Err: rec.Err}), normalize(bgjob.JobStatus{Err: got.Err}))
		require.Len(t, got.Logs, len(rec.Logs))
		for i := range rec.Logs {
			assert.True(t, rec.Logs[i].Time.Equal(got.Logs[i].Time))
			rec.Logs[i].Time, got.Logs[i].Time = time.Time{}, time.Time{}
		}
		assert.Equal(t, normalizeAll(rec.Logs), normalizeAll(got.Logs))
		require.Len(t, got.Timeline, len(rec.Timeline))
		for i := range rec.Timeline {
			assert.True(t, rec.Timeline[i].Time.Equal(got.Timeline[i].Time))
			assert.Equal(t, rec.Timeline[i].Kind, got.Timeline[i].Kind)
			assert.Equal(t, rec.Timeline[i].Resources, got.Timeline[i].Resources)
		}
	})
}

// Decoding any bytes as an Event must not panic, and an event that decodes
// must encode, and read back to the same encoding.
func FuzzEventJSON(f *testing.F) {
	for _, tt := range wireEventCases() {
		b, err := json.Marshal(tt.give)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"progress","percent":"NaN","eta_seconds":-1e300}`))
	f.Add([]byte(`{"type":"log","level":"DEBUG-9","attrs":[{"key":"x","kind":"duration","value":"+Inf"},{"key":"y","kind":"time","value":"2025-10-21T15:30:00+01:00"}]}`))
	f.Add([]byte(`{"type":"lagged","lag_jobs":["urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"]}`))
	f.Add([]byte(`[{"type":"info"}]`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev bgjob.Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		first, err := json.Marshal(ev)
		require.NoErrorf(t, err, "%s decoded, but does not encode again", data)
		var back bgjob.Event
		require.NoErrorf(t, json.Unmarshal(first, &back), "decoding %s", first)
		second, err := json.Marshal(back)
		require.NoError(t, err)
		assert.Equal(t, string(first), string(second))
	})
}
