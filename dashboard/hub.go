package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// errClosed is returned by hub.attach once the handler was closed.
var errClosed = errors.New("dashboard: handler closed")

// hub feeds the replay from one subscription to the Runner and wakes the
// streams that read it.
//
// The subscription and its feeding goroutine exist only while streams
// are open, and for the idle timeout after the last one ends: the first
// stream starts them, and they end when the idle timer fires, when Close
// is called, or when the Runner's channel closes after Shutdown. Each
// start is a new generation; a feeder of an older generation adds
// nothing, and a restart loses the events in between, so the replay is
// emptied and a stream that was reading gets a reset.
type hub struct {
	r           *bgjob.Runner
	stacks      bool
	idleTimeout time.Duration
	wg          sync.WaitGroup // the feeders

	mu      sync.Mutex // guards everything below
	replay  *replay
	clients int
	gen     uint64
	sub     *bgjob.Subscription // nil while no feeder runs
	idle    *time.Timer         // set while no stream is open and a feeder runs
	// wake is closed at the next event, for the readers of every job;
	// nil until one waits. jobWake holds, per job, a channel closed at
	// that job's next event, for the readers of that job alone, so that
	// one job's events do not wake the streams of the others; an entry
	// lives from the first reader that waits on it to the next wake.
	wake     chan struct{}
	jobWake  map[uuid.UUID]chan struct{}
	ended    bool // the Runner shut down: no event will come
	closed   bool
	resets   uint64 // gaps in the replay: feeder restarts and lags
	lastStat bgjob.SubscriptionStats
}

func newHub(r *bgjob.Runner, c config) *hub {
	return &hub{r: r, stacks: c.stacks, idleTimeout: c.idleTimeout, replay: newReplay(c.replay)}
}

// attach counts a stream in, starting the feeder if none runs. It
// fails once the handler was closed (errClosed), or if the Runner
// refuses a subscription for a reason other than its shutdown.
func (h *hub) attach() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errClosed
	}
	if h.sub == nil && !h.ended {
		if err := h.startLocked(); err != nil {
			return err
		}
	}
	h.clients++
	if h.idle != nil {
		h.idle.Stop()
		h.idle = nil
	}
	return nil
}

// startLocked subscribes to the Runner and starts the goroutine that
// feeds the replay from it. After Shutdown the Runner refuses: nothing
// will come, and streams end after their snapshot. Any other refusal is
// returned, and taken for nothing more.
func (h *hub) startLocked() error {
	sub, err := h.r.Subscribe(bgjob.WithBacklog(h.replay.capacity), bgjob.WithBuffer(256))
	if errors.Is(err, bgjob.ErrRunnerClosed) {
		h.ended = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("dashboard: subscribing to the runner: %w", err)
	}
	h.gen++
	h.sub = sub
	h.replay.reset()
	h.resets++
	h.wg.Add(1)
	go h.feed(h.gen, sub)
	return nil
}

// detach counts a stream out; the last one out starts the idle timer.
func (h *hub) detach() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients--
	if h.clients > 0 {
		return
	}
	if h.sub == nil {
		if h.ended {
			// The Runner shut down and the last stream left: nothing
			// holds events for no one.
			h.replay.reset()
		}
		return
	}
	if h.idleTimeout == 0 {
		h.stopLocked()
		return
	}
	// The callback acts only if it is still the idle timer: one that
	// fired while a stream came and went must not cut the new idle
	// window short.
	var idle *time.Timer
	idle = time.AfterFunc(h.idleTimeout, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.idle == idle && h.clients == 0 && h.sub != nil {
			h.stopLocked()
		}
	})
	h.idle = idle
}

// stopLocked ends the subscription; the feeder ends when its channel
// closes, promptly. The replay is emptied, and the wake channels of
// streams that left with them: nothing holds events for no one.
func (h *hub) stopLocked() {
	h.lastStat = h.sub.Stats()
	h.sub.Close()
	h.sub = nil
	h.gen++
	h.replay.reset()
	h.wakeAllLocked()
	if h.idle != nil {
		h.idle.Stop()
		h.idle = nil
	}
}

