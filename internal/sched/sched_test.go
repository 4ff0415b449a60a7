package sched

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNoLimitRunsEverything(t *testing.T) {
	var s Scheduler[int]
	for i := range 100 {
		run, err := s.Admit(new(Ticket[int]), i, 0)
		require.NoError(t, err)
		assert.True(t, run)
	}
	assert.Equal(t, 100, s.Running())
	assert.Empty(t, s.Release())
}

func TestPriorityThenFirstCome(t *testing.T) {
	s := Scheduler[string]{MaxRunning: 1}
	run, _ := s.Admit(new(Ticket[string]), "running", 0)
	require.True(t, run)
	for _, give := range []struct {
		name     string
		priority int
		wantPos  int
	}{
		{"low-1", 0, 1},
		{"low-2", 0, 2},
		{"high", 5, 1},
		{"negative", -1, 4},
		{"high-2", 5, 2},
	} {
		tk := new(Ticket[string])
		run, err := s.Admit(tk, give.name, give.priority)
		require.NoError(t, err)
		require.False(t, run)
		assert.True(t, tk.Queued())
		assert.Equal(t, give.wantPos, s.Position(tk), give.name)
	}
	var order []string
	for s.Queued() > 0 {
		next := s.Release()
		require.Len(t, next, 1)
		order = append(order, next[0])
	}
	assert.Equal(t, []string{"high", "high-2", "low-1", "low-2", "negative"}, order)
	assert.Equal(t, 1, s.Running())
}

func TestQueueBoundAndRemove(t *testing.T) {
	s := Scheduler[int]{MaxRunning: 1, MaxQueued: 2}
	s.Admit(new(Ticket[int]), 0, 0)
	a := new(Ticket[int])
	s.Admit(a, 1, 0)
	_, err := s.Admit(new(Ticket[int]), 2, 0)
	require.NoError(t, err)
	_, err = s.Admit(new(Ticket[int]), 3, 0)
	assert.ErrorIs(t, err, ErrFull)
	assert.True(t, s.Remove(a))
	assert.False(t, s.Remove(a), "twice")
	assert.False(t, a.Queued())
	assert.False(t, s.Remove(nil))
	assert.Equal(t, []int{2}, s.Release())
	assert.Equal(t, []int(nil), s.Drain())
}

func TestMemoryReturnsAfterABurst(t *testing.T) {
	s := Scheduler[int]{MaxRunning: 1}
	s.Admit(new(Ticket[int]), 0, 0)
	for i := range 100_000 {
		s.Admit(new(Ticket[int]), i, i%7)
	}
	assert.Greater(t, cap(s.heap), 100_000)
	got := s.Drain()
	assert.Len(t, got, 100_000)
	assert.LessOrEqual(t, cap(s.heap), 256, "the array of a drained burst is let go")
	assert.Nil(t, s.byPriority)
}
