package lifecycle

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNext(t *testing.T) {
	tests := []struct {
		give     State
		on       Input
		want     State
		wantEmit Event
		wantOK   bool
	}{
		{Queued, Dispatch, Running, EmitWorkerStarted, true},
		{Queued, Cancel, Canceled, EmitCompleteNoWorker, true},
		{Queued, Pause, Queued, EmitNone, false},
		{Queued, Resume, Queued, EmitNone, false},
		{Running, Pause, Pausing, EmitNone, true},
		{Running, Resume, Running, EmitNone, false},
		{Running, Park, Running, EmitNone, false},
		{Pausing, Park, Paused, EmitPaused, true},
		{Pausing, Resume, Running, EmitNone, true},
		{Paused, Resume, Running, EmitResumed, true},
		{Paused, Pause, Paused, EmitNone, true},
		{Paused, Cancel, Canceling, EmitNone, true},
		{Canceling, Cancel, Canceling, EmitNone, false},
		{Canceling, Pause, Canceling, EmitNone, false},
		{Canceling, GraceOver, Abandoned, EmitAbandoned, true},
		{Running, GraceOver, Running, EmitNone, false},
		{Abandoned, Cancel, Abandoned, EmitNone, false},
		{Abandoned, ReturnCanceled, Canceled, EmitComplete, true},
		{Canceling, ReturnOK, Succeeded, EmitComplete, true},
		{Running, ReturnErr, Failed, EmitComplete, true},
		{Succeeded, Cancel, Succeeded, EmitNone, false},
		{Failed, Dispatch, Failed, EmitNone, false},
		{0, Dispatch, 0, EmitNone, false},
		{Running, 0, Running, EmitNone, false},
		{Running, 200, Running, EmitNone, false},
		{200, Cancel, 200, EmitNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.give.String()+"/"+tt.on.String(), func(t *testing.T) {
			got, emit, ok := Next(tt.give, tt.on)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantEmit, emit)
			assert.Equal(t, tt.wantOK, ok)
		})
	}
}

func TestTerminalStatesAreAbsorbing(t *testing.T) {
	for _, s := range States() {
		if !s.Terminal() {
			continue
		}
		for _, in := range Inputs() {
			_, _, ok := Next(s, in)
			assert.False(t, ok, "%v leaves terminal state %v", in, s)
		}
	}
}

func TestEveryStateIsReachableAndCanEnd(t *testing.T) {
	reach := map[State]bool{Queued: true}
	for changed := true; changed; {
		changed = false
		for _, tr := range Transitions {
			if reach[tr.From] && !reach[tr.To] {
				reach[tr.To], changed = true, true
			}
		}
	}
	for _, s := range States() {
		assert.True(t, reach[s], "%v is unreachable from queued", s)
		if s.Terminal() {
			continue
		}
		ends := slices.ContainsFunc(Transitions, func(tr Transition) bool { return tr.From == s && tr.To.Terminal() })
		assert.True(t, ends, "%v has no way to end", s)
	}
}

func TestWorkingStatesEndOnEveryReturn(t *testing.T) {
	for _, s := range States() {
		for _, in := range []Input{ReturnOK, ReturnErr, ReturnCanceled} {
			to, emit, ok := Next(s, in)
			if s.Working() {
				require.True(t, ok, "%v refuses %v", s, in)
				assert.True(t, to.Terminal())
				assert.Equal(t, EmitComplete, emit)
			} else {
				assert.False(t, ok, "%v accepts %v without a worker", s, in)
			}
		}
	}
}

func TestNamesRoundTrip(t *testing.T) {
	for _, s := range States() {
		got, ok := Parse(s.String())
		require.True(t, ok)
		assert.Equal(t, s, got)
	}
	_, ok := Parse("sleeping")
	assert.False(t, ok)
	assert.Equal(t, "State(0)", State(0).String())
	assert.Equal(t, "Input(0)", Input(0).String())
}

func TestMachine(t *testing.T) {
	m := New()
	assert.Equal(t, Queued, m.State())
	_, ok := m.Apply(Resume)
	assert.False(t, ok)
	assert.Equal(t, Queued, m.State(), "a refused input changes nothing")
	emit, ok := m.Apply(Dispatch)
	require.True(t, ok)
	assert.Equal(t, EmitWorkerStarted, emit)
	assert.Equal(t, Running, m.State())
}

// TestDiagramMatchesTheTable reads the state diagram in docs/design.md and
// checks that its edges are exactly Transitions: the picture people read
// is the machine the code runs.
func TestDiagramMatchesTheTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/design.md")
	require.NoError(t, err)
	block := diagram(t, string(doc))

	// "%% working = running pausing …" names a group of states; an edge
	// from the group stands for an edge from each of them.
	groups := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*%% (\w+) = ([\w ]+)$`).FindAllStringSubmatch(block, -1) {
		groups[m[1]] = strings.Fields(m[2])
	}
	type triple struct{ from, on, to string }
	var drawn []triple
	edge := regexp.MustCompile(`(?m)^\s*(\w+) --> (\w+): ([\w, ]+)$`)
	for _, m := range edge.FindAllStringSubmatch(block, -1) {
		froms := []string{m[1]}
		if g, ok := groups[m[1]]; ok {
			froms = g
		}
		for _, from := range froms {
			for on := range strings.SplitSeq(m[3], ",") {
				drawn = append(drawn, triple{from, strings.TrimSpace(on), m[2]})
			}
		}
	}
	var table []triple
	for _, tr := range Transitions {
		table = append(table, triple{tr.From.String(), tr.On.String(), tr.To.String()})
	}
	key := func(a, b triple) int { return strings.Compare(a.from+a.on+a.to, b.from+b.on+b.to) }
	slices.SortFunc(drawn, key)
	slices.SortFunc(table, key)
	assert.Equal(t, table, drawn, "docs/design.md's state diagram and lifecycle.Transitions differ")
}

// diagram returns the stateDiagram block of doc.
func diagram(t *testing.T, doc string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "```mermaid\nstateDiagram-v2\n")
	require.True(t, ok, "no state diagram in docs/design.md")
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	return block
}
