package dashboard

import (
	"fmt"
	"net/http"
	"time"

	"github.com/bgjob/bgjob"
)

// Defaults for the options below.
const (
	// DefaultReplay is how many events the handler keeps for streams to
	// read at their own pace and to resume from (see WithReplay).
	DefaultReplay = 4096
	// MaxReplay is the largest replay WithReplay accepts.
	MaxReplay = 1 << 20
	// DefaultHeartbeat is how often an idle stream sends a comment, so
	// that proxies and load balancers keep it open.
	DefaultHeartbeat = 15 * time.Second
	// DefaultWriteTimeout is how long one write to a stream may block
	// before the handler gives the client up.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long the handler keeps its replay fed
	// after the last stream ended, so that a browser reconnecting after a
	// blip resumes where it was.
	DefaultIdleTimeout = 30 * time.Second
	// replayBytesPerEvent bounds the replay's bytes: a replay of n events
	// holds at most n times this many bytes of encoded events, whatever
	// their size (a stall's stacks, a long log line), plus the newest
	// event, whose stacks are cut at 64 KB (maxFrameStack).
	replayBytesPerEvent = 2 << 10
)

// Authorizer decides whether the request may take the action. It returns
// nil to allow it, or an error, which the handler answers with 403
// Forbidden and the error's message. It is called on the request's
// goroutine for every control request, and for GET api/config to tell the
// page which buttons to show, so it must not change anything. It must be
// safe for concurrent use.
type Authorizer func(r *http.Request, a Action) error

// Option configures a Handler.
type Option interface {
	apply(*config) error
}

type config struct {
	authorize    Authorizer // nil: control is off
	stacks       bool
	replay       int
	heartbeat    time.Duration
	writeTimeout time.Duration
	idleTimeout  time.Duration
}

func newConfig(opts []Option) (config, error) {
	c := config{
		replay:       DefaultReplay,
		heartbeat:    DefaultHeartbeat,
		writeTimeout: DefaultWriteTimeout,
		idleTimeout:  DefaultIdleTimeout,
	}
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

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: dashboard: "+format, append([]any{bgjob.ErrInvalidOption}, args...)...)
}

// WithAuthorizer turns control on: cancel, pause and resume, each allowed
// when a returns nil for the request. Without it, control is off: the
// page shows no buttons and the control endpoints answer 403 Forbidden.
// A nil authorizer is an error.
func WithAuthorizer(a Authorizer) Option {
	return optionFunc(func(c *config) error {
		if a == nil {
			return invalid("nil authorizer")
		}
		c.authorize = a
		return nil
	})
}

// WithStacks shows the stack of a job that panicked, and the stacks of a
// stalled job, in the JSON and on the page. Off by default: a stack tells
// whoever reads it about the code, its paths and its dependencies.
func WithStacks(show bool) Option {
	return optionFunc(func(c *config) error {
		c.stacks = show
		return nil
	})
}

// WithReplay sets how many of the latest events the handler keeps
// (default DefaultReplay), encoded once for every stream: a stream that
// falls further behind, or that resumes (Last-Event-ID) from further back,
// gets a reset and a fresh snapshot instead. The replay also holds at most
// 2 KB per event on average, so that large events cannot make it grow
// beyond that. It must be between 1 and MaxReplay.
func WithReplay(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > MaxReplay {
			return invalid("replay %d out of [1, %d]", n, MaxReplay)
		}
		c.replay = n
		return nil
	})
}

// WithHeartbeat sets how often an idle stream sends a comment line
// (default DefaultHeartbeat), so that proxies keep it open and a client
// that left is noticed. It must be positive.
func WithHeartbeat(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return invalid("heartbeat %v not positive", d)
		}
		c.heartbeat = d
		return nil
	})
}

// WithWriteTimeout sets how long one write to a stream may block on a
// client that does not read (default DefaultWriteTimeout) before the
// handler ends that stream. It must be positive. It takes effect through
// http.ResponseController's SetWriteDeadline, so a ResponseWriter wrapped
// by middleware must provide Unwrap.
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return invalid("write timeout %v not positive", d)
		}
		c.writeTimeout = d
		return nil
	})
}

// WithIdleTimeout sets how long the handler keeps its replay fed once no
// stream is open (default DefaultIdleTimeout): a client reconnecting
// within it resumes where it was; after it, the handler holds no
// subscription and runs no goroutine until the next stream. Zero stops
// at once; a negative timeout is an error.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return invalid("idle timeout %v negative", d)
		}
		c.idleTimeout = d
		return nil
	})
}
