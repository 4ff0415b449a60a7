// Package delivery moves values from producers that must never block to one
// consumer that reads a channel at its own pace.
//
// A Sink sits between the Runner and one subscriber. A Hub publishes each
// value to its Sinks (or a producer calls a Sink's Push, PushFold and
// PushLog); either returns at once whatever the consumer does. Values the
// channel cannot take right now wait in a queue whose size the Sink bounds
// according to its policy, and one goroutine per Sink (the pump) feeds the
// channel from that queue. The pump runs only while the queue is not empty,
// so an idle or caught-up subscriber costs no goroutine.
//
// A value a Sink keeps is held by pointer and must not change afterwards:
// the Hub makes one copy of a published value on the heap, shared by every
// Sink that keeps it, and each reader gets a copy of its own from the
// channel. A Sink whose channel takes a published value at once keeps
// nothing (see offerLocked), so a value that every reader takes at once
// need not be on the heap at all.
package delivery

import (
	"slices"
	"sync"
	"sync/atomic"

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
type Config[K comparable, T any] struct {
	// Buffer is the capacity of the channel.
	Buffer int
	// Backlog bounds the values held behind the channel, in the queue or
	// in the pump's hands (see Policy).
	Backlog int
	// Policy is Lagging or Lossless.
	Policy Policy
	// Lagged builds the notice delivered in place of the values dropped
	// with sequence numbers first to last (Lagging only). keys are the
	// keys of the values dropped, at most MaxLagKeys of them; more says
	// that there were others.
	Lagged func(first, last uint64, keys []K, more bool) T
	// Stamped returns the copy of v that the channel receives: a copy of
	// the reader's own (whose slices, say, are not shared with other
	// readers), with its sequence number set to seq and the count of
	// older values of its key it replaced to folded. A value that
	// replaces another one takes over its sequence number, so that the
	// channel delivers sequence numbers in increasing order. It is given
	// and returns values, not pointers: a pointer handed to a function
	// value escapes, and a value published from its publisher's stack
	// (see Hub.Publish) would then cost an allocation each.
	Stamped func(v T, seq uint64, folded int) T
	// OnSpace, if set, is called (without locks held) when a Lossless
	// Sink's backlog falls below its bound.
	OnSpace func()
	// LogBacklog bounds the values pushed with PushLog held behind the
	// channel, whatever the policy: beyond it the oldest is dropped.
	LogBacklog int
}

// Stats counts what happened to the values pushed into a Sink.
type Stats struct {
	Delivered  uint64 // values received by the channel, notices included
	Coalesced  uint64 // foldable values replaced by a newer one before delivery
	Lost       uint64 // values dropped because the backlog was full (Lagging)
	Lags       uint64 // notices of lost values queued
	LogDropped uint64 // values pushed with PushLog dropped, oldest first
	Pending    int    // values held behind the channel now
	MaxPending int    // the most values ever held behind the channel
}

type kind uint8

const (
	kindValue kind = iota + 1 // delivered as is
	kindFold                  // may be replaced by a newer foldable value of its key
	kindLag                   // a notice of values dropped
)

// MaxLagKeys bounds the keys one lag notice names; beyond it the notice
// says only that there were more.
const MaxLagKeys = 64

type entry[K comparable, T any] struct {
	kind    kind
	counted bool // counts against the backlog bound
	key     K
	seq     uint64 // its sequence number; for kindFold, the first value's
	v       *T
	folded  int // older values of the key this one replaced
	lag     *lagNotice[K]
}

// lagNotice is what a kindLag entry says was lost.
type lagNotice[K comparable] struct {
	first, last uint64
	keys        []K
	more        bool
}

func (n *lagNotice[K]) addKey(k K) {
	if slices.Contains(n.keys, k) || n.more {
		return
	}
	if len(n.keys) == MaxLagKeys {
		n.more = true
		return
	}
	n.keys = append(n.keys, k)
}

// batchSize is how many queued values the pump takes per lock: enough to
// keep a fast reader from waiting on the lock, few enough that values it
// holds cannot be replaced for long.
const batchSize = 64

// Sink delivers values to one channel. It is safe for concurrent use.
type Sink[K comparable, T any] struct {
	cfg  Config[K, T]
	out  chan T
	stop chan struct{} // closed by Close to wake a pump blocked on send

	// backlog counts held values that count against cfg.Backlog. It is
	// raised under mu and lowered by the pump after each send without it,
	// so a producer may see it a little high, never too low.
	backlog   atomic.Int64
	delivered atomic.Uint64
	// held counts the values the pump has taken from the queue and not
	// sent yet; it is raised under mu and lowered after each send.
	held atomic.Int64

	mu        sync.Mutex
	q         ring.Chain[entry[K, T]]
	logs      ring.Chain[logEntry[T]] // merged with q by sequence number
	newest    map[K]uint64            // position in q of each key's newest entry, while folds > 0 or it is a fold
	folds     int                     // kindFold entries in q
	lastLag   uint64                  // position in q of the newest lag notice, plus one
	pumping   bool                    // a pump goroutine owns the send side
	finishing bool                    // no more pushes will come; close when drained
	closed    bool                    // the channel is closed or about to be
	stats     Stats                   // Coalesced, Lost, Lags and MaxPending

	// batch is owned by whichever pump runs (pumping), which keeps it
	// for the next.
	batch []entry[K, T]
}

// New returns a Sink. Buffer and Backlog must already be validated.
func New[K comparable, T any](cfg Config[K, T]) *Sink[K, T] {
	return &Sink[K, T]{
		cfg:    cfg,
		out:    make(chan T, cfg.Buffer),
		stop:   make(chan struct{}),
		newest: make(map[K]uint64),
	}
}

// C returns the channel the Sink delivers to. The Sink closes it after
// Finish once everything queued has been received, or at Close.
func (s *Sink[K, T]) C() <-chan T { return s.out }

// Push queues v, a value of key, for delivery after everything pushed
// before it. seq is v's sequence number; it names v in a lag notice if v
// is dropped. v is never replaced.
func (s *Sink[K, T]) Push(key K, seq uint64, v *T) {
	s.put(key, seq, Lifecycle, v)
}

// put delivers v, a value of key of the given class, at once if it can
// (offerLocked), and otherwise keeps it (keepLocked).
func (s *Sink[K, T]) put(key K, seq uint64, class Class, v *T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.offerLocked(key, seq, class, v) {
		if !s.storesLocked(key, class) {
			v = nil
		}
		s.keepLocked(key, seq, class, v)
	}
}

// storesLocked reports whether a value of key of the given class that
// offerLocked could not deliver is to be held, rather than counted lost (a
// Lagging Sink whose backlog is full): a value to be lost need not be
// copied. The answer is given once and keepLocked follows it, since the
// pump lowers the backlog without the lock.
func (s *Sink[K, T]) storesLocked(key K, class Class) bool {
	switch class {
	case Foldable:
		return s.replaceableLocked(key) != nil || s.cfg.Policy != Lagging || !s.fullLocked()
	case Log:
		return !s.losingLocked()
	default:
		return s.cfg.Policy != Lagging || !s.fullLocked()
	}
}

// keepLocked keeps v, a value of key of the given class that offerLocked
// could not deliver at once, behind the channel: v must then stay as it
// is until delivered. v is nil when storesLocked reported false: the
// value is then counted lost.
func (s *Sink[K, T]) keepLocked(key K, seq uint64, class Class, v *T) {
	switch class {
	case Foldable:
		s.foldLocked(key, seq, v)
	case Log:
		s.logLocked(key, seq, v)
	default:
		s.queueLocked(key, seq, v)
	}
}

// queueLocked is Push's keeping.
func (s *Sink[K, T]) queueLocked(key K, seq uint64, v *T) {
	if v == nil {
		s.dropLocked(key, seq)
		return
	}
	pos := s.appendLocked(entry[K, T]{kind: kindValue, counted: true, key: key, seq: seq, v: v})
	if s.folds > 0 {
		// Only a fold can be replaced, so while none waits a value need
		// not be remembered as its key's newest: no older entry of its
		// key could be taken for the newest.
		s.newest[key] = pos
	}
}

// PushLog queues v, a value of key, like Push, but under the log bound instead of the
// backlog: when LogBacklog log values are held, the oldest of them is
// dropped to make room, so a reader that falls behind loses old log lines
// first and never loses anything else for them.
func (s *Sink[K, T]) PushLog(key K, seq uint64, v *T) {
	s.put(key, seq, Log, v)
}

// logLocked is PushLog's keeping.
func (s *Sink[K, T]) logLocked(key K, seq uint64, v *T) {
	if v == nil {
		// A log value kept now would break the run of losses that the
		// newest notice names (see dropLocked), and each loss after it
		// would queue a notice of its own, past the backlog bound: it is
		// lost with the events around it, and the notice names it.
		n := s.q.Back().lag
		n.last = seq
		n.addKey(key)
		s.stats.LogDropped++
		return
	}
	if s.logs.Len() >= s.cfg.LogBacklog {
		s.logs.Pop()
		s.stats.LogDropped++
	}
	s.logs.Push(logEntry[T]{seq: seq, v: v})
	s.notePendingLocked()
	s.startPumpLocked()
}

// logEntry is a value pushed with PushLog.
type logEntry[T any] struct {
	seq uint64
	v   *T
}

// PushFold queues v like Push, except that when the newest value of key
// still waiting in the queue is itself foldable, v replaces it where it
// stands instead of being queued behind it: the reader gets the newest
// value, in the place of the oldest, and the key's values stay in order
// because nothing of that key waits between the two. A key thus holds at
// most one foldable value between two of its other values, which is what
// bounds a Lossless Sink: foldable values do not count against its
// backlog.
func (s *Sink[K, T]) PushFold(key K, seq uint64, v *T) {
	s.put(key, seq, Foldable, v)
}

// foldLocked is PushFold's keeping: it replaces the value v folds into,
// or queues v.
func (s *Sink[K, T]) foldLocked(key K, seq uint64, v *T) {
	if v == nil {
		s.dropLocked(key, seq)
		return
	}
	if e := s.replaceableLocked(key); e != nil {
		e.v = v
		e.folded++
		s.stats.Coalesced++
		return
	}
	counted := s.cfg.Policy == Lagging
	s.newest[key] = s.appendLocked(entry[K, T]{kind: kindFold, counted: counted, key: key, seq: seq, v: v})
	s.folds++
}

// replaceableLocked returns the queued entry a foldable value of key
// would replace, or nil: the key's newest entry, if it is foldable and
// after the newest lag notice (so that replacing it does not change what
// that notice says was lost).
func (s *Sink[K, T]) replaceableLocked(key K) *entry[K, T] {
	if pos, ok := s.newest[key]; ok && pos >= s.lastLag {
		if e := s.q.At(pos); e != nil && e.kind == kindFold {
			return e
		}
	}
	return nil
}

// offerLocked delivers v, a value of key with sequence number seq,
// straight into the channel if it can go there now — nothing is held
// ahead of it and the channel has room — and reports whether v needs
// nothing more: delivered, or not wanted (the Sink takes no more values).
// Otherwise it does nothing, and the caller keeps a value on the heap
// that v is a copy of (keepLocked) without letting go of the lock. It
// does not keep v, so v may live on the caller's stack.
func (s *Sink[K, T]) offerLocked(key K, seq uint64, class Class, v *T) bool {
	if s.closed || s.finishing {
		return true
	}
	if class == Foldable && s.replaceableLocked(key) != nil {
		return false // v replaces a queued value: it must be kept
	}
	return s.trySendLocked(seq, v)
}

// Full reports whether the backlog has reached its bound.
func (s *Sink[K, T]) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.fullLocked()
}

