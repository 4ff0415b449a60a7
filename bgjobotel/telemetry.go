package bgjobotel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/bgjob/bgjob"
)

// scope names the tracer and the meter: the instrumentation library.
const scope = "github.com/bgjob/bgjob/bgjobotel"

// ownSubscriber names the Telemetry's own subscription in the
// bgjob.subscription.* metrics.
const ownSubscriber = "bgjobotel"

// Telemetry exports one Runner's jobs to OpenTelemetry: a span per job and
// the Runner's metrics. Make one with New, then the Runner with
// Telemetry.NewRunner; the zero value is not usable. Its methods are safe
// for concurrent use.
//
// It has one goroutine, the reader of its subscription to the Runner's
// events, which adds events to the spans and ends them. The reader starts
// with the Runner's first job, at the first call to Done, or at the first
// metric collection after Shutdown, whichever comes first, and ends once
// the Runner has shut down and its last event is read: it then ends the
// spans of jobs that never reported their end (abandoned ones), stops the
// metric callback and closes Done. A Runner that is never shut down keeps
// it waiting, as it keeps its own goroutines. When a running job is
// canceled, one more goroutine (context.AfterFunc's) adds the "canceled"
// event to its span; the job's Run waits for it before it returns.
type Telemetry struct {
	cfg config

	// Set once by NewRunner before the Runner is handed out, so that every
	// job and the reader see them; read-only after.
	tracer trace.Tracer
	inst   instruments
	runner *bgjob.Runner
	sub    *bgjob.Subscription
	reg    metric.Registration

	startReader sync.Once
	done        chan struct{}

	// mu guards what the job goroutines, the reader and the metric
	// callback share. It is a leaf: nothing else is locked under it, and
	// no span is touched while it is held.
	mu       sync.Mutex
	attached bool
	// open holds the spans of jobs that ran, until ended; nil once the
	// reader has ended, when a job's span ends itself.
	open    map[uuid.UUID]*jobSpan
	watched []watchedSubscription

	// settled remembers the jobs canceled while queued whose span the
	// reader ended, so that a lag notice naming one of them again does
	// not make a second span. Owned by the reader goroutine.
	settled recentIDs
}

type watchedSubscription struct {
	name string
	sub  *bgjob.Subscription
}

// New returns a Telemetry configured by opts. It starts nothing; the
// tracer and meter providers are read at NewRunner. It returns an error
// wrapping ErrInvalidOption when an option is out of range.
func New(opts ...Option) (*Telemetry, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Telemetry{
		cfg:     cfg,
		done:    make(chan struct{}),
		open:    make(map[uuid.UUID]*jobSpan),
		settled: newRecentIDs(maxSettled),
	}, nil
}

// NewRunner returns a new bgjob.Runner, configured by opts, that the
// Telemetry instruments from its first job: a span per job, with the job's
// span in the job's context, and the Runner's metrics. It adds a
// middleware of its own outside those of opts (bgjob.WithMiddleware), so
// that theirs see the job's span too, and subscribes to the Runner's
// events before any job starts, with the default, lagging policy: the
// Telemetry never makes Start wait.
//
// A Telemetry instruments one Runner: called again, NewRunner returns
// ErrAttached. It returns bgjob.NewRunner's errors, and the meter's.
func (t *Telemetry) NewRunner(opts ...bgjob.Option) (*bgjob.Runner, error) {
	t.mu.Lock()
	if t.attached {
		t.mu.Unlock()
		return nil, ErrAttached
	}
	t.attached = true
	t.mu.Unlock()

	r, err := t.attach(opts)
	if err != nil {
		t.mu.Lock()
		t.attached = false
		t.mu.Unlock()
		return nil, err
	}
	return r, nil
}

