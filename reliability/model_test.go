package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
)

// The model's clock. Every action happens at a multiple of the progress
// interval, and every timer a job sets fires a few nanoseconds off such a
// multiple, so that no timer ever fires at the instant of a progress tick:
// which of two things at one instant goes first is up to the scheduler,
// and the model would have to guess.
const (
	modelInterval = 100 * time.Millisecond
	modelGrace    = 110*time.Millisecond + 7
)

var modelTimeouts = []time.Duration{0, 230*time.Millisecond + 1, 370*time.Millisecond + 3}

// ending is how a scripted job ends once every step is done.
type ending uint8

const (
	endOK ending = iota
	endFail
	endPanic
	endGoexit
)

var errScripted = errors.New("scripted failure")

func (e ending) state() bgjob.State {
	if e == endOK {
		return bgjob.StateSucceeded
	}
	return bgjob.StateFailed
}

// mjob is a job of the model: the real job's handle and how it is
// scripted, and what the documented machine says it is now.
type mjob struct {
	n       int
	h       *bgjob.Handle
	gate    *bgjobtest.Gate // a gated job: steps, each released by the test
	end     ending
	release chan struct{} // a stubborn job: ignores cancellation until released
	timeout time.Duration
	// logger is the job's own, which the test logs through as if it were
	// the job: a line is published while the job has not ended.
	logger atomic.Pointer[slog.Logger]

	state    bgjob.State
	worker   bool // dispatched: its goroutine was started
	alive    bool
	slot     bool // holds a worker slot
	live     bool // not retired
	done     int  // steps done
	total    int
	at       int // the gate it waits at, 1..steps; 0 when not at a gate
	parkedAt int // the step it parked before; 0 when not parked
	pubStep  int // the progress last published
	pubTotal int
	deadline time.Time // its timeout
	graceEnd time.Time // its cancellation grace
}

func (j *mjob) String() string { return fmt.Sprintf("job%d", j.n) }

// GoString names the job in rapid's log of what it drew.
func (j *mjob) GoString() string { return fmt.Sprintf("job%d (%s)", j.n, j.state) }

func (j *mjob) stubborn() bool { return j.gate == nil }

func (j *mjob) working() bool {
	switch j.state {
	case bgjob.StateRunning, bgjob.StatePausing, bgjob.StatePaused, bgjob.StateCanceling, bgjob.StateAbandoned:
		return true
	}
	return false
}

// run is the job's code: each step waits at the gate, then at a
// checkpoint, then counts; after the last, the scripted end.
func (j *mjob) run(ctx context.Context, p *bgjob.Progress) error {
	j.logger.Store(p.Logger())
	if j.stubborn() {
		<-j.release
		return nil
	}
	if err := j.gate.Job().Run(ctx, p); err != nil {
		return err
	}
	switch j.end {
	case endFail:
		return errScripted
	case endPanic:
		panic(errScripted)
	case endGoexit:
		runtime.Goexit()
	}
	return nil
}

// wantEvent is an event the model expects a job to publish.
type wantEvent struct {
	typ         bgjob.EventType
	state       bgjob.State
	step, total int
	alive       bool
}

func (w wantEvent) String() string {
	return fmt.Sprintf("%s(%s %d/%d alive=%t)", w.typ, w.state, w.step, w.total, w.alive)
}

// msub is a subscriber of the model, read by the test when an action
// says so.
type msub struct {
	n          int
	sub        *bgjob.Subscription
	policy     bgjob.Policy
	backlog    int
	logBacklog int
	audit      *audit
	// The lifecycle events published since it subscribed, and those it
	// received: with an unbuffered channel, what a lossless subscriber
	// holds against its bound is the difference.
	published, read int
	closed          bool  // Close was called
	ended           bool  // its channel is closed and drained
	job             *mjob // the one job it watches (WithJob), or nil for all
	over            bool  // its job's worker_stopped is out: nothing more comes
}

// GoString names the subscriber in rapid's log of what it drew.
func (s *msub) GoString() string { return s.String() }

