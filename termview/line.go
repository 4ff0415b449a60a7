package termview

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bgjob/bgjob"
)

// A job's line, in live and in plain mode (here 110 columns wide):
//
//	mlp-1 running ██████████░░░░░░░░░░░░░░░░░  40%  400/1000 50.0 it/s ETA 12.0s loss 0.412 acc 0.873 · epoch 2
//
// name, state word, bar, percent, step/total, rate, ETA, the latest
// metrics and the job's message. A live line is fitted to the width, since
// a line that wraps breaks the redraw: the message is cut or left out
// first, as it is shown only where there is room; then the bar narrows to
// make room for the metrics, down to roomyBar; then metrics are left out,
// whole, from the last; then the bar narrows to minBar and goes; then the
// line is cut. A plain line is never cut but for a long name, since a log
// has no width and a cut metric would be lost.

const (
	// minBar is the narrowest bar worth drawing; a narrower one is left
	// out. roomyBar is as far as the bar narrows to make room for metrics.
	minBar   = 5
	roomyBar = 10
	// minStateWidth keeps the bars of a live area aligned whatever the
	// state words: "running", "stalled" and "pausing" are this wide.
	minStateWidth = 7
	// messageSep comes before the job's message.
	messageSep = " · "
)

// layout is how the lines of one frame are laid out: in columns, the
// bars of a frame all as wide, so that the figures after them align.
type layout struct {
	width  int  // columns of the terminal (or Options.Width)
	fit    bool // cut lines to width: live mode
	colour bool // colour the state word
	nameW  int  // columns of the name column
	stateW int  // columns of the state word column
	bar    int  // columns of the bar; 0 leaves it out
}

// layoutFor returns the layout that aligns the lines of jobs.
func layoutFor(jobs []*job, cols int, fit, colour bool) layout {
	l := layout{width: cols, fit: fit, colour: colour, stateW: minStateWidth, bar: barWidth(cols)}
	// A long name may take a fifth of the line, and is cut beyond.
	limit := max(10, cols/5)
	for _, j := range jobs {
		l.nameW = max(l.nameW, min(width(j.name), limit))
		l.stateW = max(l.stateW, len(j.word()))
	}
	if fit {
		for _, j := range jobs {
			l.bar = min(l.bar, l.fitBar(l.parts(j)))
		}
	}
	if l.bar < minBar {
		l.bar = 0
	}
	return l
}

// barWidth is the bar's width for a line of w columns before fitting:
// a quarter of it, at least 10 and at most 30 columns.
func barWidth(w int) int { return min(max(w/4, 10), 30) }

// parts are the texts a line is made of.
type parts struct {
	name  string   // padded to the name column
	word  string   // the state word
	stats string   // percent, step/total, rate, ETA
	pairs []string // the metrics, "name value" each
	head  int      // columns of name, word and stats, with their spaces
}

// parts returns the texts of j's line.
func (l layout) parts(j *job) parts {
	p := parts{
		name:  pad(truncate(j.name, l.nameW), l.nameW),
		word:  j.word(),
		stats: j.stats(),
		pairs: make([]string, len(j.metrics)),
	}
	for i, m := range j.metrics {
		p.pairs[i] = m.Name + " " + formatMetric(m.Value)
	}
	p.head = width(p.name) + 1 + max(l.stateW, len(p.word)) + 1 + width(p.stats)
	return p
}

// fitBar returns the width of the bar that lets a line of parts p fit.
// To fit, the message is cut first, then the bar narrows to make room for
// the metrics, down to roomyBar; then the metrics go, and the bar narrows
// down to minBar for the figures, and then goes.
func (l layout) fitBar(p parts) int {
	bar := barWidth(l.width)
	if over := p.head + 1 + bar + widthAll(p.pairs) - l.width; over > 0 {
		bar -= min(over, max(bar-roomyBar, 0))
	}
	if over := p.head + 1 + bar - l.width; over > 0 {
		bar -= over
	}
	return bar
}

// render returns j's line: name word [bar] stats metrics · message.
func (l layout) render(j *job) string {
	p := l.parts(j)
	var b strings.Builder
	b.WriteString(p.name)
	b.WriteByte(' ')
	b.WriteString(l.paint(p.word))
	b.WriteString(strings.Repeat(" ", max(l.stateW-len(p.word), 0)))
	used := p.head
	if l.bar > 0 {
		b.WriteByte(' ')
		b.WriteString(drawBar(j.percent, l.bar))
		used += 1 + l.bar
	}
	b.WriteByte(' ')
	b.WriteString(p.stats)
	if l.fit && used > l.width {
		// Too narrow even for name, state and figures: cut the line
		// whole, without colour, which a cut could split.
		whole := l
		whole.colour, whole.fit = false, false
		return truncate(whole.render(j), l.width)
	}

	room := math.MaxInt
	if l.fit {
		room = l.width - used
	}
	for i, pair := range p.pairs {
		// A metric is shown whole or not at all, a cut number being a
		// wrong one; " …" says that some were left out.
		need := 1 + width(pair)
		if widthAll(p.pairs[i:]) > room && need+2 > room {
			if room >= 2 {
				b.WriteString(" …")
			}
			return b.String()
		}
		b.WriteByte(' ')
		b.WriteString(pair)
		room -= need
	}
	if j.message != "" && room >= width(messageSep)+4 {
		b.WriteString(messageSep)
		b.WriteString(truncate(j.message, room-width(messageSep)))
	}
	return b.String()
}

