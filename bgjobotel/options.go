package bgjobotel

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const (
	// DefaultProgressEvery is the percent of progress between two progress
	// span events of a job when WithProgressEvents is not given: at most
	// ten per job, however often the job reports.
	DefaultProgressEvery = 10.0
	// MinProgressEvery is the smallest step WithProgressEvents accepts
	// besides zero: at most 100 progress events a job.
	MinProgressEvery = 1.0
	// DefaultMaxJobSeries is how many running jobs get metric series of
	// their own (bgjob.job.progress, bgjob.job.metric) when
	// WithMaxJobSeries is not given. With at most bgjob.MaxMetrics metrics
	// a job, that is at most 1,600 series of bgjob.job.metric, under the
	// SDK's default cardinality limit of 2,000 per instrument.
	DefaultMaxJobSeries = 50
)

var (
	// ErrInvalidOption is returned by New, wrapped, for an option given a
	// value out of its range.
	ErrInvalidOption = errors.New("bgjobotel: invalid option")
	// ErrAttached is returned by Telemetry.NewRunner when the Telemetry
	// already instruments a Runner: each Runner needs a Telemetry of its
	// own.
	ErrAttached = errors.New("bgjobotel: telemetry already instruments a runner")
	// ErrInvalidSubscription is returned by Telemetry.WatchSubscription,
	// wrapped, for a nil subscription or a name that is empty, not valid
	// UTF-8 or already taken.
	ErrInvalidSubscription = errors.New("bgjobotel: invalid subscription")
)

// Option configures a Telemetry.
type Option interface {
	apply(*config) error
}

// config is what the options set. A Telemetry reads it and never changes
// it, so that the job goroutines, the event reader and the metric
// callback share it without a lock.
type config struct {
	tracerProvider trace.TracerProvider // nil: the global one, read at NewRunner
	meterProvider  metric.MeterProvider // nil: the global one, read at NewRunner
	attrs          []attribute.KeyValue
	progressEvery  float64
	maxJobSeries   int
	// backlog bounds the Telemetry's own subscription (zero keeps bgjob's
	// default) and unbuffered leaves its channel without a buffer. Only
	// tests change them, to make it lag.
	backlog    int
	unbuffered bool
}

func newConfig(opts []Option) (config, error) {
	c := config{progressEvery: DefaultProgressEvery, maxJobSeries: DefaultMaxJobSeries}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithTracerProvider sets the TracerProvider that makes the jobs' spans
// (default: the global one, otel.GetTracerProvider, as it is when
// Telemetry.NewRunner is called). A nil provider is an error.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) error {
		if tp == nil {
			return fmt.Errorf("%w: WithTracerProvider(nil)", ErrInvalidOption)
		}
		c.tracerProvider = tp
		return nil
	})
}

// WithMeterProvider sets the MeterProvider that makes the Runner's
// instruments (default: the global one, otel.GetMeterProvider, as it is
// when Telemetry.NewRunner is called). A nil provider is an error.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) error {
		if mp == nil {
			return fmt.Errorf("%w: WithMeterProvider(nil)", ErrInvalidOption)
		}
		c.meterProvider = mp
		return nil
	})
}

// WithAttributes adds attrs to every span and every metric data point the
// Telemetry makes, to tell apart the Runners of one process — a
// "bgjob.runner" attribute, say. Given more than once, the lists add up.
// An attribute without a key is an error.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return optionFunc(func(c *config) error {
		for _, kv := range attrs {
			if !kv.Valid() {
				return fmt.Errorf("%w: WithAttributes: attribute %q is not valid", ErrInvalidOption, kv.Key)
			}
		}
		c.attrs = append(c.attrs, attrs...)
		return nil
	})
}

// WithProgressEvents sets how far, in percent, a job goes between two
// "progress" events on its span (default DefaultProgressEvery): an event
// marks each time its percent crosses a multiple of every, so a job has
// at most 100/every of them, however often it reports. Zero turns them
// off. Any other value must be from MinProgressEvery to 100: a smaller
// step would make hundreds of events a job, past the SDK's default limit
// of 128 events a span, which drops the rest.
func WithProgressEvents(every float64) Option {
	return optionFunc(func(c *config) error {
		if every != 0 && !(every >= MinProgressEvery && every <= 100) { // NaN included
			return fmt.Errorf("%w: WithProgressEvents(%v): must be 0 (off) or from %v to 100",
				ErrInvalidOption, every, MinProgressEvery)
		}
		c.progressEvery = every
		return nil
	})
}

// WithMaxJobSeries bounds the running jobs that get metric series of
// their own (bgjob.job.progress and bgjob.job.metric) to the n oldest;
// the others are counted in bgjob.job.series.omitted. A collection then
// holds at most n series of bgjob.job.progress and n × bgjob.MaxMetrics of
// bgjob.job.metric, whatever the number of jobs. Zero reports no per-job
// series; a negative n is an error. The default is DefaultMaxJobSeries.
func WithMaxJobSeries(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: WithMaxJobSeries(%d): must not be negative", ErrInvalidOption, n)
		}
		c.maxJobSeries = n
		return nil
	})
}