func (s *Sink[K, T]) fullLocked() bool { return s.backlog.Load() >= int64(s.cfg.Backlog) }

// Stats returns the Sink's counters.
func (s *Sink[K, T]) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Delivered = s.delivered.Load()
	st.Pending = s.q.Len() + s.logs.Len() + int(s.held.Load())
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
	s.logs.Clear()
	clear(s.newest)
	s.folds = 0
	s.backlog.Store(0)
	close(s.stop)
	if !s.pumping {
		close(s.out)
	}
}

// trySendLocked hands v straight to the channel when nothing is held ahead
// of it and the channel has room.
func (s *Sink[K, T]) trySendLocked(seq uint64, v *T) bool {
	if s.q.Len() > 0 || s.logs.Len() > 0 || s.held.Load() > 0 {
		return false
	}
	if c := cap(s.out); c > 0 && len(s.out) == c {
		return false // full, so no reader waits: spare making the copy
	}
	select {
	case s.out <- s.cfg.Stamped(*v, seq, 0):
		s.delivered.Add(1)
		return true
	default:
		return false
	}
}

func (s *Sink[K, T]) appendLocked(e entry[K, T]) uint64 {
	pos := s.q.Push(e)
	if e.counted {
		s.backlog.Add(1)
	}
	s.notePendingLocked()
	s.startPumpLocked()
	return pos
}

