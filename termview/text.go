package termview

import (
	"fmt"
	"strings"

	"github.com/bgjob/bgjob"
)

// lifecycleText returns the lines that tell ev: bgjob.FormatText's, except
// in live mode (or when Options.Brief asks for it), where a terminal shows
// many jobs at once and the multi-line blocks of info and worker_started
// would push everything else off the screen. There info, worker_started
// and worker_stopped take one short line each, and complete its first line, plus the indented lines
// (a panic's stack) of a failure, the one case where they are the news.
// A stall keeps its stacks in both modes: they say where the job hangs.
func (v *View) lifecycleText(ev bgjob.Event) []string {
	text := bgjob.FormatText(ev)
	if v.brief {
		name := clean(ev.JobName, false)
		switch ev.Type {
		case bgjob.EventInfo:
			if ev.State == bgjob.StateQueued {
				return []string{fmt.Sprintf("%s accepted, waiting for a worker (worker %d)", name, ev.WorkerID)}
			}
			return []string{fmt.Sprintf("%s started (worker %d)", name, ev.WorkerID)}
		case bgjob.EventWorkerStarted:
			line := fmt.Sprintf("%s worker %d started", name, ev.WorkerID)
			if ev.QueueWait > 0 {
				line += " after " + bgjob.FormatDuration(ev.QueueWait) + " in the queue"
			}
			return []string{line}
		case bgjob.EventWorkerStopped:
			text, _, _ = strings.Cut(text, "\n")
		case bgjob.EventComplete:
			if ev.State != bgjob.StateFailed {
				text, _, _ = strings.Cut(text, "\n")
			}
		}
	}
	return textLines(text)
}

// textLines splits text into clean lines, leaving out the newline that
// ends it, if any.
func textLines(text string) []string {
	text = strings.TrimSuffix(text, "\n")
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = clean(strings.TrimSuffix(l, "\r"), true)
	}
	return lines
}
