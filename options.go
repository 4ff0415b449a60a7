package bgjob

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Defaults for the options below.
const (
	DefaultProgressInterval = 100 * time.Millisecond
	DefaultBuffer           = 64
	DefaultBacklog          = 10_000
	DefaultHistoryLimit     = 1_000
	// MaxBuffer is the largest channel buffer a subscription accepts: the
	// buffer is allocated up front, a few hundred bytes an event.
	MaxBuffer = 1 << 16
	// DefaultLogLimit is how many log lines each job keeps.
	DefaultLogLimit = 100
	// DefaultLogBacklog is how many log events a subscription holds for a
	// reader that falls behind.
	DefaultLogBacklog = 256
	// DefaultResourceInterval is how often the Runner samples the
	// process's resources while jobs run.
	DefaultResourceInterval = time.Second
	// MaxNameLen is the longest job name Start accepts, in bytes.
	MaxNameLen = 256
)

// Option configures a Runner.
type Option interface {
	applyRunner(*runnerConfig) error
}

// SubscribeOption configures a subscription.
type SubscribeOption interface {
	applySubscription(*subscriptionConfig) error
}

// JobOption configures one job.
type JobOption interface {
	applyJob(*jobConfig) error
}

type runnerConfig struct {
	progressInterval time.Duration
	historyLimit     int
	maxRunning       int // 0: no limit
	maxQueued        int // 0: no limit
	defaultTimeout   time.Duration
	cancelGrace      time.Duration // 0: never abandon
	stallTimeout     time.Duration // 0: no stall detection
	logger           *slog.Logger
	logLevel         slog.Leveler
	logLimit         int
	resourceInterval time.Duration
	store            HistoryStore
	eventLog         *slog.Logger
	middleware       []Middleware
}

func newRunnerConfig(opts []Option) (runnerConfig, error) {
	c := runnerConfig{
		progressInterval: DefaultProgressInterval,
		historyLimit:     DefaultHistoryLimit,
		logLevel:         slog.LevelInfo,
		logLimit:         DefaultLogLimit,
		resourceInterval: DefaultResourceInterval,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyRunner(&c); err != nil {
			return runnerConfig{}, err
		}
	}
	return c, nil
}

type subscriptionConfig struct {
	buffer     int
	backlog    int
	logBacklog int
	policy     Policy
	job        uuid.UUID // uuid.Nil: every job
	types      []EventType
}

func newSubscriptionConfig(opts []SubscribeOption) (subscriptionConfig, error) {
	c := subscriptionConfig{buffer: DefaultBuffer, backlog: DefaultBacklog, logBacklog: DefaultLogBacklog, policy: Lagging}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applySubscription(&c); err != nil {
			return subscriptionConfig{}, err
		}
	}
	return c, nil
}

type jobConfig struct {
	lockThread bool
	timeout    time.Duration
	hasTimeout bool
	priority   int
}

func newJobConfig(opts []JobOption) (jobConfig, error) {
	if len(opts) == 0 {
		return jobConfig{}, nil // most jobs: no work, and nothing escapes
	}
	return applyJobOptions(opts)
}

// applyJobOptions is newJobConfig's work, apart: the options' methods take
// the config's address, which moves it to the heap wherever it is
// declared.
func applyJobOptions(opts []JobOption) (jobConfig, error) {
	var c jobConfig
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyJob(&c); err != nil {
			return jobConfig{}, err
		}
	}
	return c, nil
}

type runnerOption func(*runnerConfig) error

func (f runnerOption) applyRunner(c *runnerConfig) error { return f(c) }

type subscribeOption func(*subscriptionConfig) error

func (f subscribeOption) applySubscription(c *subscriptionConfig) error { return f(c) }

type jobOption func(*jobConfig) error

func (f jobOption) applyJob(c *jobConfig) error { return f(c) }

// WithProgressInterval sets how often, at most, a job's progress is
// published as an EventProgress (default DefaultProgressInterval). Between
// two publications, newer values replace older ones; GetStatus always shows
// the newest. It must be positive.
func WithProgressInterval(d time.Duration) Option {
	return runnerOption(func(c *runnerConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: progress interval %v must be positive", ErrInvalidOption, d)
		}
		c.progressInterval = d
		return nil
	})
}

// WithHistoryLimit sets how many finished jobs the Runner keeps in memory,
// for History and Job (default DefaultHistoryLimit). Zero keeps none; a
// negative limit is an error. A Handle keeps its own job's status
// whatever the limit.
func WithHistoryLimit(n int) Option {
	return runnerOption(func(c *runnerConfig) error {
		if n < 0 {
			return fmt.Errorf("%w: history limit %d is negative", ErrInvalidOption, n)
		}
		c.historyLimit = n
		return nil
	})
}

