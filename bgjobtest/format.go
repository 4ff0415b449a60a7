package bgjobtest

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// maxListed bounds the events a failure message lists: the last ones, which
// are those a failing test needs, with a count of the others.
const maxListed = 50

// formatEvents renders evs one a line, indented, for a failure message.
func formatEvents(evs []bgjob.Event) string {
	if len(evs) == 0 {
		return "\t(no events)"
	}
	var b strings.Builder
	if n := len(evs) - maxListed; n > 0 {
		fmt.Fprintf(&b, "\t… %d earlier events\n", n)
		evs = evs[n:]
	}
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteByte('\t')
		b.WriteString(formatEvent(ev))
	}
	return b.String()
}

// formatEvent renders one event on one line: its sequence number, type,
// job and state, and what a test most often looks for.
func formatEvent(ev bgjob.Event) string {
	if ev.Type == bgjob.EventLagged {
		return "lagged: " + lostRange(ev)
	}
	s := fmt.Sprintf("#%d %s %s %s", ev.Seq, ev.Type, jobLabel(ev.JobName, ev.JobID), ev.State)
	if ev.Step != 0 || ev.Total != 0 {
		s += fmt.Sprintf(" step %d/%d", ev.Step, ev.Total)
	}
	if ev.Folded > 0 {
		s += fmt.Sprintf(" (folded %d)", ev.Folded)
	}
	if ev.Err != nil {
		s += fmt.Sprintf(" err=%q", ev.Err.Error())
	}
	return s
}

// lostRange names what a lagged event says was lost.
func lostRange(ev bgjob.Event) string {
	s := fmt.Sprintf("events %d..%d lost", ev.LagFirst, ev.LagLast)
	if len(ev.LagJobs) > 0 {
		ids := make([]string, len(ev.LagJobs))
		for i, id := range ev.LagJobs {
			ids[i] = shortID(id)
		}
		s += " (jobs " + strings.Join(ids, ", ")
		if ev.LagMore {
			s += " and more"
		}
		s += ")"
	}
	return s
}

// formatStatus renders the parts of a status a failing test needs.
func formatStatus(st bgjob.JobStatus) string {
	s := fmt.Sprintf("%s step %d/%d", st.State, st.Step, st.Total)
	if st.Err != nil {
		s += fmt.Sprintf(" err=%q", st.Err.Error())
	}
	return s
}

// jobLabel names a job by its name and the start of its id, enough to tell
// jobs apart in a test's output.
func jobLabel(name string, id uuid.UUID) string {
	if name == "" {
		return shortID(id)
	}
	return name + "/" + shortID(id)
}

func shortID(id uuid.UUID) string { return id.String()[:8] }
