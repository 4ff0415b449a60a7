package bgjobriver

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/riverqueue/river"
)

// Defaults for the options below.
const (
	// DefaultQueue is the River queue bgjob jobs go to.
	DefaultQueue = "bgjob"
	// DefaultMaxWorkers is how many jobs a node works at once.
	DefaultMaxWorkers = 10
	// DefaultHeartbeat is how often a node writes each running job's status
	// and heartbeat to its row, and reads back cancel and pause requests.
	DefaultHeartbeat = time.Second
	// DefaultRescueAfter is how long a running job's heartbeat may be silent
	// before another node takes the job back and runs it again.
	DefaultRescueAfter = 30 * time.Second
	// DefaultFetchPollInterval is how often an idle node looks for jobs.
	DefaultFetchPollInterval = time.Second
	// DefaultHandOver is how long Close waits for canceled jobs to return,
	// once its context has ended, so that they go back to the queue.
	DefaultHandOver = 10 * time.Second

	// MaxInputSize bounds a job's input, in bytes of JSON.
	MaxInputSize = 1 << 20
	// MaxCheckpointSize bounds a job's checkpoint, in bytes of JSON. A
	// checkpoint lives in the job's metadata, which the node working the
	// job rewrites whole at every heartbeat, and which Status and List
	// read: it is for a cursor, an epoch, a path to the weights — not the
	// weights.
	MaxCheckpointSize = 64 << 10
)

// Option configures a Client.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	jobs        map[string]bgjob.Job
	runnerOpts  []bgjob.Option
	queue       string
	maxWorkers  int
	heartbeat   time.Duration
	rescueAfter time.Duration
	fetchPoll   time.Duration
	handOver    time.Duration
	logger      *slog.Logger
	id          string
	maxAttempts int
	retryPolicy river.ClientRetryPolicy
	migrate     bool
	schema      string
	// testOnly makes River skip the random delays it puts before its
	// maintenance services start, for tests.
	testOnly bool
}

func newConfig(opts []Option) (config, error) {
	c := config{
		jobs:        make(map[string]bgjob.Job),
		queue:       DefaultQueue,
		maxWorkers:  DefaultMaxWorkers,
		heartbeat:   DefaultHeartbeat,
		rescueAfter: DefaultRescueAfter,
		fetchPoll:   DefaultFetchPollInterval,
		handOver:    DefaultHandOver,
		migrate:     true,
	}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil option", bgjob.ErrInvalidOption)
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{bgjob.ErrInvalidOption}, args...)...)
}

var (
	kindPattern   = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,100}$`)
	schemaPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,45}$`)
)

var (
	_ Option      = optionFunc(nil)
	_ StartOption = startOptionFunc(nil)
)

// WithJob registers job under kind: this client works the jobs of that kind,
// and Start accepts it. Every node that works the queue should register the
// same kinds; a node that picks up a job of a kind it does not know puts it
// back for a while without using an attempt (see ErrUnknownKind). A kind is 1 to 100
// letters, digits and _ . : / -.
func WithJob(kind string, job bgjob.Job) Option {
	return optionFunc(func(c *config) error {
		if !kindPattern.MatchString(kind) {
			return invalid("job kind %q", kind)
		}
		if job == nil {
			return invalid("nil job for kind %q", kind)
		}
		if _, dup := c.jobs[kind]; dup {
			return invalid("job kind %q registered twice", kind)
		}
		c.jobs[kind] = job
		return nil
	})
}

// WithRunnerOptions configures the local bgjob.Runner each attempt runs on
// (stall timeout, history, logger, …). WithMaxRunning is best left out:
// WithMaxWorkers limits the jobs a node takes.
func WithRunnerOptions(opts ...bgjob.Option) Option {
	return optionFunc(func(c *config) error {
		c.runnerOpts = append(c.runnerOpts, opts...)
		return nil
	})
}

// WithQueue sets the River queue the client inserts into and works
// (default DefaultQueue), so that bgjob jobs can share a database with
// other River jobs, or be split across pools of nodes.
func WithQueue(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" || len(name) > 127 {
			return invalid("queue name %q", name)
		}
		c.queue = name
		return nil
	})
}

// WithMaxWorkers sets how many jobs this node works at once (default
// DefaultMaxWorkers), from 1 to 10,000.
func WithMaxWorkers(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > 10_000 {
			return invalid("max workers %d", n)
		}
		c.maxWorkers = n
		return nil
	})
}

