package termview

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// screen is a terminal as far as a View uses one: text, newlines in cooked
// mode (a newline also returns the carriage), and the sequences of the
// live area. It has no bottom, so nothing scrolls away, and no right edge:
// it records the widest row instead, for tests to check that no line
// would have wrapped.
type screen struct {
	rows     [][]rune
	row, col int
	widest   int
	unknown  []string // sequences it does not know
}

func (s *screen) Write(p []byte) (int, error) {
	text := string(p)
	for i := 0; i < len(text); {
		if text[i] == 0x1b {
			i = s.sequence(text, i)
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch r {
		case '\n':
			s.row, s.col = s.row+1, 0
		case '\r':
			s.col = 0
		default:
			s.put(r)
		}
	}
	return len(p), nil
}

var csi = regexp.MustCompile(`^\x1b\[([0-9;]*)([A-Za-z])`)

// sequence carries out the escape sequence at text[i:] and returns the
// index after it.
func (s *screen) sequence(text string, i int) int {
	m := csi.FindStringSubmatch(text[i:])
	if m == nil {
		s.unknown = append(s.unknown, strconv.Quote(text[i:min(i+8, len(text))]))
		return i + 1
	}
	n := 1
	if v, err := strconv.Atoi(m[1]); err == nil {
		n = v
	}
	switch {
	case m[2] == "A":
		s.row = max(s.row-n, 0)
	case m[2] == "B":
		s.row += n
	case m[2] == "K" && m[1] == "2":
		s.line()
		s.rows[s.row] = nil
	case m[2] == "J" && (m[1] == "" || m[1] == "0"):
		s.line()
		s.rows[s.row] = s.rows[s.row][:min(s.col, len(s.rows[s.row]))]
		s.rows = s.rows[:s.row+1]
	case m[2] == "m":
	default:
		s.unknown = append(s.unknown, strconv.Quote(m[0]))
	}
	return i + len(m[0])
}

// line makes sure the cursor's row exists.
func (s *screen) line() {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
}

func (s *screen) put(r rune) {
	s.line()
	row := s.rows[s.row]
	for len(row) < s.col {
		row = append(row, ' ')
	}
	if s.col < len(row) {
		row[s.col] = r
	} else {
		row = append(row, r)
	}
	s.rows[s.row] = row
	s.col++
	s.widest = max(s.widest, width(string(row)))
}

// lines returns the rows as text, without trailing blanks and rows.
func (s *screen) lines() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// uncolour removes the colours from a line, as a screen shows it.
func uncolour(s string) string { return sgr.ReplaceAllString(s, "") }
