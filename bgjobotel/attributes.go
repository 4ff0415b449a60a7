package bgjobotel

import (
	"go.opentelemetry.io/otel/attribute"

	"github.com/bgjob/bgjob"
)

// The attribute keys of the spans, span events and metrics, listed in the
// package documentation. OpenTelemetry's semantic conventions have no
// namespace for in-process jobs, so they are under "bgjob."; where a
// convention fits (exception.*, error.type, thread.id, code.stacktrace)
// it is used, through the semconv package.
const (
	keyJobID      = attribute.Key("bgjob.job.id")
	keyJobName    = attribute.Key("bgjob.job.name")
	keyWorkerID   = attribute.Key("bgjob.worker.id")
	keyPriority   = attribute.Key("bgjob.job.priority")
	keyQueueWait  = attribute.Key("bgjob.job.queue_wait")
	keyDuration   = attribute.Key("bgjob.job.duration")
	keyPaused     = attribute.Key("bgjob.job.paused")
	keyOutcome    = attribute.Key("bgjob.job.outcome")
	keyState      = attribute.Key("bgjob.job.state")
	keyPercent    = attribute.Key("bgjob.job.percent")
	keyStep       = attribute.Key("bgjob.job.step")
	keyTotal      = attribute.Key("bgjob.job.total")
	keyMessage    = attribute.Key("bgjob.job.message")
	keyCause      = attribute.Key("bgjob.cancel.cause")
	keyFolded     = attribute.Key("bgjob.events.folded")
	keyLost       = attribute.Key("bgjob.events.lost")
	keyMetricName = attribute.Key("bgjob.metric.name")
	keySubscriber = attribute.Key("bgjob.subscriber")
	// metricPrefix prefixes a metric's name in span attributes and span
	// events: "bgjob.metric.loss".
	metricPrefix = "bgjob.metric."
)

// The span events a job's span may hold, besides "exception".
const (
	eventProgress  = "progress"
	eventPaused    = "paused"
	eventResumed   = "resumed"
	eventStalled   = "stalled"
	eventUnstalled = "unstalled"
	eventCanceled  = "canceled"
	eventAbandoned = "abandoned"
	eventLagged    = "events lost"
)

// outcomeAbandoned is the outcome of a job still running, abandoned, when
// the Runner's last event was out: it never reported its end.
const outcomeAbandoned = "abandoned"

// progressAttrs returns the attributes of a job's progress: its percent,
// step and total when it counts steps, message, and the latest value of
// each metric it records.
func progressAttrs(percent float64, step, total int64, msg string, metrics []bgjob.Metric) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4+len(metrics))
	attrs = append(attrs, keyPercent.Float64(percent))
	if step != 0 || total != 0 {
		attrs = append(attrs, keyStep.Int64(step))
	}
	if total != 0 {
		attrs = append(attrs, keyTotal.Int64(total))
	}
	if msg != "" {
		attrs = append(attrs, keyMessage.String(msg))
	}
	for _, m := range metrics {
		attrs = append(attrs, attribute.Float64(metricPrefix+m.Name, m.Value))
	}
	return attrs
}