// WithHeartbeat sets how often a node writes each running job's status and
// heartbeat and reads back requests (interval, default DefaultHeartbeat),
// and how long a heartbeat may be silent before the job is taken back and
// run again elsewhere (rescueAfter, default DefaultRescueAfter). A node that
// cannot renew a heartbeat for rescueAfter/2 cancels the job itself with
// ErrLeaseLost, so that it stops before another node starts it.
// rescueAfter must be at least four intervals; interval at least 10ms.
func WithHeartbeat(interval, rescueAfter time.Duration) Option {
	return optionFunc(func(c *config) error {
		if interval < 10*time.Millisecond {
			return invalid("heartbeat interval %s", interval)
		}
		if rescueAfter < 4*interval {
			return invalid("rescue after %s: less than four heartbeats of %s", rescueAfter, interval)
		}
		c.heartbeat, c.rescueAfter = interval, rescueAfter
		return nil
	})
}

// WithFetchPollInterval sets how often an idle node looks for new jobs
// (default DefaultFetchPollInterval); River also wakes on inserts it is
// notified of. At least 1ms.
func WithFetchPollInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond {
			return invalid("fetch poll interval %s", d)
		}
		c.fetchPoll = d
		return nil
	})
}

// WithHandOver sets how long Close waits, once its context has ended, for the
// jobs it cancels to return (default DefaultHandOver). Jobs that return in
// time go back to the queue at once, their attempt not counted; the others
// are taken back by other nodes when their heartbeat goes stale.
func WithHandOver(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return invalid("hand-over %s", d)
		}
		c.handOver = d
		return nil
	})
}

// WithLogger sets the logger of River and of this package (default: none).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return invalid("nil logger")
		}
		c.logger = l
		return nil
	})
}

// WithNodeID sets the client's id, which names the node in statuses and in
// River's attempted_by. It must be unique among running clients; the
// default is the host name, the process id and a random suffix.
func WithNodeID(id string) Option {
	return optionFunc(func(c *config) error {
		if id == "" || len(id) > 100 {
			return invalid("node id %q", id)
		}
		c.id = id
		return nil
	})
}

// WithMaxAttempts sets the default number of attempts of a job (River's
// default, 25, otherwise); Start's WithAttempts overrides it per job.
func WithMaxAttempts(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 {
			return invalid("max attempts %d", n)
		}
		c.maxAttempts = n
		return nil
	})
}

// WithRetryPolicy sets River's retry policy (default
// river.DefaultClientRetryPolicy). The sweep that takes jobs back from dead
// nodes follows it too.
func WithRetryPolicy(p river.ClientRetryPolicy) Option {
	return optionFunc(func(c *config) error {
		if p == nil {
			return invalid("nil retry policy")
		}
		c.retryPolicy = p
		return nil
	})
}

// WithoutMigration makes Open leave the schema alone: by default it runs
// River's migrations (rivermigrate) up to the version River needs.
func WithoutMigration() Option {
	return optionFunc(func(c *config) error {
		c.migrate = false
		return nil
	})
}

// WithSchema sets the PostgreSQL schema holding River's tables (default:
// the connection's search_path). Letters, digits and underscores.
func WithSchema(schema string) Option {
	return optionFunc(func(c *config) error {
		if !schemaPattern.MatchString(schema) {
			return invalid("schema %q", schema)
		}
		c.schema = schema
		return nil
	})
}

// StartOption configures one job at Start.
type StartOption interface {
	applyStart(*startConfig) error
}

type startOptionFunc func(*startConfig) error

func (f startOptionFunc) applyStart(c *startConfig) error { return f(c) }

type startConfig struct {
	name        string
	maxAttempts int
}

// WithName sets the job's name, as bgjob shows it (default: its kind). The
// rules of bgjob.Runner.Start apply.
func WithName(name string) StartOption {
	return startOptionFunc(func(c *startConfig) error {
		c.name = name
		return nil
	})
}

// WithAttempts sets how many attempts the job gets before it is discarded
// (at least 1). A node that dies takes one of them.
func WithAttempts(n int) StartOption {
	return startOptionFunc(func(c *startConfig) error {
		if n < 1 {
			return invalid("attempts %d", n)
		}
		c.maxAttempts = n
		return nil
	})
}