func (s *Sink[K, T]) notePendingLocked() {
	if n := s.q.Len() + s.logs.Len() + int(s.held.Load()); n > s.stats.MaxPending {
		s.stats.MaxPending = n
	}
}

func (s *Sink[K, T]) startPumpLocked() {
	if !s.pumping {
		s.pumping = true
		go s.pump()
	}
}

// losingLocked reports whether a Lagging Sink is in a run of losses: its
// backlog is full and its newest entry is a lag notice that nothing kept
// since follows.
func (s *Sink[K, T]) losingLocked() bool {
	if s.cfg.Policy != Lagging || !s.fullLocked() {
		return false
	}
	back := s.q.Back()
	if back == nil || back.kind != kindLag {
		return false
	}
	lg := s.logs.Back()
	return lg == nil || lg.seq < back.lag.last
}

// dropLocked records that the value of key with sequence number seq was
// lost. Consecutive losses extend one notice; the notice itself may take
// the backlog one past its bound.
func (s *Sink[K, T]) dropLocked(key K, seq uint64) {
	s.stats.Lost++
	if back := s.q.Back(); back != nil && back.kind == kindLag {
		// Extend the notice only if nothing was kept since its last loss:
		// a log value queued in its own lane after it would be delivered
		// after the notice that claimed its number.
		if lg := s.logs.Back(); lg == nil || lg.seq < back.lag.last {
			back.lag.last = seq
			back.lag.addKey(key)
			return
		}
	}
	s.stats.Lags++
	n := &lagNotice[K]{first: seq, last: seq}
	n.addKey(key)
	pos := s.appendLocked(entry[K, T]{kind: kindLag, counted: true, seq: seq, lag: n})
	s.lastLag = pos + 1
}