func (s *msub) String() string {
	if s.job != nil {
		return fmt.Sprintf("sub%d(%s, backlog %d, %v only)", s.n, s.policy, s.backlog, s.job)
	}
	return fmt.Sprintf("sub%d(%s, backlog %d)", s.n, s.policy, s.backlog)
}

// model runs a Runner and the documented model of it side by side.
type model struct {
	r          *bgjob.Runner
	maxRunning int // 0: no limit
	grace      bool

	now      time.Time
	jobs     []*mjob
	byID     map[uuid.UUID]*mjob
	queue    []*mjob
	slots    int
	closed   bool
	final    bool // every job Shutdown waits for has ended: nothing more is published
	finished map[bgjob.State]int
	want     map[*mjob][]wantEvent // what this action publishes

	ref      *stream
	refSub   *bgjob.Subscription
	subs     []*msub
	shutdown chan error
	shutDone bool
	keeper   *mjob
	actions  int
	heldBack int // Starts a full lossless backlog held back
}

// TestRunnerFollowsTheModel runs random sequences of start, progress,
// pause, resume, cancel, timeouts, subscribe (lossless and lagging, with
// small backlogs), reads, unsubscribe and shutdown against a model of the
// documented state machine and delivery rules, in a synctest bubble, so
// that every step is deterministic. After each step: every job's state,
// progress and events are the model's; each subscriber's events are in
// order, each published event received once, folded into a newer one of
// its job, or named (with its job) by a lag notice, never lost silently;
// a lossless subscriber's full backlog holds Start back and a lagging one
// stays within its bound; the counters say what the events say.
func TestRunnerFollowsTheModel(t *testing.T) {
	var cases, actions, jobs int
	var seen modelCoverage
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, func(rt *rapid.T) {
			m := newModel(rt)
			m.check(rt)
			for range rapid.IntRange(10, 300).Draw(rt, "actions") {
				a := rapid.SampledFrom(modelActions).Draw(rt, "action")
				a.do(m, rt)
				m.check(rt)
			}
			m.teardown(rt)
			cases++
			actions += m.actions
			jobs += len(m.jobs)
			seen.add(m)
		})
	})
	t.Logf("model: %d cases, %d actions, %d jobs, every step checked against the model", cases, actions, jobs)
	t.Logf("model: events %v; %d starts held back by a lossless subscriber; %d subscriptions to one job; %d lag notices naming %d events, %d events folded, all accounted for",
		seen.events, seen.heldBack, seen.oneJob, seen.lags, seen.lost, seen.folded)
}

func newModel(t *rapid.T) *model {
	m := &model{
		maxRunning: rapid.SampledFrom([]int{0, 3, 4}).Draw(t, "maxRunning"),
		grace:      rapid.Bool().Draw(t, "grace"),
		byID:       map[uuid.UUID]*mjob{},
		finished:   map[bgjob.State]int{},
		want:       map[*mjob][]wantEvent{},
		ref:        newStream(true),
		shutdown:   make(chan error, 1),
		now:        time.Now(),
	}
	opts := []bgjob.Option{bgjob.WithProgressInterval(modelInterval)}
	if m.maxRunning > 0 {
		opts = append(opts, bgjob.WithMaxRunning(m.maxRunning))
	}
	if m.grace {
		opts = append(opts, bgjob.WithCancelGrace(modelGrace))
	}
	r, err := bgjob.NewRunner(opts...)
	if err != nil {
		t.Fatal(err)
	}
	m.r = r
	// The reference: lossless, with a channel large enough for any one
	// step, read to the end after every step, so it never folds or lags.
	if m.refSub, err = r.Subscribe(bgjob.WithPolicy(bgjob.Lossless), bgjob.WithBuffer(4096)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.abort)
	// The keeper runs from the first instant to the teardown, so that
	// the progress loop ticks at multiples of the interval throughout.
	m.keeper = m.startJob(t, nil, 0)
	return m
}

// modelCoverage counts what the cases did, to show that they reach
// what they are meant to test.
type modelCoverage struct {
	events             map[bgjob.EventType]int
	heldBack, oneJob   int
	lags, lost, folded uint64
}

