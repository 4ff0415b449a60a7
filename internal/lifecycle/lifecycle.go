// Package lifecycle is the state machine of one job: its states, the
// inputs that move it, and the transitions between them, written as data.
//
// The package is pure: no locks, no clock, no goroutines. The job that
// owns a Machine holds its own lock around Apply and publishes the event a
// transition names. docs/design.md draws the same machine; the tests read
// that drawing and check it against Transitions, so the two cannot drift
// apart.
package lifecycle

import "fmt"

// State is where a job is in its life. The zero value is not a state.
type State uint8

// The states. Succeeded, Failed and Canceled are terminal: no input moves
// a job out of them.
const (
	Queued State = iota + 1
	Running
	Pausing
	Paused
	Canceling
	Abandoned
	Succeeded
	Failed
	Canceled

	numStates = int(Canceled) + 1
)

var stateNames = [numStates]string{
	Queued:    "queued",
	Running:   "running",
	Pausing:   "pausing",
	Paused:    "paused",
	Canceling: "canceling",
	Abandoned: "abandoned",
	Succeeded: "succeeded",
	Failed:    "failed",
	Canceled:  "canceled",
}

// States lists every state, in order.
func States() []State {
	out := make([]State, 0, numStates-1)
	for s := Queued; s <= Canceled; s++ {
		out = append(out, s)
	}
	return out
}

// String returns the state's lower-case name.
func (s State) String() string {
	if s.Valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Valid reports whether s is one of the states.
func (s State) Valid() bool { return s >= Queued && s <= Canceled }

// Parse returns the state with the given name.
func Parse(name string) (State, bool) {
	for s := Queued; s <= Canceled; s++ {
		if stateNames[s] == name {
			return s, true
		}
	}
	return 0, false
}

// Terminal reports whether the job has ended.
func (s State) Terminal() bool { return s == Succeeded || s == Failed || s == Canceled }

// Working reports whether the job holds a worker that runs it: from the
// moment it leaves the queue until Run returns.
func (s State) Working() bool { return s >= Running && s <= Abandoned }

// Input is something that happens to a job.
type Input uint8

// The inputs.
const (
	// Dispatch: the job got a worker slot and its goroutine was started.
	Dispatch Input = iota + 1
	// Pause: a caller asked the job to pause at its next checkpoint.
	Pause
	// Resume: a caller asked a pausing or paused job to go on.
	Resume
	// Park: the job reached a checkpoint while asked to pause.
	Park
	// Cancel: a caller, a timeout or Shutdown canceled the job.
	Cancel
	// GraceOver: a canceled job was still running at the end of its grace
	// period.
	GraceOver
	// ReturnOK, ReturnErr and ReturnCanceled: Run returned nil, an error
	// (or panicked), or an error after its context was canceled.
	ReturnOK
	ReturnErr
	ReturnCanceled

	numInputs = int(ReturnCanceled) + 1
)

var inputNames = [numInputs]string{
	Dispatch:       "dispatch",
	Pause:          "pause",
	Resume:         "resume",
	Park:           "park",
	Cancel:         "cancel",
	GraceOver:      "grace_over",
	ReturnOK:       "return_ok",
	ReturnErr:      "return_err",
	ReturnCanceled: "return_canceled",
}

// Inputs lists every input, in order.
func Inputs() []Input {
	out := make([]Input, 0, numInputs-1)
	for in := Dispatch; in <= ReturnCanceled; in++ {
		out = append(out, in)
	}
	return out
}

// String returns the input's snake_case name.
func (in Input) String() string {
	if in >= Dispatch && in <= ReturnCanceled {
		return inputNames[in]
	}
	return fmt.Sprintf("Input(%d)", uint8(in))
}

// Event names what a transition tells subscribers. The owner maps it to
// its public event type.
type Event uint8

// The events a transition may publish; EmitNone publishes nothing.
const (
	EmitNone Event = iota
	EmitWorkerStarted
	EmitPaused
	EmitResumed
	EmitAbandoned
	EmitComplete
	// EmitCompleteNoWorker: complete and worker_stopped of a job that
	// never got a goroutine (canceled while queued).
	EmitCompleteNoWorker
)

// Transition is one edge of the machine: in From, On moves the job to To
// and publishes Emit.
type Transition struct {
	From State
	On   Input
	To   State
	Emit Event
}

// Transitions is the whole machine. An input not listed for a state is
// refused (see Next); the owner turns that into an error for the caller
// or, for inputs the job itself causes, into nothing.
var Transitions = []Transition{
	{Queued, Dispatch, Running, EmitWorkerStarted},
	{Queued, Cancel, Canceled, EmitCompleteNoWorker},

	{Running, Pause, Pausing, EmitNone},
	{Pausing, Pause, Pausing, EmitNone},
	{Paused, Pause, Paused, EmitNone},
	{Pausing, Resume, Running, EmitNone},
	{Pausing, Park, Paused, EmitPaused},
	{Paused, Resume, Running, EmitResumed},

	{Running, Cancel, Canceling, EmitNone},
	{Pausing, Cancel, Canceling, EmitNone},
	{Paused, Cancel, Canceling, EmitNone},
	{Canceling, GraceOver, Abandoned, EmitAbandoned},

	{Running, ReturnOK, Succeeded, EmitComplete},
	{Running, ReturnErr, Failed, EmitComplete},
	{Running, ReturnCanceled, Canceled, EmitComplete},
	{Pausing, ReturnOK, Succeeded, EmitComplete},
	{Pausing, ReturnErr, Failed, EmitComplete},
	{Pausing, ReturnCanceled, Canceled, EmitComplete},
	{Paused, ReturnOK, Succeeded, EmitComplete},
	{Paused, ReturnErr, Failed, EmitComplete},
	{Paused, ReturnCanceled, Canceled, EmitComplete},
	{Canceling, ReturnOK, Succeeded, EmitComplete},
	{Canceling, ReturnErr, Failed, EmitComplete},
	{Canceling, ReturnCanceled, Canceled, EmitComplete},
	{Abandoned, ReturnOK, Succeeded, EmitComplete},
	{Abandoned, ReturnErr, Failed, EmitComplete},
	{Abandoned, ReturnCanceled, Canceled, EmitComplete},
}

type edge struct {
	to   State
	emit Event
	ok   bool
}

// table indexes Transitions by state and input, so that Next costs an
// array lookup.
var table = func() (t [numStates][numInputs]edge) {
	for _, tr := range Transitions {
		if t[tr.From][tr.On].ok {
			panic(fmt.Sprintf("lifecycle: two transitions for %v on %v", tr.From, tr.On))
		}
		t[tr.From][tr.On] = edge{tr.To, tr.Emit, true}
	}
	return t
}()

// Next returns where input in moves a job in state from, and the event
// that transition publishes; ok is false when the machine refuses it.
func Next(from State, in Input) (to State, emit Event, ok bool) {
	if !from.Valid() || in < Dispatch || in > ReturnCanceled {
		return from, EmitNone, false
	}
	e := table[from][in]
	if !e.ok {
		return from, EmitNone, false
	}
	return e.to, e.emit, true
}

// Machine is one job's state. The zero value is not ready: use New.
type Machine struct {
	state State
}

// New returns a machine in state Queued: every job starts there.
func New() Machine { return Machine{state: Queued} }

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Apply moves the machine by in. It returns the event to publish and
// whether the input was accepted; a refused input changes nothing.
func (m *Machine) Apply(in Input) (Event, bool) {
	to, emit, ok := Next(m.state, in)
	if ok {
		m.state = to
	}
	return emit, ok
}