// WithMaxRunning limits how many jobs run at once. Jobs started beyond the
// limit wait in a queue, highest priority first and in the order they were
// started within a priority (see WithPriority), and run as running jobs end.
// The limit must be at least 1; without this option there is none.
func WithMaxRunning(n int) Option {
	return runnerOption(func(c *runnerConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: max running %d must be at least 1", ErrInvalidOption, n)
		}
		c.maxRunning = n
		return nil
	})
}

// WithMaxQueued bounds the queue of jobs waiting for a worker (see
// WithMaxRunning): Start fails at once with ErrQueueFull instead of queueing
// beyond it. It must be at least 1; without this option the queue is not
// bounded.
func WithMaxQueued(n int) Option {
	return runnerOption(func(c *runnerConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: max queued %d must be at least 1", ErrInvalidOption, n)
		}
		c.maxQueued = n
		return nil
	})
}

// WithDefaultTimeout sets the timeout of jobs started without WithTimeout.
// Zero means none (the default); a negative timeout is an error.
func WithDefaultTimeout(d time.Duration) Option {
	return runnerOption(func(c *runnerConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: default timeout %v is negative", ErrInvalidOption, d)
		}
		c.defaultTimeout = d
		return nil
	})
}

// WithCancelGrace sets how long a canceled job may take to return before
// the Runner reports it abandoned (StateAbandoned, EventAbandoned) and
// stops waiting for it in Shutdown. Go cannot stop a goroutine, so an
// abandoned job may well still be running; the Runner says so rather than
// pretend otherwise. An abandoned job also gives its worker slot (see
// WithMaxRunning) to the next queued job. The grace starts when the job is
// canceled, or when its worker starts if it was canceled before. Zero (the
// default) never abandons a job; a negative grace is an error.
func WithCancelGrace(d time.Duration) Option {
	return runnerOption(func(c *runnerConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: cancel grace %v is negative", ErrInvalidOption, d)
		}
		c.cancelGrace = d
		return nil
	})
}

// WithStallTimeout makes the Runner mark a running job stalled when it has
// reported no progress for d (checked at every progress interval), with an
// EventStalled that carries the stacks of the job's goroutines; progress
// clears the mark, with an EventUnstalled. Paused time does not count. Zero
// (the default) turns detection off; a negative timeout is an error.
func WithStallTimeout(d time.Duration) Option {
	return runnerOption(func(c *runnerConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: stall timeout %v is negative", ErrInvalidOption, d)
		}
		c.stallTimeout = d
		return nil
	})
}

// WithLogger sends every job's log records (Progress.Logger) to l as
// well, with the attributes job_id and job_name. l's handler is called on
// the job's goroutine, so it should not block.
func WithLogger(l *slog.Logger) Option {
	return runnerOption(func(c *runnerConfig) error {
		c.logger = l
		return nil
	})
}

// WithLogLevel sets the lowest level a job's logger records (default
// slog.LevelInfo). A nil leveler is an error.
func WithLogLevel(level slog.Leveler) Option {
	return runnerOption(func(c *runnerConfig) error {
		if level == nil {
			return fmt.Errorf("%w: nil log level", ErrInvalidOption)
		}
		c.logLevel = level
		return nil
	})
}

// WithLogLimit sets how many log lines each job keeps, while it runs and in
// its history record (default DefaultLogLimit); older lines make room for
// newer ones. Zero keeps none; a negative limit is an error.
func WithLogLimit(n int) Option {
	return runnerOption(func(c *runnerConfig) error {
		if n < 0 {
			return fmt.Errorf("%w: log limit %d is negative", ErrInvalidOption, n)
		}
		c.logLimit = n
		return nil
	})
}

// WithResourceInterval sets how often, while jobs run, the Runner samples
// the process's CPU time, resident memory, Go heap and goroutines and adds
// them to each running job's timeline (default DefaultResourceInterval).
// It must be positive.
func WithResourceInterval(d time.Duration) Option {
	return runnerOption(func(c *runnerConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: resource interval %v must be positive", ErrInvalidOption, d)
		}
		c.resourceInterval = d
		return nil
	})
}

// WithHistoryStore hands the record of every finished job to store as
// well, on a goroutine of the Runner's (see HistoryStore); History then
// reads from store. The Runner still keeps the last WithHistoryLimit jobs
// in memory, so that Job finds them by id. A nil store is an error.
func WithHistoryStore(store HistoryStore) Option {
	return runnerOption(func(c *runnerConfig) error {
		if store == nil {
			return fmt.Errorf("%w: nil history store", ErrInvalidOption)
		}
		c.store = store
		return nil
	})
}

// Middleware wraps a job: it is given the job as started and returns the
// job the Runner runs in its place, which usually does something around a
// call to next.Run. Its Run is called on the job's goroutine with the job's
// context and Progress (Progress.Handle names the job), so whatever it
// puts in the context — a trace span, say — is what the job's own code
// sees. A panic in next.Run passes through it to the Runner, which reports
// it as usual unless the middleware recovers it.
type Middleware func(next Job) Job

