package reliability

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
)

var chaosSeed = flag.Uint64("chaos.seed", 0, "seed of TestChaos's random choices; 0 draws a new one (the test logs it)")

const chaosJobs = 10_000

// fate is how a job of the chaos test ends, and what is done to it.
type fate uint8

const (
	fateSucceed      fate = iota
	fateFail              // returns an error
	fatePanic             // panics
	fateGoexit            // calls runtime.Goexit
	fateCancel            // canceled while it runs
	fateCancelAtOnce      // canceled right after Start, often still queued
	fateTimeout           // runs past its timeout
	fateStubborn          // ignores its cancellation past the grace: abandoned, then returns
	fatePause             // paused, then resumed, then succeeds
	fates
)

var fateNames = [...]string{"succeed", "fail", "panic", "goexit", "cancel", "cancel at once", "timeout", "ignore cancel", "pause and resume"}

func (f fate) String() string { return fateNames[f] }

const (
	chaosGrace   = 20 * time.Millisecond
	chaosStep    = time.Millisecond
	chaosRunning = 64
)

var (
	errChaos       = errors.New("chaos: scripted failure")
	errChaosCancel = errors.New("chaos: canceled by the test")
)

// chaosJob is one job of the chaos test: its script, and its handle.
type chaosJob struct {
	fate    fate
	steps   int
	delay   time.Duration // before the test acts on it
	started chan struct{}
	h       *bgjob.Handle
}

func (c *chaosJob) run(ctx context.Context, p *bgjob.Progress) error {
	close(c.started)
	if c.fate == fateStubborn {
		time.Sleep(c.delay + chaosGrace + 10*time.Millisecond) // deaf to ctx
		return nil
	}
	p.SetTotal(int64(c.steps))
	log := p.Logger()
	for i := range c.steps {
		if err := p.Checkpoint(); err != nil {
			return err
		}
		time.Sleep(chaosStep)
		p.Add(1)
		_ = p.Metric("loss", 1/float64(i+1))
		if i%4 == 0 {
			log.Info("step", "i", i, "fate", c.fate.String())
		}
	}
	switch c.fate {
	case fateFail:
		return errChaos
	case fatePanic:
		panic(errChaos)
	case fateGoexit:
		runtime.Goexit()
	case fateCancel, fateCancelAtOnce, fateTimeout:
		return errors.New("chaos: ran to the end, never canceled")
	}
	return nil
}

// control does to the job what its fate says, from the test's side.
func (c *chaosJob) control() {
	switch c.fate {
	case fateCancelAtOnce:
		_ = c.h.Cancel(errChaosCancel)
		return
	case fateCancel, fateStubborn, fatePause:
	default:
		return
	}
	<-c.started
	time.Sleep(c.delay)
	if c.fate != fatePause {
		_ = c.h.Cancel(errChaosCancel)
		return
	}
	_ = c.h.Pause()
	time.Sleep(5 * time.Millisecond)
	_ = c.h.Resume()
}

// want is the state the job must end in, and a check of its error.
func (c *chaosJob) want() (bgjob.State, func(error) bool) {
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	switch c.fate {
	case fateFail:
		return bgjob.StateFailed, is(errChaos)
	case fatePanic:
		return bgjob.StateFailed, func(err error) bool {
			var pe *bgjob.PanicError
			return errors.As(err, &pe) && errors.Is(err, errChaos)
		}
	case fateGoexit:
		return bgjob.StateFailed, func(err error) bool { return err != nil }
	case fateCancel, fateCancelAtOnce:
		return bgjob.StateCanceled, is(errChaosCancel)
	case fateTimeout:
		return bgjob.StateCanceled, is(bgjob.ErrTimeout)
	}
	return bgjob.StateSucceeded, func(err error) bool { return err == nil }
}

// record is what the chaos test keeps of an event: enough to audit it,
// a tenth of its size.
type record struct {
	seq, lagFirst, lagLast uint64
	job                    uuid.UUID
	typ                    bgjob.EventType
	state                  bgjob.State
	folded                 int32
	lagMore                bool
	lagJobs                []uuid.UUID
}

func recordOf(ev bgjob.Event) record {
	return record{ev.Seq, ev.LagFirst, ev.LagLast, ev.JobID, ev.Type, ev.State, int32(ev.Folded), ev.LagMore, ev.LagJobs}
}

func (r record) event() bgjob.Event {
	return bgjob.Event{Seq: r.seq, LagFirst: r.lagFirst, LagLast: r.lagLast, JobID: r.job, Type: r.typ,
		State: r.state, Folded: int(r.folded), LagMore: r.lagMore, LagJobs: r.lagJobs}
}

// reader is a subscriber of the chaos test and the way it reads.
type reader struct {
	name   string
	opts   []bgjob.SubscribeOption
	policy bgjob.Policy
	// read paces the reader: it is called before each event is received
	// and reports false once the reader walks away.
	read func(n int) bool

	// bound is what a lagging subscriber may hold pending, as design.md
	// puts it: its backlog, two lag notices, its log lane and the 64 log
	// lines its sender may have taken.
	bound int

	sub    *bgjob.Subscription
	events []record
	quit   bool // it closed its subscription midway
}

