package termview

import (
	"fmt"
	"strconv"
)

// The live area is drawn with three sequences every terminal since the
// VT100 knows: cursor up (ESC [ n A), erase line (ESC [ 2K) and erase below
// (ESC [ J), plus cursor down (ESC [ n B) to come back after rewriting one
// line. Between calls the cursor stays at the start of the line below the
// area, so that the area is redrawn by going up as many lines as it has.
// That holds only while no line wraps, which is why live lines are cut to
// the width, and while the area fits the screen, which is why it is cut
// to the terminal's height.

// frame returns the lines of the live area for the jobs now live. Called
// with v.mu held.
func (v *View) frame() []string {
	if len(v.order) == 0 {
		return nil
	}
	cols, rows := v.size()
	jobs, more := v.order, 0
	// The cursor cannot go up past the top of the screen: an area taller
	// than the screen, with the cursor's line below it, could not be
	// redrawn, so the last line counts the jobs left out.
	if limit := rows - 1; rows > 0 && len(jobs) > max(limit, 1) {
		keep := max(limit, 1) - 1
		jobs, more = jobs[:keep], len(jobs)-keep
	}
	l := layoutFor(jobs, cols, true, v.out.colour)
	lines := make([]string, 0, len(jobs)+1)
	for _, j := range jobs {
		lines = append(lines, l.render(j))
	}
	if more > 0 {
		lines = append(lines, truncate("… and "+strconv.Itoa(more)+" more jobs", cols))
	}
	return lines
}

// redraw prints above above the live area and redraws the area, into
// v.buf. It writes nothing when nothing changed, and only the line that
// changed when just one did: the common case of a progress event. Called
// with v.mu held, in live mode.
func (v *View) redraw(above []string) {
	next := v.frame()
	b := &v.buf
	old := len(v.drawn)
	if len(above) == 0 && len(next) == old {
		changed, n := -1, 0
		for i := range next {
			if next[i] != v.drawn[i] {
				changed, n = i, n+1
			}
		}
		switch n {
		case 0:
			return
		case 1:
			up := old - changed
			fmt.Fprintf(b, "\x1b[%dA\x1b[2K%s\n", up, next[changed])
			if up > 1 {
				fmt.Fprintf(b, "\x1b[%dB", up-1)
			}
			v.drawn = next
			return
		}
	}
	// Erase line by line when the new area covers the old one exactly;
	// erase the whole area first when lines printed above may wrap or
	// fewer lines would leave old ones below.
	eraseEach := old > 0
	if old > 0 {
		fmt.Fprintf(b, "\x1b[%dA", old)
		if len(above) > 0 || len(next) < old {
			b.WriteString("\x1b[J")
			eraseEach = false
		}
	}
	for _, l := range above {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for _, l := range next {
		if eraseEach {
			b.WriteString("\x1b[2K")
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	v.drawn = next
}
