package bgjobotel

import "github.com/google/uuid"

// maxSettled bounds the jobs canceled while queued that the reader
// remembers: far more than the bgjob.MaxLagJobs a lag notice names.
const maxSettled = 4096

// recentIDs is a set of the last ids added, at most its capacity: the
// oldest goes when a new one comes. Not safe for concurrent use.
type recentIDs struct {
	max  int
	set  map[uuid.UUID]struct{}
	ring []uuid.UUID // grows to max, then wraps at next
	next int
}

func newRecentIDs(max int) recentIDs {
	return recentIDs{max: max, set: make(map[uuid.UUID]struct{})}
}

func (s *recentIDs) add(id uuid.UUID) {
	if _, ok := s.set[id]; ok {
		return
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, id)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % len(s.ring)
	}
	s.set[id] = struct{}{}
}

func (s *recentIDs) has(id uuid.UUID) bool {
	_, ok := s.set[id]
	return ok
}
