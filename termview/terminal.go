package termview

import (
	"io"
	"os"

	"golang.org/x/term"
)

// defaultWidth is the width of the lines when neither Options.Width nor
// a terminal gives one.
const defaultWidth = 100

// output is what a View knows of where it writes, decided once, in New.
type output struct {
	live   bool
	colour bool
	// fd is the terminal written to, asked for its size at each redraw so
	// that a resized window is followed; -1 when w is not a terminal.
	fd int
}

// detect decides how a View writes to w: see New.
func detect(w io.Writer, force *bool) output {
	out := output{fd: -1}
	if f, ok := w.(*os.File); ok && f != nil {
		if fd := int(f.Fd()); term.IsTerminal(fd) {
			out.fd = fd
		}
	}
	out.live, out.colour = decide(out.fd >= 0, force)
	return out
}

// decide returns whether a View writes live and in colour, for a writer
// that is a terminal or not, given Options.Live and the environment.
// NO_COLOR set to any value means no ANSI at all, not just no colour:
// someone who asks for no colour reads logs, or a screen reader, where a
// redrawn line is noise too. Even an empty NO_COLOR counts, which errs on
// the side of plain output (https://no-color.org asks only that a
// non-empty one be honoured). TERM=dumb takes neither colour nor cursor
// movement. A forced live mode still leaves colour out for both.
func decide(terminal bool, force *bool) (live, colour bool) {
	_, noColor := os.LookupEnv("NO_COLOR")
	plain := noColor || os.Getenv("TERM") == "dumb"
	live = terminal && !plain
	if force != nil {
		live = *force
	}
	return live, live && !plain
}

// size returns the columns and rows of the live area: Options.Width or the
// terminal's width, else defaultWidth; the terminal's height, or 0 when
// there is none to bound the area.
func (v *View) size() (cols, rows int) {
	cols = v.width
	if v.out.fd >= 0 {
		if w, h, err := term.GetSize(v.out.fd); err == nil {
			if cols == 0 && w > 0 {
				cols = w
			}
			rows = max(h, 0)
		}
	}
	if cols <= 0 {
		cols = defaultWidth
	}
	return cols, rows
}
