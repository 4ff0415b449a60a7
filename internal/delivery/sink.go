// Package delivery moves values from producers that must never block to one
// consumer that reads a channel at its own pace.
//
// A Sink sits between the Runner and one subscriber. Producers call Push and
// PushLatest; both return at once whatever the consumer does. Values the
// channel cannot take right now wait in a queue whose size the Sink bounds
// according to its policy, and one goroutine per Sink (the pump) feeds the
// channel from that queue. The pump runs only while the queue is not empty,
// so an idle or caught-up subscriber costs no goroutine.
package delivery

import (
	"sync"

	"github.com/bgjob/bgjob/internal/ring"
)

// Policy says what a Sink does when its backlog reaches its bound.
type Policy uint8

const (
	// Lagging drops what does not fit and queues one notice that names the
	// range of sequence numbers dropped.
	Lagging Policy = iota + 1
	// Lossless keeps everything; the producer is expected to stop admitting
	// new work while Full reports true.
	Lossless
)

// Config configures a Sink.
type Config[T any] struct {
	// Buffer is the capacity of the channel.
	Buffer int
	// Backlog bounds the queue behind the channel (see Policy).
	Backlog int
	// Policy is Lagging or Lossless.
	Policy Policy
	// Lagged builds the notice delivered in place of the values dropped
	// with sequence numbers first to last (Lagging only).
	Lagged func(first, last uint64) T
	// Renumber returns v with sequence number seq. A value that replaces
	// another one takes over its sequence number, so that the channel
	// delivers sequence numbers in increasing order.
	Renumber func(v T, seq uint64) T
	// OnSpace, if set, is called (without locks held) when a Lossless
	// Sink's backlog falls below its bound.
	OnSpace func()
}

// Stats counts what happened to the values pushed into a Sink.
type Stats struct {
	Delivered  uint64 // values received by the channel, notices included
	Coalesced  uint64 // latest values replaced by a newer one before delivery
	Lost       uint64 // values dropped because the backlog was full (Lagging)
	Lags       uint64 // notices of lost values queued
	Pending    int    // values waiting behind the channel now
	MaxPending int    // the most values that ever waited behind the channel
}

type kind uint8

const (
	kindValue  kind = iota + 1 // delivered as is
	kindLatest                 // may be replaced by a newer value for the same key
	kindLag                    // a notice of values dropped
)

type entry[K comparable, T any] struct {
	kind     kind
	counted  bool // counts against the backlog bound
	key      K
	seq      uint64 // of the first value pushed into a kindLatest entry
	v        T
	lagFirst uint64
	lagLast  uint64
}

// Sink delivers values to one channel. It is safe for concurrent use.
type Sink[K comparable, T any] struct {
	cfg  Config[T]
	out  chan T
	stop chan struct{} // closed by Close to wake a pump blocked on send

	mu        sync.Mutex
	q         ring.Queue[entry[K, T]]
	latest    map[K]uint64 // position in q of the replaceable value per key
	lastLag   uint64       // position in q of the newest lag notice, plus one
	backlog   int          // entries that count against cfg.Backlog
	pumping   bool         // a pump goroutine owns the send side
	inflight  bool         // the pump holds a value it has not sent yet
	finishing bool         // no more pushes will come; close when drained
	closed    bool         // the channel is closed or about to be
	stats     Stats
}

// New returns a Sink. Buffer and Backlog must already be validated.
func New[K comparable, T any](cfg Config[T]) *Sink[K, T] {
	return &Sink[K, T]{
		cfg:    cfg,
		out:    make(chan T, cfg.Buffer),
		stop:   make(chan struct{}),
		latest: make(map[K]uint64),
	}
}

// C returns the channel the Sink delivers to. The Sink closes it after
// Finish once everything queued has been received, or at Close.
func (s *Sink[K, T]) C() <-chan T { return s.out }

// Push queues v for delivery after everything pushed before it.
// seq is v's sequence number; it names v in a lag notice if v is dropped.
func (s *Sink[K, T]) Push(seq uint64, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.finishing {
		return
	}
	if s.trySendLocked(v) {
		return
	}
	if s.cfg.Policy == Lagging && s.backlog >= s.cfg.Backlog {
		s.dropLocked(seq)
		return
	}
	s.appendLocked(entry[K, T]{kind: kindValue, counted: true, v: v})
}