// WithMiddleware wraps every job the Runner starts in mw, the first
// outermost. Start calls each middleware once per job, on the caller's
// goroutine; one that returns nil makes Start fail with ErrNilJob. Options
// given more than once add to the list.
func WithMiddleware(mw ...Middleware) Option {
	return runnerOption(func(c *runnerConfig) error {
		for _, m := range mw {
			if m == nil {
				return fmt.Errorf("%w: WithMiddleware: a nil middleware", ErrInvalidOption)
			}
		}
		c.middleware = append(c.middleware, mw...)
		return nil
	})
}

// WithBuffer sets the capacity of the subscription's channel (default
// DefaultBuffer). Zero makes it unbuffered; a size below zero or above
// MaxBuffer is an error (the backlog, WithBacklog, is the place for a
// large bound: it holds only what is pending).
func WithBuffer(n int) SubscribeOption {
	return subscribeOption(func(c *subscriptionConfig) error {
		if n < 0 || n > MaxBuffer {
			return fmt.Errorf("%w: buffer %d is outside [0, %d]", ErrInvalidOption, n, MaxBuffer)
		}
		c.buffer = n
		return nil
	})
}

// WithBacklog bounds the events a subscription holds behind its channel
// when its reader falls behind (default DefaultBacklog). What happens at the
// bound is the subscription's Policy. It must be at least 1.
func WithBacklog(n int) SubscribeOption {
	return subscribeOption(func(c *subscriptionConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: backlog %d must be at least 1", ErrInvalidOption, n)
		}
		c.backlog = n
		return nil
	})
}

// WithLogBacklog bounds the log events (EventLog) a subscription holds
// for a reader that falls behind (default DefaultLogBacklog): beyond it the
// oldest log lines are dropped, and counted in SubscriptionStats.LogDropped.
// Other events never make room for logs, nor logs for them. Up to 64 more
// may already be on their way into the channel. A lagging subscription
// that is losing events (its backlog full) loses the log lines published
// meanwhile with them, also counted in LogDropped, so that one lag notice
// names the whole run. It must be at least 1.
func WithLogBacklog(n int) SubscribeOption {
	return subscribeOption(func(c *subscriptionConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: log backlog %d must be at least 1", ErrInvalidOption, n)
		}
		c.logBacklog = n
		return nil
	})
}

// WithPolicy sets what happens when the subscription's backlog is full
// (default Lagging).
func WithPolicy(p Policy) SubscribeOption {
	return subscribeOption(func(c *subscriptionConfig) error {
		if p != Lagging && p != Lossless {
			return fmt.Errorf("%w: unknown policy %d", ErrInvalidOption, uint8(p))
		}
		c.policy = p
		return nil
	})
}

// WithJob limits the subscription to the events of one job, live or
// finished (Subscribe returns ErrUnknownJob for an id the Runner does not
// know). Its Snapshot holds that job's status as of the moment the
// subscription began, and every event after it is delivered; the channel
// closes after the job's worker_stopped.
func WithJob(id uuid.UUID) SubscribeOption {
	return subscribeOption(func(c *subscriptionConfig) error {
		if id == uuid.Nil {
			return fmt.Errorf("%w: nil job id", ErrInvalidOption)
		}
		c.job = id
		return nil
	})
}

// WithTypes limits the subscription to events of the given types (and
// EventLagged, which is not published but made for each subscriber).
func WithTypes(types ...EventType) SubscribeOption {
	return subscribeOption(func(c *subscriptionConfig) error {
		for _, t := range types {
			if _, err := t.MarshalText(); err != nil || t == EventLagged {
				return fmt.Errorf("%w: event type %d cannot be subscribed to", ErrInvalidOption, uint8(t))
			}
		}
		c.types = append(c.types, types...)
		return nil
	})
}

// LockOSThread runs the job on an OS thread of its own
// (runtime.LockOSThread) for its whole run. Its status and events then
// report the thread's id and, on Linux, the thread's CPU time. The thread
// exits with the job, so that nothing the job did to it outlives the job:
// use it for a job that changes its thread (its namespace, say), since
// the goroutine of a job started without it goes on to run other jobs.
func LockOSThread() JobOption {
	return jobOption(func(c *jobConfig) error {
		c.lockThread = true
		return nil
	})
}

// WithTimeout cancels the job with ErrTimeout as the cause when it has run
// for d, counted from the start of its worker (time paused included: a
// timeout is a deadline). Zero means no timeout, even if the Runner has a
// default (WithDefaultTimeout); a negative timeout is an error.
func WithTimeout(d time.Duration) JobOption {
	return jobOption(func(c *jobConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: timeout %v is negative", ErrInvalidOption, d)
		}
		c.timeout, c.hasTimeout = d, true
		return nil
	})
}

// WithPriority sets the job's priority in the queue (see WithMaxRunning):
// higher runs first; equal priorities run in the order they were started.
// The default is 0; negative priorities are allowed.
func WithPriority(p int) JobOption {
	return jobOption(func(c *jobConfig) error {
		c.priority = p
		return nil
	})
}