func (c *modelCoverage) add(m *model) {
	if c.events == nil {
		c.events = map[bgjob.EventType]int{}
	}
	for _, ev := range m.ref.bySeq {
		c.events[ev.Type]++
	}
	c.heldBack += m.heldBack
	for _, s := range m.subs {
		if s.job != nil {
			c.oneJob++
		}
		c.lags += s.audit.lags
		c.lost += s.audit.lost
		c.folded += s.audit.folded
	}
}

// abort ends everything when a check failed midway, so that the bubble
// can end: no goroutine may be left.
func (m *model) abort() {
	for _, s := range m.subs {
		s.sub.Close()
	}
	m.refSub.Close()
	for _, j := range m.jobs {
		if j.h != nil {
			_ = j.h.Cancel(nil)
		}
		if j.stubborn() && j.release != nil {
			select {
			case <-j.release:
			default:
				close(j.release)
			}
		}
	}
	_ = m.r.Shutdown(context.Background())
	if m.closed && !m.shutDone {
		<-m.shutdown
	}
}

// emit records that the Runner publishes an event of j now.
func (m *model) emit(j *mjob, typ bgjob.EventType) {
	if m.final {
		return // the hub is finished: nothing more is published
	}
	m.want[j] = append(m.want[j], wantEvent{typ: typ, state: j.state, step: j.done, total: j.total, alive: j.alive})
	for _, s := range m.subs {
		if s.closed || s.over || s.job != nil && s.job != j {
			continue
		}
		if isLifecycle(typ) {
			s.published++
		}
		// A subscription to one job ends with its worker_stopped, and
		// leaves the Runner then: it holds back no Start after it.
		s.over = s.job != nil && typ == bgjob.EventWorkerStopped
	}
}

// dispatch gives j a worker; its goroutine sets its total and waits at
// its first gate before the step ends.
func (m *model) dispatch(j *mjob, withInfo bool) {
	j.state, j.worker, j.alive, j.slot = bgjob.StateRunning, true, true, true
	m.slots++
	if j.timeout > 0 {
		j.deadline = m.now.Add(j.timeout)
	}
	if withInfo {
		m.emit(j, bgjob.EventInfo)
	}
	m.emit(j, bgjob.EventWorkerStarted)
	if !j.stubborn() {
		j.total, j.at = j.gate.Steps(), 1
	}
}

func (m *model) freeSlot(j *mjob) {
	if !j.slot {
		return
	}
	j.slot = false
	m.slots--
	for len(m.queue) > 0 && (m.maxRunning == 0 || m.slots < m.maxRunning) {
		next := m.queue[0]
		m.queue = m.queue[1:]
		m.dispatch(next, false)
	}
}

func (m *model) finalize() {
	if !m.closed || m.final {
		return
	}
	for _, j := range m.jobs {
		if j.live && j.state != bgjob.StateAbandoned {
			return
		}
	}
	m.final = true
}

// finish is the end of j's run: its last progress if not yet published,
// complete, worker_stopped, and the retirement that frees its slot.
func (m *model) finish(j *mjob, end bgjob.State) {
	if j.done != j.pubStep || j.total != j.pubTotal {
		m.emit(j, bgjob.EventProgress)
		j.pubStep, j.pubTotal = j.done, j.total
	}
	j.state = end
	j.at, j.parkedAt = 0, 0
	j.deadline, j.graceEnd = time.Time{}, time.Time{}
	m.emit(j, bgjob.EventComplete)
	j.alive = false
	m.emit(j, bgjob.EventWorkerStopped)
	j.live = false
	m.finished[end]++
	m.freeSlot(j)
	m.finalize()
}

// stepDone is a gated job past its checkpoint before step n: it counts
// the step, then waits at the next gate or ends.
func (m *model) stepDone(j *mjob, n int) {
	j.done = n
	if n < j.gate.Steps() {
		j.at = n + 1
		return
	}
	j.at = 0
	m.finish(j, j.end.state())
}

