package reliability

import (
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// foldable reports whether an event of type t may be replaced, in a
// subscription whose reader lags, by a newer event of its job (see
// bgjob.Event.Folded).
func foldable(t bgjob.EventType) bool {
	switch t {
	case bgjob.EventProgress, bgjob.EventPaused, bgjob.EventResumed, bgjob.EventStalled, bgjob.EventUnstalled:
		return true
	}
	return false
}

// lifecycleTypes are the events no subscriber may lose silently: each is
// received once, or named by an EventLagged.
var lifecycleTypes = []bgjob.EventType{
	bgjob.EventInfo, bgjob.EventQueued, bgjob.EventWorkerStarted,
	bgjob.EventAbandoned, bgjob.EventComplete, bgjob.EventWorkerStopped,
}

func isLifecycle(t bgjob.EventType) bool { return slices.Contains(lifecycleTypes, t) }

// stream is what a Runner published, as a subscriber that loses nothing
// received it: every event (complete), or every lifecycle event.
type stream struct {
	complete bool
	bySeq    map[uint64]bgjob.Event
	byJob    map[uuid.UUID][]uint64
	last     uint64
}

func newStream(complete bool) *stream {
	return &stream{complete: complete, bySeq: map[uint64]bgjob.Event{}, byJob: map[uuid.UUID][]uint64{}}
}

// add records the next event of the stream.
func (s *stream) add(ev bgjob.Event) error {
	switch {
	case ev.Type == bgjob.EventLagged:
		return fmt.Errorf("the reference subscription lagged: %d..%d", ev.LagFirst, ev.LagLast)
	case ev.Folded != 0:
		return fmt.Errorf("the reference subscription folded %d events into #%d", ev.Folded, ev.Seq)
	case ev.Seq <= s.last:
		return fmt.Errorf("sequence went back: #%d after #%d", ev.Seq, s.last)
	case s.complete && ev.Seq != s.last+1:
		return fmt.Errorf("sequence skipped from #%d to #%d", s.last, ev.Seq)
	}
	s.last = ev.Seq
	s.bySeq[ev.Seq] = ev
	s.byJob[ev.JobID] = append(s.byJob[ev.JobID], ev.Seq)
	return nil
}

// audit checks, event by event, what one subscriber received against the
// stream: in sequence order, each event of the stream received once —
// itself, folded into a newer event of its job, or named by a lag notice
// that names its job — and nothing received that was not published.
type audit struct {
	ref    *stream
	policy bgjob.Policy
	job    uuid.UUID // for a subscription to one job (WithJob); uuid.Nil for all
	from   uint64    // the subscriber's events are those after this one
	last   uint64    // the highest sequence number received or named so far
	seen   []uint8

	received uint64 // events received, lag notices apart
	lags     uint64
	lost     uint64 // sequence numbers named by lag notices
	folded   uint64 // the sum of Folded over the events received

	// Lifecycle events received, and named by lag notices.
	lifecycleReceived, lifecycleNamed uint64
}

func newAudit(ref *stream, policy bgjob.Policy) *audit {
	return &audit{ref: ref, policy: policy, from: ref.last, last: ref.last}
}

// mine reports whether the event published as seq is one the subscriber
// is to receive: any, or one of its job's.
func (a *audit) mine(seq uint64) bool {
	if a.job == uuid.Nil {
		return true
	}
	r, known := a.ref.bySeq[seq]
	return known && r.JobID == a.job
}

func (a *audit) account(seq uint64) error {
	if seq <= a.from {
		return fmt.Errorf("#%d was published before the subscription (after #%d)", seq, a.from)
	}
	i := seq - a.from - 1
	for uint64(len(a.seen)) <= i {
		a.seen = append(a.seen, 0)
	}
	a.seen[i]++
	if a.seen[i] > 1 {
		return fmt.Errorf("#%d received or named twice", seq)
	}
	return nil
}

// receive checks one event the subscriber received. The stream must hold
// every event published so far.
func (a *audit) receive(ev bgjob.Event) error {
	if ev.Type == bgjob.EventLagged {
		return a.lagged(ev)
	}
	if ev.Seq <= a.last {
		return fmt.Errorf("%s #%d received after #%d", ev.Type, ev.Seq, a.last)
	}
	if a.job != uuid.Nil && ev.JobID != a.job {
		return fmt.Errorf("%s #%d of %v received by a subscription to %v", ev.Type, ev.Seq, ev.JobID, a.job)
	}
	a.last = ev.Seq
	a.received++
	a.folded += uint64(ev.Folded)
	r, known := a.ref.bySeq[ev.Seq]
	if isLifecycle(ev.Type) {
		a.lifecycleReceived++
	}
	if !foldable(ev.Type) {
		if ev.Folded != 0 {
			return fmt.Errorf("%s #%d says it folded %d events", ev.Type, ev.Seq, ev.Folded)
		}
		if !known && (a.ref.complete || isLifecycle(ev.Type)) {
			return fmt.Errorf("%s #%d received but never published", ev.Type, ev.Seq)
		}
		if known && (r.Type != ev.Type || r.JobID != ev.JobID || r.State != ev.State) {
			return fmt.Errorf("#%d received as %s %s of %v, published as %s %s of %v",
				ev.Seq, ev.Type, ev.State, ev.JobID, r.Type, r.State, r.JobID)
		}
		return a.account(ev.Seq)
	}
	// A foldable event comes from a job that works, and is delivered
	// under the number of the oldest event it replaced.
	if ev.State == bgjob.StateQueued || ev.State.Terminal() {
		return fmt.Errorf("%s #%d of a job %s", ev.Type, ev.Seq, ev.State)
	}
	if !a.ref.complete {
		if known {
			return fmt.Errorf("%s #%d received under the number of %s #%d", ev.Type, ev.Seq, r.Type, r.Seq)
		}
		return a.account(ev.Seq)
	}
	if !known || !foldable(r.Type) || r.JobID != ev.JobID {
		return fmt.Errorf("%s #%d of %v was not published under that number (%s of %v)", ev.Type, ev.Seq, ev.JobID, r.Type, r.JobID)
	}
	// The events it replaced are the job's next foldable ones; its log
	// lines travel apart and may come after it.
	job := a.ref.byJob[ev.JobID]
	at, _ := slices.BinarySearch(job, ev.Seq)
	group := make([]uint64, 0, ev.Folded+1)
	for _, seq := range job[at:] {
		if len(group) == ev.Folded+1 {
			break
		}
		switch r := a.ref.bySeq[seq]; {
		case r.Type == bgjob.EventLog:
			continue
		case !foldable(r.Type):
			return fmt.Errorf("%s #%d folded %d events, past %s #%d", ev.Type, ev.Seq, ev.Folded, r.Type, seq)
		}
		group = append(group, seq)
	}
	if len(group) < ev.Folded+1 {
		return fmt.Errorf("%s #%d folded %d events, but its job published %d foldable ones after it", ev.Type, ev.Seq, ev.Folded, len(group)-1)
	}
	for _, seq := range group {
		if err := a.account(seq); err != nil {
			return err
		}
	}
	newest := a.ref.bySeq[group[len(group)-1]]
	if newest.Type != ev.Type || newest.State != ev.State || newest.Step != ev.Step || newest.Total != ev.Total {
		return fmt.Errorf("%s #%d (folded %d) says %s step %d/%d, the newest it replaced says %s %s step %d/%d",
			ev.Type, ev.Seq, ev.Folded, ev.State, ev.Step, ev.Total, newest.Type, newest.State, newest.Step, newest.Total)
	}
	return nil
}

func (a *audit) lagged(ev bgjob.Event) error {
	if a.policy == bgjob.Lossless {
		return fmt.Errorf("a lossless subscriber lost #%d..#%d", ev.LagFirst, ev.LagLast)
	}
	if ev.LagFirst <= a.last || ev.LagLast < ev.LagFirst {
		return fmt.Errorf("lag notice #%d..#%d after #%d", ev.LagFirst, ev.LagLast, a.last)
	}
	a.last = ev.LagLast
	a.lags++
	if ev.Lost() != ev.LagLast-ev.LagFirst+1 {
		return fmt.Errorf("lag notice #%d..#%d says it lost %d", ev.LagFirst, ev.LagLast, ev.Lost())
	}
	for seq := ev.LagFirst; seq <= ev.LagLast; seq++ {
		if !a.mine(seq) {
			continue // in the range, but not the subscriber's to lose
		}
		a.lost++
		if err := a.account(seq); err != nil {
			return err
		}
		r, known := a.ref.bySeq[seq]
		if !known {
			if a.ref.complete {
				return fmt.Errorf("lag notice names #%d, never published", seq)
			}
			continue
		}
		if isLifecycle(r.Type) {
			a.lifecycleNamed++
		}
		if !ev.LagMore && !slices.Contains(ev.LagJobs, r.JobID) {
			return fmt.Errorf("lag notice #%d..#%d loses %s #%d of %v but names only %v", ev.LagFirst, ev.LagLast, r.Type, seq, r.JobID, ev.LagJobs)
		}
	}
	return nil
}

// covered checks that every event of the stream published after the
// subscription, up to upTo, was received or named exactly once (every
// lifecycle event, when the stream holds only those).
func (a *audit) covered(upTo uint64) error {
	for seq := a.from + 1; seq <= upTo; seq++ {
		if !a.mine(seq) {
			continue
		}
		i := seq - a.from - 1
		n := uint8(0)
		if i < uint64(len(a.seen)) {
			n = a.seen[i]
		}
		r, known := a.ref.bySeq[seq]
		if known && r.Type == bgjob.EventLog && n == 0 {
			continue // a log line dropped, counted apart (see accountsFor)
		}
		if n != 1 && (known || a.ref.complete) {
			return fmt.Errorf("%s #%d of %v (%s) lost silently", r.Type, seq, r.JobID, r.JobName)
		}
	}
	return nil
}

// settled checks the counters of a subscription whose channel closed
// after the reader received everything: each says exactly what the events
// said. A log line lost within a run of losses is named by the lag notice
// and counted with the log lines dropped, so the lag notices may name
// more than Lost counts, by at most LogDropped.
func (a *audit) settled(st bgjob.SubscriptionStats) error {
	want := bgjob.SubscriptionStats{
		Delivered: a.received + a.lags, Coalesced: a.folded, Lost: st.Lost, Lags: a.lags,
		LogDropped: st.LogDropped, MaxPending: st.MaxPending,
	}
	if st != want || st.Lost > a.lost || a.lost > st.Lost+st.LogDropped {
		return fmt.Errorf("stats %+v, the events say %+v and %d lost in lag notices", st, want, a.lost)
	}
	return nil
}

// accountsFor checks that the events received, folded, lost and dropped
// add up to every number published after the subscription (that it was
// to receive), up to upTo.
func (a *audit) accountsFor(upTo uint64, st bgjob.SubscriptionStats) error {
	want := uint64(0)
	for seq := a.from + 1; seq <= upTo; seq++ {
		if a.mine(seq) {
			want++
		}
	}
	if got := a.received + a.folded + st.Lost + st.LogDropped; got != want {
		return fmt.Errorf("received %d + folded %d + lost %d + log lines dropped %d = %d, published %d",
			a.received, a.folded, st.Lost, st.LogDropped, got, want)
	}
	return nil
}
