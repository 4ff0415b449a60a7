package bgjob

import (
	"github.com/google/uuid"

	"github.com/bgjob/bgjob/internal/delivery"
)

// Subscription receives every event the Runner publishes after it was
// made, in sequence order. Each subscription has its own channel, buffer,
// backlog and policy, so a slow subscriber never slows another one or a
// job.
type Subscription struct {
	r      *Runner
	sink   *delivery.Sink[uuid.UUID, Event]
	policy Policy
}

// SubscriptionStats counts what a subscription delivered and what its reader
// did not receive. Nothing a subscription drops goes uncounted.
type SubscriptionStats struct {
	// Delivered counts events received by the channel, lagged events
	// included.
	Delivered uint64
	// Coalesced counts progress events replaced by a newer progress event
	// of the same job before the reader received them.
	Coalesced uint64
	// Lost counts events dropped because the backlog was full (Lagging),
	// and Lags the EventLagged notices that name them.
	Lost uint64
	Lags uint64
	// LogDropped counts log events dropped, oldest first, because the
	// reader fell more than its log backlog behind (WithLogBacklog).
	LogDropped uint64
	// Pending is the number of events waiting behind the channel now;
	// MaxPending the most that ever waited.
	Pending    int
	MaxPending int
}

func newSubscription(r *Runner, c subscriptionConfig) *Subscription {
	s := &Subscription{r: r, policy: c.policy}
	s.sink = delivery.New[uuid.UUID](delivery.Config[Event]{
		Buffer:     c.buffer,
		Backlog:    c.backlog,
		LogBacklog: c.logBacklog,
		Policy:     delivery.Policy(c.policy),
		Lagged: func(first, last uint64) Event {
			return Event{Type: EventLagged, ProcessID: r.pid, LagFirst: first, LagLast: last}
		},
		Renumber: func(ev *Event, seq uint64) { ev.Seq = seq },
		OnSpace:  r.admission.signal,
	})
	return s
}

// Events returns the subscription's channel. The Runner closes it after
// the subscription's last event: once Shutdown has been called, every job
// has ended and the reader has received everything queued, or at once when
// Close is called. So `for ev := range sub.Events()` ends after shutdown.
func (s *Subscription) Events() <-chan Event { return s.sink.C() }

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
	s.r.unsubscribe(s)
	s.sink.Close()
}