// cancelJob is Handle.Cancel, or a timeout, as the model sees it.
func (m *model) cancelJob(j *mjob) error {
	switch {
	case j.state.Terminal():
		return bgjob.ErrJobDone
	case j.state == bgjob.StateCanceling || j.state == bgjob.StateAbandoned:
		return nil
	case j.state == bgjob.StateQueued:
		m.queue = slices.DeleteFunc(m.queue, func(q *mjob) bool { return q == j })
		j.state = bgjob.StateCanceled
		m.emit(j, bgjob.EventComplete)
		m.emit(j, bgjob.EventWorkerStopped)
		j.live = false
		m.finished[bgjob.StateCanceled]++
		m.finalize()
		return nil
	}
	j.state = bgjob.StateCanceling
	if m.grace {
		j.graceEnd = m.now.Add(modelGrace)
	}
	if !j.stubborn() {
		// At a gate or parked at a checkpoint, it returns its context's
		// error at once.
		m.finish(j, bgjob.StateCanceled)
	}
	return nil
}

// startJob starts a job, stubborn when gate is nil, and applies what the
// model says Start does.
func (m *model) startJob(t *rapid.T, gate *bgjobtest.Gate, timeout time.Duration) *mjob {
	j := &mjob{n: len(m.jobs), gate: gate, timeout: timeout}
	if gate == nil {
		j.release = make(chan struct{})
	} else {
		j.end = ending(rapid.IntRange(0, 3).Draw(t, "ending"))
	}
	var opts []bgjob.JobOption
	if timeout > 0 {
		opts = append(opts, bgjob.WithTimeout(timeout))
	}
	blocked := false
	for _, s := range m.subs {
		blocked = blocked || !s.closed && !s.over && s.policy == bgjob.Lossless && s.published-s.read >= s.backlog
	}
	// Start runs on its own goroutine, so that a Start the model does not
	// expect to wait cannot hang the test: if it still waits once
	// everything else is blocked, its context is canceled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		h   *bgjob.Handle
		err error
	}
	res := make(chan result, 1)
	go func() {
		h, err := m.r.Start(ctx, fmt.Sprint("job", j.n), bgjob.JobFunc(j.run), opts...)
		res <- result{h, err}
	}()
	synctest.Wait()
	var got result
	waited := false
	select {
	case got = <-res:
	default:
		waited = true
		cancel()
		got = <-res
	}
	switch {
	case m.closed:
		if !errors.Is(got.err, bgjob.ErrRunnerClosed) {
			t.Fatalf("Start after Shutdown: %v, want ErrRunnerClosed", got.err)
		}
		return nil
	case blocked:
		if !waited || !errors.Is(got.err, context.Canceled) {
			t.Fatalf("Start with a lossless backlog full: waited=%t, err=%v; want it to wait", waited, got.err)
		}
		m.heldBack++
		return nil
	case waited || got.err != nil:
		t.Fatalf("Start: waited=%t, err=%v; want it to return at once", waited, got.err)
	}
	j.h = got.h
	j.live = true
	m.jobs = append(m.jobs, j)
	m.byID[j.h.ID()] = j
	if m.maxRunning == 0 || m.slots < m.maxRunning {
		m.dispatch(j, true)
	} else {
		j.state = bgjob.StateQueued
		m.queue = append(m.queue, j)
		m.emit(j, bgjob.EventInfo)
		m.emit(j, bgjob.EventQueued)
	}
	return j
}

// pick draws one of the jobs ok accepts; nil when there is none, and the
// action does nothing.
func (m *model) pick(t *rapid.T, ok func(*mjob) bool) *mjob {
	var js []*mjob
	for _, j := range m.jobs {
		if j != m.keeper && ok(j) {
			js = append(js, j)
		}
	}
	if len(js) == 0 {
		return nil
	}
	return rapid.SampledFrom(js).Draw(t, "job")
}

// pickMostlyLive draws a live job, or now and then any job, ended ones
// included: what a call does to an ended job is part of the contract too.
func (m *model) pickMostlyLive(t *rapid.T) *mjob {
	any := rapid.IntRange(0, 4).Draw(t, "ended too") == 0
	return m.pick(t, func(j *mjob) bool { return any || j.live })
}

