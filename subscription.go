package bgjob

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/delivery"
)

// Subscription receives the events the Runner publishes after it was
// made, in sequence order: every event, or those of one job (WithJob) or
// of some types (WithTypes). Each subscription has its own channel,
// buffer, backlog and policy, so a slow subscriber never slows another
// one or a job.
type Subscription struct {
	r        *Runner
	sink     *delivery.Sink[uuid.UUID, Event]
	policy   Policy
	snapshot []JobStatus
}

// SubscriptionStats counts what a subscription delivered and what its reader
// did not receive. Nothing a subscription drops goes uncounted.
type SubscriptionStats struct {
	// Delivered counts events received by the channel, lagged events
	// included.
	Delivered uint64 `json:"delivered"`
	// Coalesced counts events replaced by a newer event of the same job
	// before the reader received them (see Event.Folded).
	Coalesced uint64 `json:"coalesced"`
	// Lost counts events dropped because the backlog was full (Lagging),
	// and Lags the EventLagged notices that name them.
	Lost uint64 `json:"lost"`
	Lags uint64 `json:"lags"`
	// LogDropped counts log events dropped, oldest first, because the
	// reader fell more than its log backlog behind (WithLogBacklog), and
	// those published while a lagging subscription was losing events.
	LogDropped uint64 `json:"log_dropped"`
	// Pending is the number of events waiting behind the channel now;
	// MaxPending the most that ever waited.
	Pending    int `json:"pending"`
	MaxPending int `json:"max_pending"`
}

// Subscribe adds a subscriber that receives every event published from
// now on that its options select (see Subscription). Subscribe before
// starting the jobs to watch, or read Snapshot for where they were.
// It returns an error wrapping ErrInvalidOption for a bad option,
// ErrUnknownJob for WithJob of an id the Runner does not know, and
// ErrRunnerClosed after Shutdown.
func (r *Runner) Subscribe(opts ...SubscribeOption) (*Subscription, error) {
	cfg, err := newSubscriptionConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Subscription{r: r, policy: cfg.policy}
	s.sink = delivery.New[uuid.UUID](delivery.Config[uuid.UUID, Event]{
		Buffer:     cfg.buffer,
		Backlog:    cfg.backlog,
		LogBacklog: cfg.logBacklog,
		Policy:     delivery.Policy(cfg.policy),
		Lagged: func(first, last uint64, jobs []uuid.UUID, more bool) Event {
			return Event{Type: EventLagged, Time: time.Now(), ProcessID: r.pid, LagFirst: first, LagLast: last, LagJobs: jobs, LagMore: more}
		},
		Stamped: Event.stamped,
		OnSpace: r.hub.Signal,
	})
	accept := acceptFunc(cfg)
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrRunnerClosed
	}
	if cfg.job == uuid.Nil {
		if !r.hub.Add(s.sink, accept) {
			return nil, ErrRunnerClosed
		}
		// Added before the snapshot is taken: an event may show in both,
		// none in neither.
		r.mu.Lock()
		jobs := r.liveJobsLocked()
		r.mu.Unlock()
		s.snapshot = make([]JobStatus, len(jobs))
		for i, j := range jobs {
			s.snapshot[i] = j.status()
		}
		return s, nil
	}
	j, err := r.lookup(cfg.job)
	if err != nil {
		return nil, err
	}
	// Under the job's lock, which its events are published under: the
	// snapshot and the events after it meet exactly.
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.stopped && !r.hub.Add(s.sink, accept) {
		return nil, ErrRunnerClosed
	}
	s.snapshot = []JobStatus{j.status()}
	if j.stopped {
		s.sink.Finish() // nothing more will come
	}
	return s, nil
}

// acceptFunc returns the filter of a subscription: which events it
// receives, and after which one it is over.
func acceptFunc(cfg subscriptionConfig) delivery.Filter[uuid.UUID] {
	if cfg.job == uuid.Nil && len(cfg.types) == 0 {
		return nil
	}
	return func(id uuid.UUID, topic delivery.Topic) (ok, last bool) {
		t := EventType(topic)
		if cfg.job != uuid.Nil {
			if id != cfg.job {
				return false, false
			}
			last = t == EventWorkerStopped
		}
		if len(cfg.types) > 0 && !slices.Contains(cfg.types, t) {
			return false, last
		}
		return true, last
	}
}

// Events returns the subscription's channel. The Runner closes it after
// the subscription's last event: once Shutdown has been called, every job
// has ended and the reader has received everything queued; for a
// subscription to one job, once that job's worker_stopped has been
// received; or at once when Close is called. So `for ev := range
// sub.Events()` ends.
func (s *Subscription) Events() <-chan Event { return s.sink.C() }

// Snapshot returns the status of the jobs the subscription watches as of
// the moment it began: the one job of a WithJob subscription, or the live
// jobs. Every event published after it is delivered (within the
// subscription's policy), so the snapshot and the events together leave
// no gap. The slice is the caller's own.
func (s *Subscription) Snapshot() []JobStatus {
	out := slices.Clone(s.snapshot)
	for i := range out {
		out[i].Metrics = slices.Clone(out[i].Metrics)
	}
	return out
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats {
	st := s.sink.Stats()
	return SubscriptionStats{
		Delivered: st.Delivered, Coalesced: st.Coalesced,
		Lost: st.Lost, Lags: st.Lags, LogDropped: st.LogDropped,
		Pending: st.Pending, MaxPending: st.MaxPending,
	}
}

// Policy returns the subscription's policy.
func (s *Subscription) Policy() Policy { return s.policy }

// Close ends the subscription: events still queued are discarded and the
// channel is closed promptly, even if the reader stopped reading; events
// already in the channel's buffer can still be received. At most one more
// event may arrive if the reader is receiving while Close runs. It is safe
// to call more than once. A reader that stops reading before the
// channel is closed must call Close to release what the subscription holds.
func (s *Subscription) Close() {
	s.r.hub.Remove(s.sink)
	s.sink.Close()
}

// Policy says what a subscription does when its reader falls so far behind
// that its backlog is full. The zero value is not a valid policy.
type Policy uint8

const (
	// Lagging (the default, for services) drops the events that do not
	// fit and delivers in their place one EventLagged naming the range of
	// sequence numbers lost. The reader can then resynchronise from
	// GetStatus. The Runner and its jobs never wait.
	Lagging Policy = iota + 1
	// Lossless (for tests and audit trails) loses nothing: while the
	// backlog is full, Start waits (honouring its context) for the reader
	// to catch up. Jobs already running never wait; their events are
	// queued beyond the bound, which the number of running jobs bounds.
	Lossless
)

var (
	_ = [1]struct{}{}[Lagging-Policy(delivery.Lagging)]
	_ = [1]struct{}{}[Lossless-Policy(delivery.Lossless)]
)

// MarshalText returns "lagging" or "lossless".
func (p Policy) MarshalText() ([]byte, error) {
	if p != Lagging && p != Lossless {
		return nil, fmt.Errorf("bgjob: invalid policy %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses "lagging" or "lossless".
func (p *Policy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "lagging":
		*p = Lagging
	case "lossless":
		*p = Lossless
	default:
		return fmt.Errorf("bgjob: unknown policy %q", b)
	}
	return nil
}

// String returns "lagging" or "lossless".
func (p Policy) String() string {
	switch p {
	case Lagging:
		return "lagging"
	case Lossless:
		return "lossless"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}
