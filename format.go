package bgjob

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// FormatText renders ev the way an operator reads it, for logs and
// terminals, in the words of the original design, for example:
//
//	resnet-finetune started in background
//	   Process ID: 52341
//	   Worker ID: 7
//	   Worker Name: resnet-finetune
//	   Alive: true
//	resnet-finetune worker started
//	   Worker ID: 7
//	   Start Time: 2025-10-21T15:30:00.123456
//	[worker 7] Loading and preparing data... (10%)
//	resnet-finetune completed successfully (Duration: 45.3min)
//	resnet-finetune worker 7 stopped
//
// The text has no trailing newline; a panic's stack follows on indented
// lines. The job's strings (its name, message, error, log attributes) are
// shown on one line each: a newline or another control character in them
// is written escaped (\n, \x1b), so that no job can forge a line of its
// own or drive the terminal.
func FormatText(ev Event) string {
	ev.JobName, ev.WorkerName, ev.Message = oneLine(ev.JobName), oneLine(ev.WorkerName), oneLine(ev.Message)
	var errText string
	if ev.Err != nil {
		errText = oneLine(errorText(ev.Err))
	}
	var b strings.Builder
	switch ev.Type {
	case EventInfo:
		if ev.State == StateQueued {
			fmt.Fprintf(&b, "%s accepted in background, waiting for a worker\n", ev.JobName)
		} else {
			fmt.Fprintf(&b, "%s started in background\n", ev.JobName)
		}
		fmt.Fprintf(&b, "   Process ID: %d\n", ev.ProcessID)
		fmt.Fprintf(&b, "   Worker ID: %d\n", ev.WorkerID)
		fmt.Fprintf(&b, "   Worker Name: %s\n", ev.WorkerName)
		if ev.OSThreadID != 0 {
			fmt.Fprintf(&b, "   OS Thread ID: %d\n", ev.OSThreadID)
		}
		fmt.Fprintf(&b, "   Alive: %t", ev.Alive)
	case EventQueued:
		fmt.Fprintf(&b, "%s queued (position %d)", ev.JobName, ev.QueuePosition)
	case EventWorkerStarted:
		fmt.Fprintf(&b, "%s worker started\n", ev.JobName)
		fmt.Fprintf(&b, "   Worker ID: %d\n", ev.WorkerID)
		if ev.OSThreadID != 0 {
			fmt.Fprintf(&b, "   OS Thread ID: %d\n", ev.OSThreadID)
		}
		if ev.QueueWait > 0 {
			fmt.Fprintf(&b, "   Queue Wait: %s\n", FormatDuration(ev.QueueWait))
		}
		fmt.Fprintf(&b, "   Start Time: %s", ev.StartTime.Format(startTimeLayout))
	case EventProgress:
		fmt.Fprintf(&b, "[worker %d] ", ev.WorkerID)
		if ev.Message != "" {
			b.WriteString(ev.Message)
			b.WriteByte(' ')
		}
		b.WriteString("(")
		b.WriteString(formatPercent(ev.Percent))
		if ev.Total > 0 {
			fmt.Fprintf(&b, ", %d/%d", ev.Step, ev.Total)
		}
		if ev.ETA > 0 {
			b.WriteString(", ETA ")
			b.WriteString(FormatDuration(ev.ETA))
		}
		b.WriteString(")")
		if len(ev.Metrics) > 0 {
			b.WriteByte(' ')
			b.WriteString(oneLine(string(appendMetrics(nil, ev.Metrics))))
		}
	case EventPaused:
		fmt.Fprintf(&b, "[worker %d] paused", ev.WorkerID)
	case EventResumed:
		fmt.Fprintf(&b, "[worker %d] resumed after %s paused", ev.WorkerID, FormatDuration(ev.Paused))
	case EventStalled:
		fmt.Fprintf(&b, "[worker %d] stalled: %s", ev.WorkerID, ev.Message)
		writeIndented(&b, ev.Stack)
	case EventUnstalled:
		fmt.Fprintf(&b, "[worker %d] progressing again", ev.WorkerID)
	case EventLog:
		fmt.Fprintf(&b, "[worker %d] %s %s", ev.WorkerID, ev.Level, ev.Message)
		for _, a := range ev.Attrs {
			fmt.Fprintf(&b, " %s=%s", oneLine(a.Key), oneLine(a.Value.String()))
		}
	case EventAbandoned:
		fmt.Fprintf(&b, "%s abandoned: %s", ev.JobName, ev.Message)
	case EventComplete:
		switch ev.State {
		case StateSucceeded:
			fmt.Fprintf(&b, "%s completed successfully (Duration: %s)", ev.JobName, FormatDuration(ev.Duration))
		case StateCanceled:
			if ev.StartTime.IsZero() {
				fmt.Fprintf(&b, "%s canceled before it started: %s", ev.JobName, errText)
				break
			}
			fmt.Fprintf(&b, "%s canceled after %s: %s", ev.JobName, FormatDuration(ev.Duration), errText)
		default:
			fmt.Fprintf(&b, "%s failed after %s: %s", ev.JobName, FormatDuration(ev.Duration), errText)
		}
		writeIndented(&b, ev.Stack)
	case EventWorkerStopped:
		if ev.StartTime.IsZero() {
			fmt.Fprintf(&b, "%s never got a worker", ev.JobName)
			break
		}
		fmt.Fprintf(&b, "%s worker %d stopped", ev.JobName, ev.WorkerID)
	case EventLagged:
		fmt.Fprintf(&b, "missed events seq %d to %d of %d job(s)", ev.LagFirst, ev.LagLast, len(ev.LagJobs))
		if ev.LagMore {
			b.WriteString(" and more")
		}
		b.WriteString(": the reader fell behind")
	default:
		fmt.Fprintf(&b, "%v event for %s", ev.Type, ev.JobName)
	}
	return b.String()
}

// startTimeLayout is the original design's start time (Python's
// isoformat), in local time.
const startTimeLayout = "2006-01-02T15:04:05.000000"

// writeIndented writes text on indented lines below what b holds.
func writeIndented(b *strings.Builder, text string) {
	if text == "" {
		return
	}
	for line := range strings.Lines(strings.TrimRight(text, "\n")) {
		b.WriteString("\n   ")
		b.WriteString(oneLine(line))
	}
}

// oneLine returns s without its trailing line breaks, and with every other
// control character but a tab, and every byte that is not UTF-8, written
// escaped as in a Go string.
func oneLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r != '\t' && unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r != '\t' && unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func formatPercent(p float64) string {
	if p == float64(int64(p)) {
		return strconv.FormatInt(int64(p), 10) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// FormatDuration renders d briefly, in the unit an operator expects:
// "850ms", "3.2s", "45.3min", "2.5h".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) + "min"
	default:
		return strconv.FormatFloat(d.Hours(), 'f', 1, 64) + "h"
	}
}