func (m *model) start(t *rapid.T) {
	if len(m.jobs) > 32 {
		return
	}
	var gate *bgjobtest.Gate
	if !rapid.Bool().Draw(t, "stubborn") {
		gate = bgjobtest.NewGate(rapid.IntRange(1, 4).Draw(t, "steps"))
	}
	m.startJob(t, gate, rapid.SampledFrom(modelTimeouts).Draw(t, "timeout"))
}

// step lets a gated job through its gate: it parks if asked to pause,
// and otherwise does the step.
func (m *model) step(t *rapid.T) {
	j := m.pick(t, func(j *mjob) bool { return j.at > 0 })
	if j == nil {
		return
	}
	n := j.at
	j.gate.Release(n)
	j.at = 0
	if j.state == bgjob.StatePausing {
		j.state, j.parkedAt = bgjob.StatePaused, n
		m.emit(j, bgjob.EventPaused)
		return
	}
	m.stepDone(j, n)
}

// log writes a line to a job's log, as the job would: an event while the
// job has not ended, nothing after.
func (m *model) log(t *rapid.T) {
	j := m.pick(t, func(j *mjob) bool { return j.logger.Load() != nil })
	if j == nil {
		return
	}
	j.logger.Load().Info("a line", "n", m.actions)
	if !j.state.Terminal() {
		m.emit(j, bgjob.EventLog)
	}
}

func (m *model) pause(t *rapid.T) {
	j := m.pickMostlyLive(t)
	if j == nil {
		return
	}
	err := j.h.Pause()
	var want error
	switch j.state {
	case bgjob.StateRunning:
		j.state = bgjob.StatePausing
	case bgjob.StatePausing, bgjob.StatePaused:
	default:
		want = bgjob.ErrNotRunning
	}
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("%v: Pause in %s: %v, want %v", j, j.state, err, want)
	}
}

func (m *model) resume(t *rapid.T) {
	j := m.pickMostlyLive(t)
	if j == nil {
		return
	}
	err := j.h.Resume()
	var want error
	switch j.state {
	case bgjob.StateRunning:
		want = bgjob.ErrNotPaused
	case bgjob.StatePausing:
		j.state = bgjob.StateRunning // the request is withdrawn, with no event
	case bgjob.StatePaused:
		j.state = bgjob.StateRunning
		m.emit(j, bgjob.EventResumed) // where it paused: built before the job wakes
		n := j.parkedAt
		j.parkedAt = 0
		m.stepDone(j, n)
	default:
		want = bgjob.ErrNotRunning
	}
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("%v: Resume: %v, want %v", j, err, want)
	}
}

func (m *model) cancel(t *rapid.T) {
	j := m.pickMostlyLive(t)
	if j == nil {
		return
	}
	err := j.h.Cancel(nil)
	if want := m.cancelJob(j); !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("%v: Cancel: %v, want %v", j, err, want)
	}
}

// releaseStubborn lets a stubborn job return: it succeeds, whatever was
// asked of it meanwhile.
func (m *model) releaseStubborn(t *rapid.T) {
	j := m.pick(t, func(j *mjob) bool { return j.stubborn() && j.live && j.worker })
	if j == nil {
		return
	}
	m.releaseJob(j)
}

func (m *model) releaseJob(j *mjob) {
	close(j.release)
	m.finish(j, bgjob.StateSucceeded)
}

// tick lets one progress interval pass: the timers due meanwhile fire in
// order, then the progress loop publishes what changed.
func (m *model) tick(t *rapid.T) {
	end := m.now.Add(modelInterval)
	for {
		var next *mjob
		var at time.Time
		for _, j := range m.jobs {
			for _, d := range []time.Time{j.deadline, j.graceEnd} {
				if !d.IsZero() && !d.After(end) && (next == nil || d.Before(at)) {
					next, at = j, d
				}
			}
		}
		if next == nil {
			break
		}
		m.now = at
		if at.Equal(next.deadline) {
			next.deadline = time.Time{}
			_ = m.cancelJob(next)
		} else {
			next.graceEnd = time.Time{}
			if next.state == bgjob.StateCanceling {
				next.state = bgjob.StateAbandoned
				m.emit(next, bgjob.EventAbandoned)
				m.freeSlot(next)
				m.finalize()
			}
		}
	}
	m.now = end
	for _, j := range m.jobs {
		if j.live && j.worker && j.working() && (j.done != j.pubStep || j.total != j.pubTotal) {
			m.emit(j, bgjob.EventProgress)
			j.pubStep, j.pubTotal = j.done, j.total
		}
	}
	time.Sleep(modelInterval)
}

