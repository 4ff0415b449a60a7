// Package termview shows the jobs of a bgjob.Runner on a terminal, live,
// from their events: one line per running job, redrawn in place, with a
// bar, the rate, the ETA and the latest training metrics, as tqdm shows a
// loop, while what happens to the jobs scrolls above.
//
// It is a module of its own, so that bgjob itself keeps its single
// dependency.
//
// # Watching a Runner
//
// Subscribe before starting the jobs, and watch until the Runner has shut
// down:
//
//	sub, err := runner.Subscribe()
//	if err != nil {
//		return err
//	}
//	done := make(chan error, 1)
//	go func() { done <- termview.Watch(ctx, os.Stderr, sub, termview.Options{}) }()
//	// … start jobs, then:
//	err = runner.Shutdown(ctx)
//	<-done // Watch returns once the last event is shown
//
// Code that reads the events itself, or prints lines of its own while the
// jobs run, uses a View:
//
//	v := termview.New(os.Stderr, termview.Options{})
//	defer v.Close()
//	for ev := range sub.Events() {
//		v.Event(ev)
//		if ev.Type == bgjob.EventComplete && !ev.Success() {
//			v.Println("see the logs of", ev.JobName)
//		}
//	}
//
// # Live and plain
//
// On a terminal, a View is live: it keeps the lines of the running jobs at
// the bottom of the screen and rewrites them with ANSI escape sequences.
// A line reads
//
//	mlp-1 running ██████████░░░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873 · epoch 2
//
// name, state (queued, running, paused, stalled, …: a paused or stalled
// job shows neither rate nor ETA, rather than frozen ones), bar, percent,
// step/total, rate, ETA, the latest metrics (4 significant digits; NaN
// and ±Inf as such) and the job's message where there is room. Everything
// else is printed above the area, with bgjob.FormatText, in short: one
// line when a job starts, when its worker stops and when it completes,
// with the stack of a failure; a completed job leaves its last line
// behind, as tqdm leaves its bar.
//
// Anywhere else — a file, a pipe, a CI log — or when NO_COLOR is set or
// TERM is "dumb", a View is plain: no escape sequence at all; the
// lifecycle in full, with bgjob.FormatText; and progress in the same line
// as above, at most one per job every Options.PlainEvery of the events'
// own time, and always the last one before the job completes. Options.Live
// forces either mode.
//
// # Lost events
//
// A subscription that falls behind loses events (bgjob.EventLagged). The
// view then shows the jobs it names as "lagged", with no rate or ETA,
// until their next event; a job whose complete was lost leaves the live
// area at its worker_stopped.
package termview
