// Command bgjob-demo trains small neural networks in the background with
// bgjob while the foreground prints the event stream and polls the status.
//
//	go run ./cmd/bgjob-demo                 # three training jobs, two at a time, one paused
//	                                        # and resumed, and one that stalls for a while
//	go run ./cmd/bgjob-demo -fail -panic    # plus a job that fails and one that panics
//	go run ./cmd/bgjob-demo -cancel-one     # cancel one job with a reason
//	go run ./cmd/bgjob-demo -cancel-after 2s
//	go run ./cmd/bgjob-demo -http 127.0.0.1:8080  # and a web dashboard of the jobs
//
// On a terminal it keeps a live line per running job (bgjob's termview);
// piped, or with NO_COLOR or TERM=dumb, it prints plain lines. By default
// it prints the lifecycle of each job and ends with a table of the runs;
// -v prints every event, the status every two seconds, and each run's log
// tail and timeline. It exits with status 0 when every job succeeded, 1
// otherwise.
//
// With -http it also serves bgjob's dashboard on that address: the jobs
// live, their loss curves, logs and events, pause, resume and cancel from
// this machine. It keeps serving after the training, with the runs in the
// history, until interrupted (Ctrl-C). An interrupt during the training
// cancels the jobs that still run, and the demo ends with its table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/termview"
)

type options struct {
	jobs        int
	epochs      int
	samples     int
	fail        bool
	panic       bool
	cancelAfter time.Duration
	interval    time.Duration
	live        *bool // force the live view on or off; nil: decide from the terminal
	verbose     bool  // every event, the status, log tails and timelines
	limit       int   // jobs running at once
	pause       time.Duration
	stall       bool
	stallFor    time.Duration // how long the stalling job hangs
	cancelOne   bool
	httpAddr    string           // serve the dashboard here; "": no HTTP
	onServe     func(url string) // called once the dashboard is served
}

func main() {
	var o options
	flag.IntVar(&o.jobs, "jobs", 3, "number of training jobs in all (-limit of them run at a time)")
	flag.IntVar(&o.epochs, "epochs", 30, "epochs per training job")
	flag.IntVar(&o.samples, "samples", 60000, "training samples per job")
	flag.BoolVar(&o.fail, "fail", false, "add a job whose training diverges and fails")
	flag.BoolVar(&o.panic, "panic", false, "add a job that panics")
	flag.DurationVar(&o.cancelAfter, "cancel-after", 0, "cancel the jobs still running after this long (0: never)")
	flag.DurationVar(&o.interval, "interval", 0, "progress event interval (default 250ms)")
	flag.IntVar(&o.limit, "limit", 2, "jobs running at once; the others wait in the queue")
	flag.DurationVar(&o.pause, "pause", 2*time.Second, "pause the first job this long, one second in (0: never)")
	flag.BoolVar(&o.stall, "stall", true, "add a job that hangs for a while, so that it is reported stalled")
	flag.BoolVar(&o.cancelOne, "cancel-one", false, "cancel the second job with a reason")
	flag.BoolVar(&o.verbose, "v", false, "print every event, the status every 2s, and each run's log tail and timeline")
	flag.StringVar(&o.httpAddr, "http", "", "serve a web dashboard of the jobs on this address (host:port), until interrupted")
	o.stallFor = 2500 * time.Millisecond
	flag.Parse()
	// An interrupt cancels what still runs, and ends the dashboard.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Stdout, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgjob-demo:", err)
	}
	os.Exit(code)
}