func (m *model) subscribe(t *rapid.T) {
	if len(m.subs) >= 5 {
		return
	}
	s := &msub{n: len(m.subs), policy: bgjob.Lagging}
	buffer := 0
	if rapid.Bool().Draw(t, "lossless") {
		// Unbuffered, so that what it holds against its bound is exactly
		// what it has not read.
		s.policy = bgjob.Lossless
		s.backlog = rapid.IntRange(2, 6).Draw(t, "backlog")
	} else {
		s.backlog = rapid.IntRange(1, 4).Draw(t, "backlog")
		buffer = rapid.IntRange(0, 2).Draw(t, "buffer")
	}
	s.logBacklog = rapid.IntRange(1, 3).Draw(t, "log backlog")
	opts := []bgjob.SubscribeOption{bgjob.WithPolicy(s.policy), bgjob.WithBacklog(s.backlog), bgjob.WithBuffer(buffer), bgjob.WithLogBacklog(s.logBacklog)}
	if rapid.IntRange(0, 2).Draw(t, "one job") == 0 {
		if s.job = m.pickMostlyLive(t); s.job != nil {
			opts = append(opts, bgjob.WithJob(s.job.h.ID()))
		}
	}
	sub, err := m.r.Subscribe(opts...)
	if m.closed {
		if !errors.Is(err, bgjob.ErrRunnerClosed) {
			t.Fatalf("Subscribe after Shutdown: %v, want ErrRunnerClosed", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	s.sub = sub
	s.audit = newAudit(m.ref, s.policy)
	m.subs = append(m.subs, s)
	// The snapshot holds the live jobs, or the one job, as they are.
	var want, got []string
	for _, j := range m.jobs {
		if s.job == nil && j.live || s.job == j {
			want = append(want, fmt.Sprint(j.h.ID(), j.state))
		}
	}
	if s.job != nil {
		s.audit.job = s.job.h.ID()
		s.over = !s.job.live // a job that has ended: the channel closes at once
	}
	for _, st := range sub.Snapshot() {
		got = append(got, fmt.Sprint(st.ID, st.State))
	}
	if !slices.Equal(want, got) {
		t.Fatalf("%v: snapshot %v, want %v", s, got, want)
	}
}

// read receives up to n events of a subscriber, as many as it can
// without waiting.
func (m *model) read(t *rapid.T) {
	s := m.pickSub(t)
	if s == nil {
		return
	}
	n := rapid.IntRange(1, 8).Draw(t, "events")
	for range n {
		if !m.receive(t, s) {
			return
		}
	}
}

// receive takes one event from s if one is ready, once everything else
// is blocked, and audits it.
func (m *model) receive(t *rapid.T, s *msub) bool {
	synctest.Wait()
	select {
	case ev, ok := <-s.sub.Events():
		if !ok {
			s.ended = true
			return false
		}
		if err := s.audit.receive(ev); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if isLifecycle(ev.Type) {
			s.read++
		}
		return true
	default:
		return false
	}
}

func (m *model) pickSub(t *rapid.T) *msub {
	var ss []*msub
	for _, s := range m.subs {
		if !s.closed {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		return nil
	}
	return rapid.SampledFrom(ss).Draw(t, "sub")
}

// close unsubscribes: what its channel already holds can still be read,
// then it is closed; what it held behind the channel is discarded.
func (m *model) close(t *rapid.T) {
	s := m.pickSub(t)
	if s == nil {
		return
	}
	s.sub.Close()
	s.closed = true
	m.drain(t, s)
	if err := s.audit.covered(s.audit.last); err != nil {
		t.Fatalf("%v, closed: %v", s, err)
	}
	if st := s.sub.Stats(); st.Delivered != s.audit.received+s.audit.lags {
		t.Fatalf("%v, closed: delivered %d, received %d", s, st.Delivered, s.audit.received+s.audit.lags)
	}
}

// drain reads s until its channel is closed, which it must be by now.
func (m *model) drain(t *rapid.T, s *msub) {
	for !s.ended {
		if !m.receive(t, s) && !s.ended {
			t.Fatalf("%v: channel not closed, nothing to read", s)
		}
	}
}

func (m *model) beginShutdown(t *rapid.T) {
	if m.closed {
		return
	}
	m.closed = true
	go func() { m.shutdown <- m.r.Shutdown(context.Background()) }()
	m.finalize()
}

// modelAction is one thing the test does to the Runner, or lets happen.
type modelAction struct {
	name string
	do   func(*model, *rapid.T)
}

func (a modelAction) String() string { return a.name }

// GoString names the action in rapid's log of what it drew.
func (a modelAction) GoString() string { return a.name }

// modelActions lists the actions, each as often as it is drawn: starts,
// steps, ticks and reads often, so that runs get busy; shutdown rarely,
// since nothing starts after it.
var modelActions = weighted([]modelAction{
	{"start", (*model).start}, {"start", nil}, {"start", nil}, {"start", nil},
	{"step", (*model).step}, {"step", nil}, {"step", nil}, {"step", nil}, {"step", nil},
	{"pause", (*model).pause}, {"pause", nil}, {"pause", nil},
	{"resume", (*model).resume}, {"resume", nil},
	{"cancel", (*model).cancel}, {"cancel", nil},
	{"release", (*model).releaseStubborn},
	{"tick", (*model).tick}, {"tick", nil}, {"tick", nil}, {"tick", nil},
	{"subscribe", (*model).subscribe}, {"subscribe", nil},
	{"read", (*model).read}, {"read", nil}, {"read", nil}, {"read", nil},
	{"log", (*model).log}, {"log", nil}, {"log", nil},
	{"close", (*model).close},
	{"shutdown", (*model).beginShutdown},
})

// weighted fills in the repeated entries (do nil) with the action of the
// same name given before them.
func weighted(as []modelAction) []modelAction {
	for i := range as {
		if as[i].do == nil {
			as[i].do = as[i-1].do
		}
	}
	return as
}

// check holds the invariants after each action.
func (m *model) check(t *rapid.T) {
	m.actions++
	synctest.Wait()
	m.checkEvents(t)
	m.checkStatus(t)
	m.checkSubscribers(t)
	if !m.shutDone {
		select {
		case err := <-m.shutdown:
			m.shutDone = true
			if err != nil || !m.final {
				t.Fatalf("Shutdown returned %v with jobs left to wait for: %t", err, !m.final)
			}
		default:
			if m.final {
				t.Fatalf("Shutdown still waits, with no job left to wait for")
			}
		}
	}
}

// checkEvents reads what the reference received during the action and
// compares each job's events with the model's.
func (m *model) checkEvents(t *rapid.T) {
	got := map[*mjob][]wantEvent{}
	for done := false; !done; {
		select {
		case ev, ok := <-m.refSub.Events():
			if !ok {
				done = true
				if !m.final {
					t.Fatalf("the reference subscription ended before Shutdown finished")
				}
				break
			}
			if err := m.ref.add(ev); err != nil {
				t.Fatal(err)
			}
			j := m.byID[ev.JobID]
			if j == nil {
				t.Fatalf("%s of a job the model did not start: %v", ev.Type, ev.JobID)
			}
			got[j] = append(got[j], wantEvent{typ: ev.Type, state: ev.State, step: int(ev.Step), total: int(ev.Total), alive: ev.Alive})
		default:
			done = true
		}
	}
	for j, want := range m.want {
		if !slices.Equal(got[j], want) {
			t.Fatalf("%v published %v, the model says %v", j, got[j], want)
		}
		delete(got, j)
	}
	for j, evs := range got {
		t.Fatalf("%v published %v, the model says nothing", j, evs)
	}
	clear(m.want)
}

// checkStatus compares every job's status, and the Runner's, with the
// model.
func (m *model) checkStatus(t *rapid.T) {
	counts := map[bgjob.State]int{}
	maps.Copy(counts, m.finished)
	var live []uuid.UUID
	anyRunning := false
	for _, j := range m.jobs {
		st := j.h.Status()
		if st.State != j.state || st.Alive != j.alive || st.HasWorker != j.worker ||
			int(st.Step) != j.done || int(st.Total) != j.total {
			t.Fatalf("%v: status %s alive=%t worker=%t %d/%d, the model says %s alive=%t worker=%t %d/%d",
				j, st.State, st.Alive, st.HasWorker, st.Step, st.Total, j.state, j.alive, j.worker, j.done, j.total)
		}
		if j.live {
			counts[j.state]++
			live = append(live, j.h.ID())
			anyRunning = anyRunning || j.alive
		}
	}
	rs := m.r.GetStatus()
	var gotLive []uuid.UUID
	for _, st := range rs.Jobs {
		gotLive = append(gotLive, st.ID)
	}
	maps.DeleteFunc(rs.Counts, func(_ bgjob.State, n int) bool { return n == 0 })
	if !maps.Equal(rs.Counts, counts) || !slices.Equal(gotLive, live) || rs.AnyRunning != anyRunning || rs.Closed != m.closed {
		t.Fatalf("runner status: counts %v, %d live, running %t, closed %t; the model says %v, %d, %t, %t",
			rs.Counts, len(gotLive), rs.AnyRunning, rs.Closed, counts, len(live), anyRunning, m.closed)
	}
}

// checkSubscribers holds each subscriber's bound and counters while it
// is read now and then.
func (m *model) checkSubscribers(t *rapid.T) {
	for _, s := range m.subs {
		if s.closed {
			continue
		}
		st := s.sub.Stats()
		inChannel := uint64(len(s.sub.Events()))
		if st.Delivered != s.audit.received+s.audit.lags+inChannel {
			t.Fatalf("%v: delivered %d, received %d with %d in the channel", s, st.Delivered, s.audit.received+s.audit.lags, inChannel)
		}
		// A log line lost in a run of losses is named by the notice and
		// counted with the log lines dropped.
		if st.Lags < s.audit.lags || st.Lost+st.LogDropped < s.audit.lost || st.Coalesced < s.audit.folded {
			t.Fatalf("%v: stats %+v count less than the events received say", s, st)
		}
		// The bound plus two lag notices (one in the sender's hands, one
		// queued behind it), the log lane, and the log lines the sender
		// may have taken (design.md).
		if bound := s.backlog + 2 + s.logBacklog + 64; s.policy == bgjob.Lagging && st.MaxPending > bound {
			t.Fatalf("%v: %d events pending, more than its bound of %d", s, st.MaxPending, bound)
		}
		if s.policy == bgjob.Lossless && (st.Lost != 0 || st.Lags != 0) {
			t.Fatalf("%v: a lossless subscriber lost %d events", s, st.Lost)
		}
	}
}

// teardown ends the case: the jobs are released or canceled, the Runner
// shut down, and every subscriber read to the end of its channel, which
// must then account for every event published after it subscribed.
func (m *model) teardown(t *rapid.T) {
	for _, j := range slices.Clone(m.jobs) {
		if j == m.keeper || !j.live {
			continue
		}
		if j.stubborn() && j.worker {
			m.releaseJob(j)
		} else {
			_ = j.h.Cancel(nil)
			_ = m.cancelJob(j)
		}
		m.check(t)
	}
	if !m.closed {
		m.beginShutdown(t)
	}
	m.releaseJob(m.keeper)
	m.check(t)
	for _, s := range m.subs {
		if s.closed {
			continue
		}
		m.drain(t, s)
		st := s.sub.Stats()
		if err := s.audit.covered(m.ref.last); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if err := s.audit.accountsFor(m.ref.last, st); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if err := s.audit.settled(st); err != nil {
			t.Fatalf("%v: %v", s, err)
		}
	}
}
