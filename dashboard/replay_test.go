package dashboard

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/bgjob/bgjob"
)

func TestReplaySupersedesProgressOnlyAcrossLogLines(t *testing.T) {
	rp := newReplay(16)
	a, b := uuid.New(), uuid.New()
	add := func(seq uint64, job uuid.UUID, typ bgjob.EventType) {
		rp.add(entry{seq: seq, job: job, typ: typ, frame: []byte("x")})
	}
	add(1, a, bgjob.EventProgress) // 0: superseded by 2 across a's log line and b's progress
	add(2, a, bgjob.EventLog)      // 1
	add(3, b, bgjob.EventProgress) // 2
	add(4, a, bgjob.EventProgress) // 3: not superseded: a pause comes after it
	add(5, a, bgjob.EventPaused)   // 4
	add(6, a, bgjob.EventProgress) // 5
	assert.Equal(t, int64(3), rp.at(0).supersededBy)
	assert.Zero(t, rp.at(1).supersededBy)
	assert.Zero(t, rp.at(2).supersededBy)
	assert.Zero(t, rp.at(3).supersededBy)
	add(7, a, bgjob.EventComplete)
	assert.NotContains(t, rp.lastProgress, a, "a job that ended holds nothing")
}

func TestReplayBoundsEventsAndBytes(t *testing.T) {
	rp := newReplay(4)
	for i := range 10 {
		rp.add(entry{seq: uint64(i + 1), frame: []byte("x")})
	}
	assert.Equal(t, int64(10), rp.head)
	assert.Equal(t, int64(6), rp.tail, "the last four kept")
	_, ok := rp.after(6)
	assert.False(t, ok, "dropped")
	pos, ok := rp.after(7)
	assert.True(t, ok)
	assert.Equal(t, int64(7), pos)

	big := bytes.Repeat([]byte("y"), 3*replayBytesPerEvent)
	rp.add(entry{seq: 11, frame: big})
	rp.add(entry{seq: 12, frame: big})
	assert.LessOrEqual(t, rp.bytes, rp.maxBytes)
	assert.Equal(t, int64(1), rp.head-rp.tail, "large events push the others out")
	seq, ok := rp.lastSeq(rp.head)
	assert.True(t, ok)
	assert.Equal(t, uint64(12), seq)

	rp.reset()
	assert.Nil(t, rp.ring, "an emptied replay frees its ring")
	assert.Equal(t, rp.head, rp.tail)
	_, ok = rp.lastSeq(rp.head)
	assert.False(t, ok)
}

// An event with megabytes of stacks makes a frame of at most about 64 KB.
func TestFrameStacksAreCut(t *testing.T) {
	ev := bgjob.Event{Type: bgjob.EventStalled, Seq: 7, Stack: strings.Repeat("goroutine 1 [running]: é\n", 100_000)}
	frame := encodeEvent(ev, true)
	assert.Less(t, len(frame), maxFrameStack+4096)
	assert.Contains(t, string(frame), "cut at 64 KB")
	assert.True(t, utf8.Valid(frame))
	assert.NotContains(t, string(encodeEvent(ev, false)), "goroutine 1")
}
