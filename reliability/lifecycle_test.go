package reliability

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/bgjob/bgjob/internal/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// diagram is the job state machine as docs/design.md draws it: for each
// state and input, the state it leads to. It is read from the drawing, not
// from the code, so that the model and the machine are written apart.
type diagram map[string]map[string]string

func readDiagram(t require.TestingT) diagram {
	doc, err := os.ReadFile("../docs/design.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "```mermaid\nstateDiagram-v2\n")
	require.True(t, ok, "no state diagram in docs/design.md")
	block, _, _ := strings.Cut(rest, "```")
	groups := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*%% (\w+) = ([\w ]+)$`).FindAllStringSubmatch(block, -1) {
		groups[m[1]] = strings.Fields(m[2])
	}
	d := diagram{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\w+) --> (\w+): ([\w, ]+)$`).FindAllStringSubmatch(block, -1) {
		froms := []string{m[1]}
		if g, ok := groups[m[1]]; ok {
			froms = g
		}
		for _, from := range froms {
			if d[from] == nil {
				d[from] = map[string]string{}
			}
			for on := range strings.SplitSeq(m[3], ",") {
				d[from][strings.TrimSpace(on)] = m[2]
			}
		}
	}
	return d
}

// TestLifecycleFollowsTheDiagram drives the machine with random inputs and
// checks, after each, that it did what the drawing says: moved where the
// drawing leads, or refused where the drawing has no arrow. It also holds
// the machine's invariants along the way.
func TestLifecycleFollowsTheDiagram(t *testing.T) {
	d := readDiagram(t)
	inputs := lifecycle.Inputs()
	rapid.Check(t, func(t *rapid.T) {
		m := lifecycle.New()
		model := "queued"
		ended := false
		n := rapid.IntRange(1, 40).Draw(t, "steps")
		for range n {
			in := rapid.SampledFrom(inputs).Draw(t, "input")
			before := m.State()
			emit, ok := m.Apply(in)
			want, drawn := d[model][in.String()]
			if drawn != ok {
				t.Fatalf("%v on %v: machine accepts=%t, diagram draws=%t", before, in, ok, drawn)
			}
			if ok {
				model = want
			} else if m.State() != before {
				t.Fatalf("a refused %v changed %v to %v", in, before, m.State())
			}
			if m.State().String() != model {
				t.Fatalf("%v on %v: machine in %v, diagram in %v", before, in, m.State(), model)
			}
			// Invariants of the documented lifecycle.
			if ended && !m.State().Terminal() {
				t.Fatalf("left terminal state %v", before)
			}
			ended = m.State().Terminal()
			if ok && m.State().Terminal() && emit != lifecycle.EmitComplete && emit != lifecycle.EmitCompleteNoWorker {
				t.Fatalf("ended in %v without publishing complete (%v)", m.State(), emit)
			}
			if ok && before == lifecycle.Queued && m.State() == lifecycle.Running && emit != lifecycle.EmitWorkerStarted {
				t.Fatalf("left the queue without worker_started")
			}
			if ok && m.State() == lifecycle.Paused && before != lifecycle.Paused && emit != lifecycle.EmitPaused {
				t.Fatalf("paused without a paused event")
			}
		}
	})
}