// run runs the demo and returns the exit status.
func run(ctx context.Context, out io.Writer, o options) (int, error) {
	if o.jobs < 0 || o.epochs < 1 || o.samples < 1 || o.limit < 1 || o.pause < 0 {
		return 2, errors.New("-jobs must be at least 0, -epochs, -samples and -limit at least 1, -pause not negative")
	}
	interval := o.interval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	logLevel := slog.LevelWarn // the jobs' own logs: warnings and errors only
	if o.verbose {
		logLevel = slog.LevelInfo
	}
	r, err := bgjob.NewRunner(
		bgjob.WithLogLevel(logLevel),
		bgjob.WithProgressInterval(min(interval, 250*time.Millisecond)),
		bgjob.WithMaxRunning(o.limit),
		bgjob.WithStallTimeout(time.Second),
		bgjob.WithResourceInterval(250*time.Millisecond),
	)
	if err != nil {
		return 2, err
	}
	sub, err := r.Subscribe() // before the first Start, so that nothing is missed
	if err != nil {
		return 2, err
	}
	events := sub.Events()
	var web *server
	if o.httpAddr != "" {
		if web, err = serve(r, o.httpAddr); err != nil {
			r.Shutdown(context.Background())
			return 2, err
		}
		fmt.Fprintf(out, "dashboard: %s\n", web.url())
		if o.onServe != nil {
			o.onServe(web.url())
		}
	}

	var handles []*bgjob.Handle
	startJob := func(name string, c trainConfig) error {
		h, err := r.Start(ctx, name, bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			return train(ctx, p, c)
		}))
		if err == nil {
			handles = append(handles, h)
		}
		return err
	}
	base := trainConfig{samples: o.samples, features: 8, hidden: 32, epochs: o.epochs, batch: 64, learningRate: 0.5}
	for i := range o.jobs {
		c := base
		c.seed = uint64(i + 1)
		c.learningRate = 0.3 + 0.2*float64(i%3)
		if err := startJob(fmt.Sprintf("mlp-%d", i+1), c); err != nil {
			return 2, err
		}
	}
	if o.fail {
		c := base
		c.seed, c.diverge = 101, true
		if err := startJob("mlp-diverging", c); err != nil {
			return 2, err
		}
	}
	if o.panic {
		c := base
		c.seed, c.panicAtEpoch = 202, 2
		if err := startJob("mlp-buggy", c); err != nil {
			return 2, err
		}
	}
	if o.stall {
		c := base
		c.seed, c.hangAtEpoch, c.hangFor = 303, 2, o.stallFor
		if err := startJob("mlp-stuck", c); err != nil {
			return 2, err
		}
	}

	// Shut down once every job has ended: the event channel then closes
	// after its last event and the loop below ends.
	go func() {
		for _, h := range handles {
			<-h.Done()
		}
		r.Shutdown(context.Background())
	}()
	var cancelTimer, pauseTimer, resumeTimer, cancelOneTimer <-chan time.Time
	if o.cancelAfter > 0 {
		cancelTimer = time.After(o.cancelAfter)
	}
	if o.pause > 0 && len(handles) > 0 {
		pauseTimer = time.After(time.Second)
	}
	if o.cancelOne && len(handles) > 1 {
		cancelOneTimer = time.After(1500 * time.Millisecond)
	}
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	interrupted := ctx.Done()

	var p reporter = &printer{out: out}
	if !o.verbose {
		p = viewReporter{termview.New(out, termview.Options{Live: o.live, PlainEvery: 10 * time.Second, Brief: true})}
	}
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.event(ev)
		case <-cancelTimer:
			cause := fmt.Errorf("canceled by -cancel-after %v", o.cancelAfter)
			for _, h := range handles {
				_ = h.Cancel(cause) // ErrJobDone for jobs that already ended
			}
		case <-interrupted:
			interrupted = nil
			for _, h := range handles {
				_ = h.Cancel(errors.New("interrupted"))
			}
		case <-poll.C:
			p.status(r.GetStatus())
		case <-pauseTimer:
			if err := handles[0].Pause(); err == nil {
				p.note("asked %s to pause for %s", handles[0].Name(), bgjob.FormatDuration(o.pause))
				resumeTimer = time.After(o.pause)
			}
		case <-resumeTimer:
			if err := handles[0].Resume(); err == nil {
				p.note("resuming %s", handles[0].Name())
			}
		case <-cancelOneTimer:
			reason := errors.New("superseded by a newer dataset")
			if err := handles[1].Cancel(reason); err == nil {
				p.note("canceling %s: %v", handles[1].Name(), reason)
			}
		}
	}
	p.close()
	code := table(out, handles)
	if o.verbose {
		runs(out, r)
	}
	if web != nil {
		fmt.Fprintf(out, "\nthe dashboard stays at %s until interrupted (Ctrl-C)\n", web.url())
		<-ctx.Done()
		if err := web.shutdown(); err != nil {
			return code, err
		}
	}
	return code, nil
}

// reporter shows the run as it goes: every event in verbose mode, the
// terminal view otherwise.
type reporter interface {
	event(bgjob.Event)
	note(format string, args ...any)
	status(bgjob.RunnerStatus)
	close()
}

// viewReporter shows the run through bgjob's terminal view.
type viewReporter struct{ v *termview.View }

func (r viewReporter) event(ev bgjob.Event) { r.v.Event(ev) }
func (r viewReporter) note(format string, args ...any) {
	r.v.Println("> " + fmt.Sprintf(format, args...))
}
func (r viewReporter) status(bgjob.RunnerStatus) {} // the view already shows it
func (r viewReporter) close()                    { r.v.Close() }

// table prints one row per job — name, outcome, run time, final loss and
// accuracy, and a sparkline of its loss — and returns the exit status.
func table(out io.Writer, handles []*bgjob.Handle) int {
	fmt.Fprintf(out, "\n%-14s %-10s %8s %8s %9s  %s\n", "job", "outcome", "run", "loss", "accuracy", "loss curve")
	code := 0
	for _, h := range handles {
		st := h.Status()
		loss, acc := "-", "-"
		for _, m := range st.Metrics {
			switch m.Name {
			case "loss":
				loss = strconv.FormatFloat(m.Value, 'f', 4, 64)
			case "accuracy":
				acc = strconv.FormatFloat(100*m.Value, 'f', 1, 64) + "%"
			}
		}
		run := bgjob.FormatDuration(st.Duration)
		if !st.HasWorker {
			run = "-" // never ran
		}
		fmt.Fprintf(out, "%-14s %-10s %8s %8s %9s  %s\n", st.Name, st.State, run, loss, acc, sparkline(h.Metrics(), "loss", 24))
		if st.Err != nil {
			fmt.Fprintf(out, "%14s %s\n", "", firstLine(st.Err.Error()))
		}
		if st.State != bgjob.StateSucceeded {
			code = 1
		}
	}
	return code
}

