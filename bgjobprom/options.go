package bgjobprom

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bgjob/bgjob"
)

// DefaultMaxJobSeries is how many running jobs get series of their own
// (the bgjob_job_* families) when WithMaxJobSeries is not given.
const DefaultMaxJobSeries = 100

var (
	// ErrNilRunner is returned by NewCollector for a nil Runner.
	ErrNilRunner = errors.New("bgjobprom: nil runner")
	// ErrInvalidOption is returned by NewCollector, wrapped, for an option
	// given a value out of its range.
	ErrInvalidOption = errors.New("bgjobprom: invalid option")
)

// Option configures a Collector.
type Option interface {
	apply(*config) error
}

// config is what the options set; a Collector reads it and never changes
// it, so that concurrent scrapes share it without a lock.
type config struct {
	maxJobSeries  int
	subscriptions []namedSubscription
}

type namedSubscription struct {
	name string
	sub  *bgjob.Subscription
}

func newConfig(opts []Option) (config, error) {
	c := config{maxJobSeries: DefaultMaxJobSeries}
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

// WithMaxJobSeries bounds the running jobs that get series of their own
// (bgjob_job_progress_ratio, bgjob_job_metric and the rest) to the n
// oldest; the others are counted in bgjob_jobs_over_series_limit. A scrape
// then holds at most n × (4 + bgjob.MaxMetrics) per-job series, whatever
// the number of jobs. Zero exports no per-job series; a negative n is an
// error. The default is DefaultMaxJobSeries.
func WithMaxJobSeries(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: WithMaxJobSeries(%d): must not be negative", ErrInvalidOption, n)
		}
		c.maxJobSeries = n
		return nil
	})
}

// WithSubscription exports the counters of s (bgjob.Subscription.Stats)
// with the label subscriber="name": what it delivered, coalesced and lost,
// and its backlog. The Runner does not list its subscriptions, so each one
// to watch is named here; the Collector reads its counters at each scrape
// and never reads its events; a closed subscription keeps its last
// counts. Give it once per subscription. A nil s,
// an empty name, a name that is not valid UTF-8 and a name given twice
// are errors.
func WithSubscription(name string, s *bgjob.Subscription) Option {
	return optionFunc(func(c *config) error {
		switch {
		case s == nil:
			return fmt.Errorf("%w: WithSubscription(%q): nil subscription", ErrInvalidOption, name)
		case name == "":
			return fmt.Errorf("%w: WithSubscription: empty name", ErrInvalidOption)
		case !utf8.ValidString(name):
			return fmt.Errorf("%w: WithSubscription(%q): name is not valid UTF-8", ErrInvalidOption, name)
		}
		for _, ns := range c.subscriptions {
			if ns.name == name {
				return fmt.Errorf("%w: WithSubscription(%q): name given twice", ErrInvalidOption, name)
			}
		}
		// Kept for the Collector's life: a name that is a slice of
		// something larger must not keep it.
		c.subscriptions = append(c.subscriptions, namedSubscription{name: strings.Clone(name), sub: s})
		return nil
	})
}