// TestChaos runs 10,000 jobs whose fates are drawn at random — succeed,
// fail, panic, runtime.Goexit, canceled while queued or running, timed
// out, deaf to their cancellation until abandoned, paused and resumed —
// all logging and reporting progress and a metric, while subscribers read
// at once, slowly, in bursts, never until the end, or walk away midway.
// Then: every lifecycle event reached every subscriber that was there,
// or was named, with its job, by a lag notice; the lossless ones lost
// nothing; each job's lifecycle is whole and in order, and its final
// state is what its events say and what its fate wants; every counter is exact; no goroutine is left. It runs in a
// synctest bubble, so the jobs' hours of sleeps take no time.
//
// The seed is logged; -chaos.seed replays the same choices.
func TestChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("chaos: seed %d (replay with -chaos.seed=%d)", seed, seed)
	began := time.Now()
	synctest.Test(t, func(t *testing.T) { runChaos(t, seed) })
	// synctest.Test has waited for every goroutine of the bubble; none of
	// the Runner's may be left outside it either.
	goleak.VerifyNone(t)
	t.Logf("chaos: %v of real time", time.Since(began).Round(time.Millisecond))
}

func runChaos(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := time.Now()
	r, err := bgjob.NewRunner(
		bgjob.WithMaxRunning(chaosRunning),
		bgjob.WithCancelGrace(chaosGrace),
		bgjob.WithProgressInterval(5*time.Millisecond),
		bgjob.WithLogLimit(8),
		bgjob.WithHistoryLimit(100),
	)
	if err != nil {
		t.Fatal(err)
	}
	allDone := make(chan struct{})
	readers := []*reader{
		// The reference: every lifecycle event, nothing lost, nothing folded.
		{name: "reference", policy: bgjob.Lossless, opts: []bgjob.SubscribeOption{
			bgjob.WithTypes(lifecycleTypes...), bgjob.WithBuffer(1024), bgjob.WithBacklog(1 << 20)}},
		{name: "lossless", policy: bgjob.Lossless, opts: []bgjob.SubscribeOption{bgjob.WithBacklog(256)}},
		{name: "lossless, slow", policy: bgjob.Lossless, opts: []bgjob.SubscribeOption{bgjob.WithBacklog(32), bgjob.WithBuffer(0)},
			read: func(n int) bool { time.Sleep(50 * time.Microsecond); return true }},
		{name: "stalled until the end", policy: bgjob.Lagging, bound: 64 + 2 + bgjob.DefaultLogBacklog + 64, opts: []bgjob.SubscribeOption{bgjob.WithBacklog(64), bgjob.WithBuffer(16)},
			read: func(n int) bool {
				if n == 0 {
					<-allDone
				}
				return true
			}},
		{name: "slow", policy: bgjob.Lagging, bound: 16 + 2 + 8 + 64, opts: []bgjob.SubscribeOption{bgjob.WithBacklog(16), bgjob.WithBuffer(4), bgjob.WithLogBacklog(8)},
			read: func(n int) bool { time.Sleep(200 * time.Microsecond); return true }},
		{name: "in bursts", policy: bgjob.Lagging, bound: 128 + 2 + bgjob.DefaultLogBacklog + 64, opts: []bgjob.SubscribeOption{bgjob.WithBacklog(128), bgjob.WithBuffer(0)},
			read: func(n int) bool {
				if n%300 == 299 {
					time.Sleep(40 * time.Millisecond)
				}
				return true
			}},
		{name: "walks away midway", policy: bgjob.Lagging, bound: 100 + 2 + bgjob.DefaultLogBacklog + 64, opts: []bgjob.SubscribeOption{bgjob.WithBacklog(100)},
			read: func(n int) bool { return n < 20_000 }},
	}
	var wg sync.WaitGroup
	for _, rd := range readers {
		rd.opts = append([]bgjob.SubscribeOption{bgjob.WithPolicy(rd.policy)}, rd.opts...)
		if rd.sub, err = r.Subscribe(rd.opts...); err != nil {
			t.Fatal(err)
		}
		wg.Go(rd.run)
	}

	jobs := make([]*chaosJob, chaosJobs)
	var faults [fates]int
	var controls sync.WaitGroup
	for i := range jobs {
		c := &chaosJob{fate: fate(rng.IntN(int(fates))), steps: 1 + rng.IntN(40), started: make(chan struct{})}
		c.delay = time.Duration(rng.IntN(c.steps)) * chaosStep
		var opts []bgjob.JobOption
		switch c.fate {
		case fateCancel, fateCancelAtOnce, fateTimeout:
			c.steps = 1000 // runs until it is canceled
			if c.fate == fateTimeout {
				opts = append(opts, bgjob.WithTimeout(time.Duration(1+rng.IntN(30))*chaosStep))
			}
		}
		faults[c.fate]++
		if c.h, err = r.Start(context.Background(), fmt.Sprint("chaos-", i), bgjob.JobFunc(c.run), opts...); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		jobs[i] = c
		controls.Go(c.control)
		if i%50 == 49 {
			time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
		}
	}
	controls.Wait()
	for _, c := range jobs {
		<-c.h.Done()
	}
	close(allDone)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	checkChaos(t, jobs, readers)
	t.Logf("chaos: %d jobs in %v of the bubble's time; fates: %v", len(jobs), time.Since(start).Round(time.Millisecond), faultsString(faults))
}