func (t *Telemetry) attach(opts []bgjob.Option) (*bgjob.Runner, error) {
	tp, mp := t.cfg.tracerProvider, t.cfg.meterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t.tracer = tp.Tracer(scope)
	meter := mp.Meter(scope)
	inst, err := newInstruments(meter, t.cfg.attrs)
	if err != nil {
		return nil, err
	}
	t.inst = inst

	r, err := bgjob.NewRunner(append([]bgjob.Option{bgjob.WithMiddleware(t.middleware)}, opts...)...)
	if err != nil {
		return nil, err
	}
	subOpts := []bgjob.SubscribeOption{bgjob.WithTypes(
		bgjob.EventProgress, bgjob.EventPaused, bgjob.EventResumed, bgjob.EventStalled,
		bgjob.EventUnstalled, bgjob.EventAbandoned, bgjob.EventComplete, bgjob.EventWorkerStopped)}
	if t.cfg.backlog > 0 {
		subOpts = append(subOpts, bgjob.WithBacklog(t.cfg.backlog))
	}
	if t.cfg.unbuffered {
		subOpts = append(subOpts, bgjob.WithBuffer(0))
	}
	sub, err := r.Subscribe(subOpts...)
	if err != nil {
		_ = r.Shutdown(context.Background()) // no job has started: it returns at once
		return nil, err
	}
	t.runner = r // before the callback that reads it can run
	t.mu.Lock()  // the callback reads sub
	t.sub = sub
	t.mu.Unlock()
	reg, err := meter.RegisterCallback(t.observe, inst.observables()...)
	if err != nil {
		t.mu.Lock()
		t.sub = nil
		t.mu.Unlock()
		sub.Close()
		_ = r.Shutdown(context.Background())
		return nil, fmt.Errorf("bgjobotel: registering the metric callback: %w", err)
	}
	t.mu.Lock() // Done may start the reader from now on
	t.reg = reg
	t.mu.Unlock()
	return r, nil
}

// Done returns a channel that is closed once the Runner has shut down and
// the Telemetry has read its last event, ended every span and stopped
// reporting metrics: wait for it after Runner.Shutdown and before shutting
// the TracerProvider down, so that the last spans are exported. Before
// NewRunner has succeeded there is nothing to wait for, and it is not
// closed then. The Runner closes its event channels only once every job
// has ended (or was abandoned, see bgjob.WithCancelGrace): wait for Done
// under a deadline, as for Shutdown.
func (t *Telemetry) Done() <-chan struct{} {
	t.mu.Lock()
	attached := t.reg != nil // NewRunner succeeded: sub is the live one
	t.mu.Unlock()
	if attached {
		t.start()
	}
	return t.done
}

// start starts the reader, once. The Runner calls the middleware, and so
// this, in Start, before the job can publish anything; a Runner shut down
// without a job is caught by Done or by the metric callback, so that the
// callback is unregistered even if nobody waits for Done.
func (t *Telemetry) start() {
	t.startReader.Do(func() { go t.read() })
}

// read is the reader goroutine: it handles the Runner's events until the
// Runner closes the channel after Shutdown, then ends what is left.
func (t *Telemetry) read() {
	defer close(t.done)
	for ev := range t.sub.Events() {
		t.handle(ev)
	}
	t.endRemaining()
	// The Runner's figures no longer change; the callback would keep it
	// alive as long as the MeterProvider. The reader starts only once
	// NewRunner has set reg (see start's callers).
	t.mu.Lock()
	reg := t.reg
	t.mu.Unlock()
	_ = reg.Unregister()
}

// WatchSubscription adds s's counters (bgjob.Subscription.Stats) to the
// bgjob.subscription.* metrics, with the attribute bgjob.subscriber=name:
// what it delivered, coalesced and lost, and its backlog. The Runner does
// not list its subscriptions, so each one to watch is named here; the
// Telemetry reads its counters at each collection and never its events.
// The Telemetry's own subscription is always reported, as "bgjobotel".
// A nil s, an empty name, a name that is not valid UTF-8 and a name taken
// already are errors wrapping ErrInvalidSubscription.
func (t *Telemetry) WatchSubscription(name string, s *bgjob.Subscription) error {
	switch {
	case s == nil:
		return fmt.Errorf("%w: nil subscription %q", ErrInvalidSubscription, name)
	case name == "" || !utf8.ValidString(name):
		return fmt.Errorf("%w: name %q", ErrInvalidSubscription, name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if name == ownSubscriber {
		return fmt.Errorf("%w: name %q is the Telemetry's own", ErrInvalidSubscription, name)
	}
	for _, w := range t.watched {
		if w.name == name {
			return fmt.Errorf("%w: name %q given twice", ErrInvalidSubscription, name)
		}
	}
	// Kept for the Telemetry's life: a name that is a slice of something
	// larger must not keep it.
	t.watched = append(t.watched, watchedSubscription{name: strings.Clone(name), sub: s})
	return nil
}
