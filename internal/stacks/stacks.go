// Package stacks finds the stacks of the goroutines that carry a given pprof
// label, in the goroutine profile the runtime writes.
package stacks

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
)

// Labelled returns the stacks of the goroutines whose pprof label key has
// the given value, in the text form of the goroutine profile (debug=1):
// each group of identical stacks starts with its count. It returns "" when
// no goroutine carries the label.
//
// Writing the profile stops the world for a moment, so this is for rare
// events (a stalled job), not for a hot path.
func Labelled(key, value string) (string, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return "", fmt.Errorf("stacks: writing the goroutine profile: %w", err)
	}
	return Filter(buf.String(), key, value), nil
}

// Filter returns the entries of a goroutine profile written with debug=1
// whose labels hold key with value.
//
// The profile is a header line, then entries separated by blank lines: a
// line "N @ addresses", an optional line "# labels: {"k":"v", …}" and one
// line per frame.
func Filter(profile, key, value string) string {
	want := strconv.Quote(key) + ":" + strconv.Quote(value)
	if rest, ok := strings.CutPrefix(profile, "goroutine profile:"); ok {
		_, profile, _ = strings.Cut(rest, "\n") // the header is no entry's
	}
	var out strings.Builder
	for entry := range strings.SplitSeq(profile, "\n\n") {
		labels := labelLine(entry)
		if labels == "" || !hasLabel(labels, want) {
			continue
		}
		if out.Len() > 0 {
			out.WriteString("\n\n")
		}
		out.WriteString(strings.TrimRight(entry, "\n"))
	}
	return out.String()
}

// labelLine returns the "# labels:" line of an entry, or "".
func labelLine(entry string) string {
	for line := range strings.Lines(entry) {
		if rest, ok := strings.CutPrefix(line, "# labels: "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// hasLabel reports whether the label set {"k":"v", "k2":"v2"} holds the
// pair want, written "k":"v". Values are quoted, so a comma or brace inside
// one cannot end it early; matching the whole quoted pair, bounded by the
// set's separators, cannot match a longer key or value.
func hasLabel(labels, want string) bool {
	for i := 0; ; {
		j := strings.Index(labels[i:], want)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(want)
		before := start > 0 && (labels[start-1] == '{' || labels[start-1] == ' ')
		after := end < len(labels) && (labels[end] == ',' || labels[end] == '}')
		if before && after {
			return true
		}
		i = start + 1
	}
}