func faultsString(f [fates]int) string {
	s := ""
	for i, n := range f {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", fate(i), n)
	}
	return s
}

// lifecycleAfter counts the lifecycle events of ref the subscriber audited
// by a was there for: all of them, or up to where it walked away.
func lifecycleAfter(ref *stream, a *audit) int {
	n := 0
	for seq := range ref.bySeq {
		if seq > a.from && seq <= a.last {
			n++
		}
	}
	return n
}

func (rd *reader) run() {
	for n := 0; ; n++ {
		if rd.read != nil && !rd.read(n) {
			rd.quit = true
			rd.sub.Close()
			// What its channel held when it walked away may still be read.
			for ev := range rd.sub.Events() {
				rd.events = append(rd.events, recordOf(ev))
			}
			return
		}
		ev, ok := <-rd.sub.Events()
		if !ok {
			return
		}
		rd.events = append(rd.events, recordOf(ev))
	}
}

// checkChaos audits what each reader received against the reference,
// and each job's end against its events and its fate.
func checkChaos(t *testing.T, jobs []*chaosJob, readers []*reader) {
	ref := newStream(false)
	for _, rec := range readers[0].events {
		if err := ref.add(rec.event()); err != nil {
			t.Fatalf("reference: %v", err)
		}
	}
	// Every job's lifecycle, as the reference received it, is whole and in
	// order; its end is its status and what its fate wants; it was
	// abandoned exactly when its fate ignores cancellation.
	abandoned := 0
	for i, c := range jobs {
		var evs []bgjob.Event
		var complete bgjob.State
		wasAbandoned := false
		for _, seq := range ref.byJob[c.h.ID()] {
			ev := ref.bySeq[seq]
			evs = append(evs, ev)
			switch ev.Type {
			case bgjob.EventComplete:
				complete = ev.State
			case bgjob.EventAbandoned:
				wasAbandoned = true
				abandoned++
			}
		}
		if err := bgjobtest.CheckLifecycle(evs); err != nil {
			t.Errorf("job %d (%s): %v", i, c.fate, err)
		}
		if wasAbandoned != (c.fate == fateStubborn) {
			t.Errorf("job %d (%s): abandoned %t", i, c.fate, wasAbandoned)
		}
		st := c.h.Status()
		want, errOK := c.want()
		if complete != st.State || st.State != want || !errOK(st.Err) {
			t.Errorf("job %d (%s): status %s (%v), complete event %s, want %s", i, c.fate, st.State, st.Err, complete, want)
		}
	}
	t.Logf("chaos: %d events published, %d lifecycle events, %d jobs abandoned and then returned", ref.last, len(ref.bySeq), abandoned)

	for _, rd := range readers[1:] {
		a := newAudit(ref, rd.policy)
		a.from = 0
		a.last = 0
		for _, rec := range rd.events {
			if err := a.receive(rec.event()); err != nil {
				t.Fatalf("%s: %v", rd.name, err)
			}
		}
		st := rd.sub.Stats()
		if rd.bound > 0 && st.MaxPending > rd.bound {
			t.Errorf("%s: held %d events pending, more than its bound of %d", rd.name, st.MaxPending, rd.bound)
		}
		upTo := ref.last
		if rd.quit {
			upTo = a.last
		}
		if err := a.covered(upTo); err != nil {
			t.Errorf("%s: %v", rd.name, err)
		}
		if rd.quit {
			if st.Delivered != a.received+a.lags {
				t.Errorf("%s: delivered %d, received %d", rd.name, st.Delivered, a.received+a.lags)
			}
		} else {
			if err := a.settled(st); err != nil {
				t.Errorf("%s: %v", rd.name, err)
			}
			if err := a.accountsFor(ref.last, st); err != nil {
				t.Errorf("%s: %v", rd.name, err)
			}
		}
		t.Logf("chaos: %-22s received %6d events, %5d lag notices naming %6d, %5d folded, %5d log lines dropped, at most %5d pending; lifecycle events: %5d received + %5d named by lag notices, of %5d",
			rd.name, a.received, a.lags, a.lost, a.folded, st.LogDropped, st.MaxPending, a.lifecycleReceived, a.lifecycleNamed, lifecycleAfter(ref, a))
	}
}