// widthAll returns the columns of the metrics pairs, each with a space
// before it.
func widthAll(pairs []string) int {
	n := 0
	for _, p := range pairs {
		n += 1 + width(p)
	}
	return n
}

// stats returns the figures of j's line: percent, step/total, rate, ETA.
func (j *job) stats() string {
	b := make([]byte, 0, 48)
	b = append(b, formatPercent(j.percent)...)
	switch {
	case j.total > 0:
		total := strconv.FormatInt(j.total, 10)
		step := strconv.FormatInt(j.step, 10)
		b = append(b, ' ')
		b = append(b, strings.Repeat(" ", max(len(total)-len(step), 0))...)
		b = append(b, step...)
		b = append(b, '/')
		b = append(b, total...)
	case j.step > 0:
		b = append(b, ' ')
		b = strconv.AppendInt(b, j.step, 10)
		b = append(b, " it"...)
	}
	if j.rate > 0 && (j.moving() || j.state.Terminal()) {
		unit := "it"
		if j.total == 0 && j.step == 0 {
			unit = "%" // bgjob's rate counts percent for a job without steps
		}
		b = append(b, ' ')
		b = append(b, formatRate(j.rate, unit)...)
	}
	if j.eta > 0 && j.moving() && j.state != bgjob.StateCanceling {
		b = append(b, " ETA "...)
		b = append(b, bgjob.FormatDuration(j.eta)...)
	}
	return string(b)
}

// formatPercent returns the whole percent done, right-aligned in four
// columns. It rounds down, so that a job at 99.6% does not read 100%.
func formatPercent(p float64) string {
	switch {
	case !(p > 0): // NaN too
		p = 0
	case p > 100:
		p = 100
	}
	s := strconv.Itoa(int(p)) + "%"
	return strings.Repeat(" ", 4-len(s)) + s
}

// drawBar returns a bar of w columns, full for 100 percent.
func drawBar(p float64, w int) string {
	switch {
	case !(p > 0): // NaN too
		p = 0
	case p > 100:
		p = 100
	}
	full := int(p / 100 * float64(w))
	return strings.Repeat("█", full) + strings.Repeat("░", w-full)
}

// formatRate returns a rate briefly: "12.3 it/s", "845 it/s", "12.3k it/s"
// and, below one unit a second, the time a unit takes, "3.2s/it", in
// bgjob.FormatDuration's units.
func formatRate(r float64, unit string) string {
	switch {
	case r >= 1e7:
		return strconv.FormatFloat(r/1e6, 'f', 1, 64) + "M " + unit + "/s"
	case r >= 1e4:
		return strconv.FormatFloat(r/1e3, 'f', 1, 64) + "k " + unit + "/s"
	case r >= 100:
		return strconv.FormatFloat(r, 'f', 0, 64) + " " + unit + "/s"
	case r >= 1:
		return strconv.FormatFloat(r, 'f', 1, 64) + " " + unit + "/s"
	}
	per := float64(time.Second) / r
	if per >= math.MaxInt64 {
		return "0 " + unit + "/s"
	}
	return bgjob.FormatDuration(time.Duration(per)) + "/" + unit
}

// formatMetric returns a metric's value in four significant digits, and
// NaN and the infinities as NaN, +Inf and -Inf: a diverging loss is news.
func formatMetric(v float64) string {
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// The colours of the state words (SGR parameters); running has none.
var wordColours = map[string]string{
	"queued":    "2",  // dim
	"pausing":   "36", // cyan
	"paused":    "36",
	"stalled":   "33", // yellow
	"canceling": "33",
	"canceled":  "33",
	"lagged":    "35", // magenta
	"abandoned": "31", // red
	"failed":    "31",
	"done":      "32", // green
}

// paint colours a state word, if the layout has colour.
func (l layout) paint(word string) string {
	c, ok := wordColours[word]
	if !l.colour || !ok {
		return word
	}
	return "\x1b[" + c + "m" + word + "\x1b[0m"
}