// pump feeds the channel from the queue until the queue is empty or the
// Sink is closed; it then exits, closing the channel if that is due. It
// takes entries a batch at a time, so that a reader keeping up with a fast
// producer costs one lock per batch rather than one per value, and makes
// each value it delivers only when it sends it, outside the lock: values
// are immutable once pushed, and a popped entry is the pump's alone.
func (s *Sink[K, T]) pump() {
	// The batch is the Sink's, reused from one pump to the next (only one
	// pump runs at a time: see pumping), so that delivering allocates
	// nothing once it has grown to what the reader's lag needs.
	var batch []entry[K, T]
	for first := true; ; first = false {
		s.mu.Lock()
		if first {
			batch = s.batch
		}
		s.held.Store(0) // after Close, what was held is discarded
		if s.closed {
			s.batch, s.pumping = batch[:0], false
			s.mu.Unlock()
			close(s.out)
			return
		}
		batch = batch[:0]
		for len(batch) < batchSize {
			// Both queues are in sequence order: take the lower head, so
			// that log values keep their place among the others.
			if lg := s.logs.At(s.logs.Head()); lg != nil {
				if e := s.q.At(s.q.Head()); e == nil || lg.seq < e.seq {
					batch = append(batch, entry[K, T]{kind: kindValue, seq: lg.seq, v: lg.v})
					s.logs.Pop()
					continue
				}
			}
			pos := s.q.Head()
			e, ok := s.q.Pop()
			if !ok {
				break
			}
			if e.kind == kindFold {
				s.folds--
			}
			if e.kind != kindLag && len(s.newest) > 0 && s.newest[e.key] == pos {
				delete(s.newest, e.key)
			}
			batch = append(batch, e)
		}
		if len(batch) == 0 {
			s.batch, s.pumping = batch, false
			if s.finishing {
				s.closed = true
				close(s.out)
			}
			s.mu.Unlock()
			return
		}
		s.held.Store(int64(len(batch)))
		s.mu.Unlock()

		s.send(batch)
		clear(batch) // drop the references to delivered values
	}
}

// send delivers batch in order, stopping early if the Sink is closed.
//
// While the reader keeps up, a value goes in with a non-blocking send and
// the counters are settled once for the run of such sends; they are
// settled before every wait, so that they are exact whenever the pump is
// blocked on a slow reader.
func (s *Sink[K, T]) send(batch []entry[K, T]) {
	var sent, counted int64
	settle := func() {
		if sent > 0 {
			s.held.Add(-sent)
			s.delivered.Add(uint64(sent))
			s.release(counted)
			sent, counted = 0, 0
		}
	}
	defer settle()
	for i := range batch {
		select {
		case <-s.stop:
			return // Close discarded the rest
		default:
		}
		v := s.valueOf(&batch[i])
		select {
		case s.out <- v:
		default:
			settle()
			// Look at stop again: when both are ready, select picks at
			// random, and a closed Sink should send no more.
			select {
			case s.out <- v:
			case <-s.stop:
				return
			}
		}
		sent++
		if batch[i].counted {
			counted++
		}
	}
}

// valueOf makes the value a popped entry delivers.
func (s *Sink[K, T]) valueOf(e *entry[K, T]) T {
	switch e.kind {
	case kindLag:
		return s.cfg.Lagged(e.lag.first, e.lag.last, e.lag.keys, e.lag.more)
	default:
		return s.cfg.Stamped(*e.v, e.seq, e.folded)
	}
}

// release lowers the backlog by n delivered values, and tells a producer
// waiting on a full Lossless Sink when it falls below the bound.
func (s *Sink[K, T]) release(n int64) {
	if n == 0 {
		return
	}
	bound := int64(s.cfg.Backlog)
	after := s.backlog.Add(-n)
	if after < bound && after+n >= bound && s.cfg.Policy == Lossless && s.cfg.OnSpace != nil {
		s.cfg.OnSpace()
	}
}