// sparkline draws the last values of the named series, at most width of
// them, scaled between their minimum and maximum.
func sparkline(series []bgjob.MetricSeries, name string, width int) string {
	const bars = "▁▂▃▄▅▆▇█"
	var values []float64
	for _, s := range series {
		if s.Name == name {
			for _, pt := range s.Points {
				values = append(values, pt.Last)
			}
		}
	}
	if len(values) > width { // every n-th, and the last
		step := (len(values) + width - 1) / width
		var thin []float64
		for i := 0; i < len(values); i += step {
			thin = append(thin, values[i])
		}
		values = append(thin[:len(thin)-1], values[len(values)-1])
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			b.WriteRune('!')
			continue
		case hi > lo:
			i = min(7, int((v-lo)/(hi-lo)*8))
		}
		b.WriteRune([]rune(bars)[i])
	}
	return b.String()
}

// runs prints, for each finished run, the tail of its log and a sketch of
// its timeline, from the Runner's history.
func runs(out io.Writer, r *bgjob.Runner) {
	all := slices.Collect(r.History(bgjob.HistoryFilter{}))
	slices.SortFunc(all, func(a, b bgjob.JobRecord) int { return int(a.WorkerID - b.WorkerID) })
	for _, run := range all {
		fmt.Fprintf(out, "\n%s (%s): %s\n", run.Name, run.State, timelineSketch(run.Timeline))
		logs := run.Logs[max(0, len(run.Logs)-3):]
		for _, l := range logs {
			line := fmt.Sprintf("  %s %-5s %s", l.Time.Format("15:04:05.000"), l.Level, l.Message)
			for _, a := range l.Attrs {
				line += " " + a.Key + "=" + a.Value.String()
			}
			fmt.Fprintln(out, line)
		}
	}
}

// timelineSketch renders a timeline in one line: percent over time as a
// sparkline, the pauses and stalls, and the peak resources sampled.
func timelineSketch(tl []bgjob.TimelinePoint) string {
	const bars = "▁▂▃▄▅▆▇█"
	var spark []rune
	var pauses, stalls int
	var heap, rss uint64
	for _, pt := range tl {
		switch pt.Kind {
		case bgjob.TimelineProgress:
			spark = append(spark, []rune(bars)[min(7, int(pt.Percent/100*8))])
		case bgjob.TimelinePaused:
			pauses++
		case bgjob.TimelineStalled:
			stalls++
		case bgjob.TimelineResources:
			heap, rss = max(heap, pt.Resources.Heap), max(rss, pt.Resources.RSS)
		}
	}
	if len(spark) > 40 { // keep one line: every n-th sample
		step := (len(spark) + 39) / 40
		var thin []rune
		for i := 0; i < len(spark); i += step {
			thin = append(thin, spark[i])
		}
		spark = append(thin, spark[len(spark)-1])
	}
	line := fmt.Sprintf("%s  %d points, %d pause(s), %d stall(s)", string(spark), len(tl), pauses, stalls)
	if heap > 0 {
		line += fmt.Sprintf(", peak heap %.1f MB", float64(heap)/1e6)
	}
	if rss > 0 {
		line += fmt.Sprintf(", RSS %.1f MB", float64(rss)/1e6)
	}
	return line
}

// printer writes every event the way an operator reads it (-v).
type printer struct {
	out io.Writer
}

func (p *printer) event(ev bgjob.Event) { fmt.Fprintln(p.out, bgjob.FormatText(ev)) }

// note prints what the demo itself does.
func (p *printer) note(format string, args ...any) { fmt.Fprintf(p.out, "> "+format+"\n", args...) }

func (p *printer) close() {}

func (p *printer) status(st bgjob.RunnerStatus) {
	var parts []string
	for _, j := range st.Jobs {
		if j.Running() {
			part := fmt.Sprintf("%s %.0f%%", j.Name, j.Percent)
			if j.State != bgjob.StateRunning {
				part += " " + j.State.String()
			}
			if j.Stalled {
				part += " stalled"
			}
			parts = append(parts, part)
		}
	}
	fmt.Fprintf(p.out, "status: pid %d, %d working [%s], %d queued, %d paused, %d succeeded, %d failed, %d canceled\n",
		st.ProcessID, len(parts), strings.Join(parts, ", "), st.Counts[bgjob.StateQueued], st.Counts[bgjob.StatePaused],
		st.Counts[bgjob.StateSucceeded], st.Counts[bgjob.StateFailed], st.Counts[bgjob.StateCanceled])
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
