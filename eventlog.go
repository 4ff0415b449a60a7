package bgjob

import (
	"context"
	"log/slog"
	"strings"

	"github.com/bgjob/bgjob/internal/delivery"
)

// LogLevel returns the level at which a log of events records ev: a
// failure or an abandoned job is an error; a cancellation, a stall and a
// lag are warnings; progress is debug; a log line keeps its own level;
// the rest of the lifecycle is info.
func (e Event) LogLevel() slog.Level {
	switch e.Type {
	case EventComplete:
		switch e.State {
		case StateFailed:
			return slog.LevelError
		case StateCanceled:
			return slog.LevelWarn
		}
		return slog.LevelInfo
	case EventAbandoned:
		return slog.LevelError
	case EventStalled, EventLagged:
		return slog.LevelWarn
	case EventProgress:
		return slog.LevelDebug
	case EventLog:
		return e.Level
	default:
		return slog.LevelInfo
	}
}

// LogAttrs returns ev's fields as slog attributes, for services that log
// with log/slog: the event type, the job's id, name, worker and state,
// and then what applies — percent, step and total, rate, ETA and the
// metrics (a group) for the events that carry progress; duration and
// error for complete; the log line's attributes (a group); the range and
// jobs of a lag.
func (e Event) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{slog.String("event", e.Type.String())}
	if e.Type == EventLagged {
		return append(attrs,
			slog.Uint64("lag_first", e.LagFirst), slog.Uint64("lag_last", e.LagLast),
			slog.Int("lag_jobs", len(e.LagJobs)), slog.Bool("lag_more", e.LagMore))
	}
	attrs = append(attrs,
		slog.String("job_id", e.JobID.String()),
		slog.String("job_name", e.JobName),
		slog.Int64("worker_id", e.WorkerID),
		slog.String("state", e.State.String()),
	)
	switch e.Type.class() {
	case delivery.Foldable:
		attrs = append(attrs, slog.Float64("percent", e.Percent))
		if e.Total > 0 {
			attrs = append(attrs, slog.Int64("step", e.Step), slog.Int64("total", e.Total))
		}
		if e.Rate > 0 {
			attrs = append(attrs, slog.Float64("rate", e.Rate))
		}
		if e.ETA > 0 {
			attrs = append(attrs, slog.Duration("eta", e.ETA))
		}
		if len(e.Metrics) > 0 {
			ms := make([]any, 0, len(e.Metrics))
			for _, m := range e.Metrics {
				ms = append(ms, slog.Float64(m.Name, m.Value))
			}
			attrs = append(attrs, slog.Group("metrics", ms...))
		}
	case delivery.Log:
		if len(e.Attrs) > 0 {
			as := make([]any, 0, len(e.Attrs))
			for _, a := range e.Attrs {
				as = append(as, slog.Attr{Key: a.Key, Value: a.Value})
			}
			attrs = append(attrs, slog.Group("attrs", as...))
		}
	}
	if e.Type == EventComplete {
		attrs = append(attrs, slog.Duration("duration", e.Duration), slog.Float64("percent", e.Percent))
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", errorText(e.Err)))
		}
	}
	if e.Type == EventStalled || e.Type == EventAbandoned {
		attrs = append(attrs, slog.String("reason", e.Message))
	}
	return attrs
}

// LogMessage returns the message of ev's log record: the first line of
// FormatText, or the job's own message for a log line.
func (e Event) LogMessage() string {
	if e.Type == EventLog {
		return e.Message
	}
	first, _, _ := strings.Cut(FormatText(e), "\n")
	return first
}

// eventLogDone returns a channel closed once the event log's goroutine has
// written the last event, or nil when there is none to wait for.
func (r *Runner) eventLogDone() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.eventLogStarted {
		return nil
	}
	return r.eventLog.done
}

// WithEventLog makes the Runner log every event to l, one record per
// event, with LogMessage as its message, LogAttrs as its attributes and
// LogLevel as its level — so progress is debug, and a failure an error.
// The records are written on a goroutine of the Runner's, from a lagging
// subscription: a slow handler never holds up a job, and if it falls
// too far behind, a lagged record says what it missed. The goroutine
// starts with the first job and ends after Shutdown, which waits for it
// to write the last events as long as its context allows. A nil logger is
// an error.
func WithEventLog(l *slog.Logger) Option {
	return runnerOption(func(c *runnerConfig) error {
		if l == nil {
			return errNilEventLog
		}
		c.eventLog = l
		return nil
	})
}

// eventLogger is the Runner's own subscription behind WithEventLog.
type eventLogger struct {
	l    *slog.Logger
	sub  *Subscription
	done chan struct{} // closed when the goroutine that writes the log ends
}

// startEventLogLocked starts the goroutine that writes the event log,
// unless it runs or there is none. It ends when the subscription's
// channel closes, after Shutdown.
func (r *Runner) startEventLogLocked() {
	el := r.eventLog
	if el == nil || r.eventLogStarted {
		return
	}
	r.eventLogStarted = true
	go func() {
		// Not one of loopDone's: the handler is the user's, and Shutdown
		// waits for it only as long as its context allows.
		defer close(el.done)
		ctx := context.Background()
		for ev := range el.sub.Events() {
			if el.l.Enabled(ctx, ev.LogLevel()) {
				el.l.LogAttrs(ctx, ev.LogLevel(), ev.LogMessage(), ev.LogAttrs()...)
			}
		}
	}()
}