// close ends the feeder and wakes every stream, which then ends; attach
// fails from now on. It waits for the feeder to return.
func (h *hub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		if h.sub != nil {
			h.stopLocked()
		}
		h.wakeAllLocked()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// feed reads the Runner's events into the replay until the subscription
// ends. It is the only goroutine the hub starts.
func (h *hub) feed(gen uint64, sub *bgjob.Subscription) {
	defer h.wg.Done()
	for ev := range sub.Events() {
		if ev.Type == bgjob.EventLagged {
			// The feeder fell behind the Runner: the replay has a gap,
			// and every stream that read before it starts again.
			h.gap(gen)
			continue
		}
		e := entry{seq: ev.Seq, job: ev.JobID, typ: ev.Type, frame: encodeEvent(ev, h.stacks)}
		h.mu.Lock()
		if h.gen == gen {
			h.replay.add(e)
			h.wakeLocked(e.job)
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen {
		// Not closed by the hub: the Runner shut down and every job
		// ended.
		h.lastStat = sub.Stats()
		h.sub = nil
		h.ended = true
		h.wakeAllLocked()
	}
}

func (h *hub) gap(gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen == gen {
		h.replay.reset()
		h.resets++
		h.wakeAllLocked()
	}
}

// wakeLocked wakes the readers of every job, and those of job.
func (h *hub) wakeLocked(job uuid.UUID) {
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
	if c, ok := h.jobWake[job]; ok {
		close(c)
		delete(h.jobWake, job)
	}
}

// wakeAllLocked wakes every reader: the replay changed for all of them.
func (h *hub) wakeAllLocked() {
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
	for _, c := range h.jobWake {
		close(c)
	}
	h.jobWake = nil
}

// waitLocked returns the channel closed at the next event f may select.
func (h *hub) waitLocked(f *filter) <-chan struct{} {
	if f.job == uuid.Nil {
		if h.wake == nil {
			h.wake = make(chan struct{})
		}
		return h.wake
	}
	c, ok := h.jobWake[f.job]
	if !ok {
		if h.jobWake == nil {
			h.jobWake = make(map[uuid.UUID]chan struct{})
		}
		c = make(chan struct{})
		h.jobWake[f.job] = c
	}
	return c
}

// readState says why hub.read stopped.
type readState uint8

const (
	readMore   readState = iota // more may come: wait on the wake channel
	readReset                   // the reader fell behind the replay: snapshot again
	readJobEnd                  // the filter's job stopped: its last event is in the frames
	readEnded                   // the Runner shut down and the reader has every event
	readClosed                  // the handler was closed
)

// filter selects the events of a stream.
type filter struct {
	job   uuid.UUID // uuid.Nil: every job
	types []bgjob.EventType
}

func (f *filter) match(e *entry) bool {
	if f.job != uuid.Nil && e.job != f.job {
		return false
	}
	if len(f.types) == 0 {
		return true
	}
	for _, t := range f.types {
		if t == e.typ {
			return true
		}
	}
	return false
}

// maxBatch bounds the frames one read hands out, and so what a stream
// holds at once.
const maxBatch = 256

// read appends to frames the events from pos that f selects, at most
// maxBatch, skipping progress a newer progress of the same job makes
// stale, and returns them with the position to read from next, and why
// it stopped; for readMore with nothing read, a channel closed at the
// next event. The frames are immutable: the caller writes them after
// read returns, holding no lock.
func (h *hub) read(pos int64, f *filter, frames [][]byte) ([][]byte, int64, readState, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return frames, pos, readClosed, nil
	}
	rp := h.replay
	if pos < rp.tail || pos > rp.head {
		return frames, pos, readReset, nil
	}
	for ; pos < rp.head && len(frames) < maxBatch; pos++ {
		e := rp.at(pos)
		if e.supersededBy != 0 {
			continue // the reader will get the newer one
		}
		if !f.match(e) {
			continue
		}
		frames = append(frames, e.frame)
		if f.job != uuid.Nil && e.typ == bgjob.EventWorkerStopped {
			return frames, pos + 1, readJobEnd, nil
		}
	}
	if pos < rp.head || len(frames) > 0 {
		return frames, pos, readMore, nil
	}
	if h.ended {
		return frames, pos, readEnded, nil
	}
	return frames, pos, readMore, h.waitLocked(f)
}

// resume returns the position after the event numbered seq, if the
// replay holds it and has held every event since. With stopped, a job
// that stopped, it also requires the replay to hold that job's
// worker_stopped after it: otherwise the client had it already (or it
// is on its way, or lost in a gap), a stream resumed there would wait
// for ever for an end that came, and the client needs the job's final
// status instead.
func (h *hub) resume(seq uint64, stopped uuid.UUID) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pos, ok := h.replay.after(seq)
	if ok && stopped != uuid.Nil {
		ok = h.replay.holds(pos, stopped, bgjob.EventWorkerStopped)
	}
	return pos, ok
}

// position returns where a snapshot taken now meets the replay, and the
// id that snapshot carries.
func (h *hub) position() (int64, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pos := h.replay.head
	if seq, ok := h.replay.lastSeq(pos); ok {
		return pos, strconv.FormatUint(seq, 10)
	}
	return pos, ""
}

// Stats says how the handler's streams are served.
type Stats struct {
	// Streams is the number of streams open now.
	Streams int `json:"streams"`
	// Feeding reports whether the handler subscribes to the Runner now.
	Feeding bool `json:"feeding"`
	// Replay is the number of events held, ReplayBytes their size.
	Replay      int `json:"replay"`
	ReplayBytes int `json:"replay_bytes"`
	// Gaps counts the times the replay started again empty: the feeder
	// started after an idle time, or fell behind the Runner. Each makes
	// the streams reading then take a fresh snapshot.
	Gaps uint64 `json:"gaps"`
	// Subscription is the counters of the handler's subscription to the
	// Runner: the current one, or the last one.
	Subscription bgjob.SubscriptionStats `json:"subscription"`
}

func (h *hub) stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Stats{
		Streams: h.clients, Feeding: h.sub != nil,
		Replay: int(h.replay.head - h.replay.tail), ReplayBytes: h.replay.bytes,
		Gaps: h.resets, Subscription: h.lastStat,
	}
	if h.sub != nil {
		s.Subscription = h.sub.Stats()
	}
	return s
}

// encodeEvent renders ev as a server-sent event: its sequence number as
// the id, its JSON as the data, on one line (JSON escapes newlines).
func encodeEvent(ev bgjob.Event, stacks bool) []byte {
	if !stacks {
		ev.Stack = ""
	}
	ev.Stack = cutStack(ev.Stack)
	data, err := json.Marshal(ev)
	if err != nil {
		// Event's JSON form has no failing case; say so rather than
		// send a broken frame.
		data = []byte(`{"type":"error","message":"event not encodable"}`)
	}
	b := make([]byte, 0, len(data)+32)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// maxFrameStack bounds the stacks one event frame carries: a stall's event
// holds every goroutine of its job, which can run to megabytes, and one
// frame must not take the whole replay.
const maxFrameStack = 64 << 10

// cutStack returns stack cut to maxFrameStack bytes, on a character
// boundary, saying so.
func cutStack(stack string) string {
	if len(stack) <= maxFrameStack {
		return stack
	}
	n := maxFrameStack
	for n > 0 && !utf8.RuneStart(stack[n]) {
		n--
	}
	return stack[:n] + "\n… (cut at 64 KB: the job's handle has them all)"
}