// PushLatest queues v for delivery like Push, except that a value for the
// same key still waiting in the queue is replaced by v where it stands
// (latest value wins) instead of v being queued behind it.
func (s *Sink[K, T]) PushLatest(key K, seq uint64, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.finishing {
		return
	}
	if pos, ok := s.latest[key]; ok && pos >= s.lastLag {
		// A value after the newest lag notice can be replaced without
		// changing what that notice says was lost. It is delivered under
		// the sequence number of the value it replaces (see Renumber).
		s.q.At(pos).v = v
		s.stats.Coalesced++
		return
	}
	if s.trySendLocked(v) {
		return
	}
	// Lossless keeps one replaceable value per key, which the number of
	// live keys bounds, so it is not counted against the backlog bound.
	counted := s.cfg.Policy == Lagging
	if counted && s.backlog >= s.cfg.Backlog {
		s.dropLocked(seq)
		return
	}
	s.latest[key] = s.appendLocked(entry[K, T]{kind: kindLatest, counted: counted, key: key, seq: seq, v: v})
}

// Full reports whether the backlog has reached its bound.
func (s *Sink[K, T]) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.backlog >= s.cfg.Backlog
}

// Stats returns the Sink's counters.
func (s *Sink[K, T]) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = s.q.Len()
	return st
}

// Finish says that nothing more will be pushed. The channel is closed once
// the consumer has received everything queued.
func (s *Sink[K, T]) Finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishing = true
	if !s.pumping && !s.closed {
		s.closed = true
		close(s.out)
	}
}

// Close discards everything queued and closes the channel promptly, even
// while a pump is blocked on a consumer that does not read. It is safe to
// call more than once.
func (s *Sink[K, T]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.q.Clear()
	clear(s.latest)
	s.backlog = 0
	close(s.stop)
	if !s.pumping {
		close(s.out)
	}
}

// trySendLocked hands v straight to the channel when nothing is queued
// ahead of it and the channel has room.
func (s *Sink[K, T]) trySendLocked(v T) bool {
	if s.q.Len() > 0 || s.inflight {
		return false
	}
	select {
	case s.out <- v:
		s.stats.Delivered++
		return true
	default:
		return false
	}
}

func (s *Sink[K, T]) appendLocked(e entry[K, T]) uint64 {
	pos := s.q.Push(e)
	if e.counted {
		s.backlog++
	}
	if n := s.q.Len(); n > s.stats.MaxPending {
		s.stats.MaxPending = n
	}
	if !s.pumping {
		s.pumping = true
		go s.pump()
	}
	return pos
}

// dropLocked records that the value with sequence number seq was lost.
// Consecutive losses extend one notice; the notice itself may take the
// backlog one past its bound.
func (s *Sink[K, T]) dropLocked(seq uint64) {
	s.stats.Lost++
	if back := s.q.Back(); back != nil && back.kind == kindLag {
		back.lagLast = seq
		return
	}
	s.stats.Lags++
	pos := s.appendLocked(entry[K, T]{kind: kindLag, counted: true, lagFirst: seq, lagLast: seq})
	s.lastLag = pos + 1
}

// pump feeds the channel from the queue until the queue is empty or the
// Sink is closed; it then exits, closing the channel if that is due.
func (s *Sink[K, T]) pump() {
	sent := false
	for {
		s.mu.Lock()
		s.inflight = false
		if sent {
			s.stats.Delivered++
		}
		if s.closed {
			s.pumping = false
			s.mu.Unlock()
			close(s.out)
			return
		}
		pos := s.q.Head()
		e, ok := s.q.Pop()
		if !ok {
			s.pumping = false
			if s.finishing {
				s.closed = true
				close(s.out)
			}
			s.mu.Unlock()
			return
		}
		if e.kind == kindLatest && s.latest[e.key] == pos {
			delete(s.latest, e.key)
		}
		wasFull := s.backlog >= s.cfg.Backlog
		if e.counted {
			s.backlog--
		}
		space := wasFull && s.backlog < s.cfg.Backlog && s.cfg.Policy == Lossless
		v := e.v
		switch e.kind {
		case kindLag:
			v = s.cfg.Lagged(e.lagFirst, e.lagLast)
		case kindLatest:
			v = s.cfg.Renumber(v, e.seq)
		}
		s.inflight = true
		s.mu.Unlock()

		if space && s.cfg.OnSpace != nil {
			s.cfg.OnSpace()
		}
		select {
		case s.out <- v:
			sent = true
		case <-s.stop:
			sent = false
		}
	}
}
