package termview

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
)

// DefaultPlainEvery is how often, at most, plain mode prints a progress
// line for a job when Options.PlainEvery is zero.
const DefaultPlainEvery = 10 * time.Second

// Options configures a View. The zero value decides everything from the
// writer.
type Options struct {
	// Live, when set, forces live mode (true) or plain mode (false).
	// When nil, New decides from the writer and the environment.
	Live *bool
	// Width is the columns of the live lines. Zero asks the terminal, at
	// every redraw so that a resized window is followed, and takes 100
	// when there is none. In plain mode it sets only the bar's width:
	// plain lines are never cut.
	Width int
	// PlainEvery is the least time between two progress lines of one job
	// in plain mode, measured by the events' own Time so that the output
	// depends on the events alone; zero means DefaultPlainEvery. The last
	// progress before a job completes is always printed.
	PlainEvery time.Duration
	// Brief tells the lifecycle in one short line per event in plain mode
	// too, as live mode always does: for a log or a pipe read by people
	// rather than by tools.
	Brief bool
}

// View shows the jobs of a bgjob.Runner on a terminal, from their events.
//
// In live mode, it keeps at the bottom of the terminal one line for each
// job that has not completed, in the order the jobs started, redrawn in
// place at each event; everything else — the jobs' lifecycle, their log
// lines, the caller's own lines (Println) — is printed above that area,
// and scrolls as a log does. In plain mode, for a file, a pipe or a
// terminal that asked for no ANSI, it prints the same lines one after the
// other, with no escape sequence at all, and at most one progress line per
// job every Options.PlainEvery.
//
// While a live View is open, whatever else is written to its terminal
// should go through Println: a line written past the view is drawn over,
// or breaks the redraw of the live area, whose height the view counts.
//
// A View is safe for concurrent use: each call writes what it has to
// write in one Write to the writer, under a lock, so that calls never
// interleave. A View starts no goroutine. Errors writing to the writer are
// ignored: a view has no one to report them to, and a terminal that fails
// does not fail the jobs.
type View struct {
	w     io.Writer
	out   output
	width int           // Options.Width
	every time.Duration // Options.PlainEvery, defaulted
	brief bool          // Options.Brief, or live

	mu     sync.Mutex // guards the fields below, and every write to w
	jobs   map[uuid.UUID]*job
	order  []*job       // the live jobs, in the order they were first seen
	drawn  []string     // the live area as on the screen, top to bottom
	buf    bytes.Buffer // the output of the call being handled
	closed bool
}

// New returns a View that writes to w, which must not be nil.
//
// Unless Options.Live says otherwise, the view is live when w is an
// *os.File on a terminal (golang.org/x/term.IsTerminal), the environment
// variable NO_COLOR is not set (to any value, even empty) and TERM is not
// "dumb"; it is plain otherwise. A live view colours its state words
// unless NO_COLOR is set or TERM is "dumb", even when forced.
func New(w io.Writer, o Options) *View {
	v := &View{
		w:     w,
		out:   detect(w, o.Live),
		width: max(o.Width, 0),
		every: o.PlainEvery,
		jobs:  make(map[uuid.UUID]*job),
	}
	v.brief = o.Brief || v.out.live
	if v.every <= 0 {
		v.every = DefaultPlainEvery
	}
	return v
}

// Event shows ev: it updates the job's line, and prints what ev tells
// above the live area, or as a line of its own in plain mode. Events of a
// job must come in the order the Runner published them, as a
// Subscription delivers them. After Close, Event does nothing.
func (v *View) Event(ev bgjob.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.show(v.handle(ev))
}

// Println prints a line of the caller's own, formatted as fmt.Println
// does: above the live area in live mode, so that it is not overwritten,
// and as it is in plain mode. After Close it is printed plainly.
func (v *View) Println(a ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.show(textLines(fmt.Sprintln(a...)))
}

// Close clears the live area, leaving the cursor where the area began, so
// that the terminal holds only what was printed above it; the lines of
// jobs still running are gone with it. A closed View ignores events. Close
// is safe to call more than once.
func (v *View) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.closed = true
	if len(v.drawn) > 0 {
		fmt.Fprintf(&v.buf, "\x1b[%dA\x1b[J", len(v.drawn))
		v.drawn = nil
	}
	v.flush()
}

// seed shows the jobs of a subscription's snapshot, as they were when the
// subscription began, so that Watch shows the jobs that started before it.
func (v *View) seed(statuses []bgjob.JobStatus) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	for _, s := range statuses {
		if !s.State.Terminal() && v.jobs[s.ID] == nil {
			v.add(jobFromStatus(s))
		}
	}
	v.show(nil)
}

