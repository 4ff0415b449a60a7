package dashboard

import (
	"sort"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// entry is one event in the replay, encoded once as a server-sent event
// for every stream that reads it. Its fields never change once added,
// except supersededBy, which the replay sets under its owner's lock.
type entry struct {
	seq   uint64
	job   uuid.UUID
	typ   bgjob.EventType
	frame []byte
	// supersededBy is the position of a newer progress event of the same
	// job with no other event of the job in between but log lines, or 0:
	// a reader skips this one for that one, which is always ahead of it.
	supersededBy int64
}

// replay is a ring of the latest events, addressed by position: a
// number that grows with every event added and is never reused, so that
// a reader's place survives the ring wrapping and a reader left behind
// knows it. It is not safe for concurrent use: the hub owns it, under
// hub.mu.
type replay struct {
	ring     []entry // nil while idle: an idle handler holds no events
	capacity int
	maxBytes int
	bytes    int
	head     int64 // position of the next event
	tail     int64 // position of the oldest event held; before it, gone
	// lastProgress is, per job, the position of its newest progress
	// event that a newer one may still supersede.
	lastProgress map[uuid.UUID]int64
}

func newReplay(capacity int) *replay {
	return &replay{capacity: capacity, maxBytes: capacity * replayBytesPerEvent}
}

func (r *replay) at(pos int64) *entry { return &r.ring[pos%int64(r.capacity)] }

// add appends e, dropping the oldest events as the bounds require.
func (r *replay) add(e entry) {
	if r.ring == nil {
		r.ring = make([]entry, r.capacity)
		r.lastProgress = make(map[uuid.UUID]int64)
	}
	for r.head-r.tail >= int64(r.capacity) || (r.head > r.tail && r.bytes+len(e.frame) > r.maxBytes) {
		r.dropOldest()
	}
	switch e.typ {
	case bgjob.EventProgress:
		// An entry dropped (or reset) leaves the map with it.
		if prev, ok := r.lastProgress[e.job]; ok {
			r.at(prev).supersededBy = r.head
		}
		r.lastProgress[e.job] = r.head
	case bgjob.EventLog:
		// Log lines travel beside the job's state: a newer progress may
		// still replace an older one across them.
	default:
		delete(r.lastProgress, e.job)
	}
	*r.at(r.head) = e
	r.bytes += len(e.frame)
	r.head++
}

func (r *replay) dropOldest() {
	old := r.at(r.tail)
	r.bytes -= len(old.frame)
	if pos, ok := r.lastProgress[old.job]; ok && pos == r.tail {
		delete(r.lastProgress, old.job)
	}
	*old = entry{}
	r.tail++
}

// reset forgets every event, keeping positions growing: whoever was
// reading is behind the tail and knows it lost them. It frees the ring.
func (r *replay) reset() {
	r.ring, r.lastProgress, r.bytes = nil, nil, 0
	r.tail = r.head
}

// after returns the position just after the event numbered seq, if the
// replay still holds it.
func (r *replay) after(seq uint64) (int64, bool) {
	n := int(r.head - r.tail)
	// Sequence numbers grow along the ring.
	i := sort.Search(n, func(i int) bool { return r.at(r.tail+int64(i)).seq >= seq })
	if i == n || r.at(r.tail+int64(i)).seq != seq {
		return 0, false
	}
	return r.tail + int64(i) + 1, true
}

// holds reports whether an event of job of type typ lies from pos on.
func (r *replay) holds(pos int64, job uuid.UUID, typ bgjob.EventType) bool {
	for ; pos < r.head; pos++ {
		if e := r.at(pos); e.job == job && e.typ == typ {
			return true
		}
	}
	return false
}

// lastSeq returns the sequence number of the event just before pos, if
// the replay holds it: the id a snapshot taken at pos carries, so that a
// client resuming from it misses nothing.
func (r *replay) lastSeq(pos int64) (uint64, bool) {
	if pos <= r.tail || pos > r.head {
		return 0, false
	}
	return r.at(pos - 1).seq, true
}