// handle takes ev into the view's jobs and returns the lines it prints
// above the live area (in plain mode, the lines it prints). Called with
// v.mu held.
func (v *View) handle(ev bgjob.Event) []string {
	switch ev.Type {
	case bgjob.EventProgress:
		j := v.track(ev)
		if j == nil {
			return nil
		}
		j.update(ev)
		if v.out.live {
			return nil
		}
		return v.throttle(j, ev.Time)
	case bgjob.EventInfo, bgjob.EventQueued, bgjob.EventWorkerStarted,
		bgjob.EventPaused, bgjob.EventResumed, bgjob.EventStalled,
		bgjob.EventUnstalled, bgjob.EventAbandoned:
		if j := v.track(ev); j != nil {
			j.update(ev)
		}
		return v.lifecycleText(ev)
	case bgjob.EventComplete:
		var lines []string
		if j := v.jobs[ev.JobID]; j != nil {
			j.update(ev)
			lines = v.lastRow(j)
			v.remove(j)
		}
		return append(lines, v.lifecycleText(ev)...)
	case bgjob.EventWorkerStopped:
		var lines []string
		if j := v.jobs[ev.JobID]; j != nil {
			// Its complete was lost to a lag: what it held back goes now.
			lines = v.lastRow(j)
			v.remove(j)
		}
		return append(lines, v.lifecycleText(ev)...)
	case bgjob.EventLagged:
		for _, id := range ev.LagJobs {
			if j := v.jobs[id]; j != nil {
				j.stale = true
			}
		}
		return v.lifecycleText(ev)
	default:
		// A log line, or a type this package does not know: it neither
		// makes nor changes a job's line, since log lines travel apart
		// and may trail their job's end.
		return v.lifecycleText(ev)
	}
}

// track returns the job ev is about, adding it to the live area if it is
// new and not ended; nil for an ended job the view does not know.
func (v *View) track(ev bgjob.Event) *job {
	if j := v.jobs[ev.JobID]; j != nil {
		return j
	}
	if ev.State.Terminal() {
		return nil
	}
	j := newJob(ev)
	v.add(j)
	return j
}

// add adds j at the end of the live area.
func (v *View) add(j *job) {
	v.jobs[j.id] = j
	v.order = append(v.order, j)
}

// remove takes j out of the live area.
func (v *View) remove(j *job) {
	delete(v.jobs, j.id)
	v.order = slices.DeleteFunc(v.order, func(o *job) bool { return o == j })
}

// throttle returns j's progress line if one is due in plain mode, by the
// event's time, and keeps it back otherwise, for lastRow.
func (v *View) throttle(j *job, at time.Time) []string {
	row := v.plainLayout().render(j)
	if j.printed && at.Sub(j.printedAt) < v.every {
		j.pendingRow = row
		return nil
	}
	j.printed, j.printedAt, j.pendingRow = true, at, ""
	return []string{row}
}

// lastRow returns the line a job leaves behind when it ends. In live mode
// it is the job's final line, as tqdm leaves its bar, with the outcome
// for a state word and the run's average rate; in plain mode, the last
// progress line, if it was held back.
func (v *View) lastRow(j *job) []string {
	if !v.out.live {
		if j.pendingRow == "" {
			return nil
		}
		row := j.pendingRow
		j.pendingRow = ""
		return []string{row}
	}
	if !j.hasProgress() {
		return nil
	}
	cols, _ := v.size()
	return []string{layoutFor(v.order, cols, true, v.out.colour).render(j)}
}

// plainLayout returns the layout of plain lines, aligned for the jobs that
// run.
func (v *View) plainLayout() layout {
	cols, _ := v.size()
	return layoutFor(v.order, cols, false, false)
}

// show prints lines above the live area and redraws the area (live), or
// prints them (plain), in one write. Called with v.mu held.
func (v *View) show(lines []string) {
	if v.out.live && !v.closed {
		v.redraw(lines)
	} else {
		for _, l := range lines {
			v.buf.WriteString(l)
			v.buf.WriteByte('\n')
		}
	}
	v.flush()
}

// flush writes what the call produced. Called with v.mu held.
func (v *View) flush() {
	if v.buf.Len() > 0 {
		_, _ = v.w.Write(v.buf.Bytes()) // see View: errors are ignored
		v.buf.Reset()
	}
}
