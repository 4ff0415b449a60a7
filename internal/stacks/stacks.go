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

// ByLabel returns, for each value in want, the stacks of the goroutines
// whose pprof label key has that value, from one goroutine profile: the
// world stops once however many values are wanted. A value no goroutine
// carries is absent from the result.
func ByLabel(key string, want map[string]bool) (map[string]string, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, fmt.Errorf("stacks: writing the goroutine profile: %w", err)
	}
	return Group(buf.String(), key, want), nil
}

// Group splits a goroutine profile written with debug=1 by the value of
// the label key, keeping the values in want.
func Group(profile, key string, want map[string]bool) map[string]string {
	prefix := strconv.Quote(key) + ":"
	if rest, ok := strings.CutPrefix(profile, "goroutine profile:"); ok {
		_, profile, _ = strings.Cut(rest, "\n")
	}
	out := make(map[string]*strings.Builder)
	for entry := range strings.SplitSeq(profile, "\n\n") {
		value, ok := labelValue(labelLine(entry), prefix)
		if !ok || !want[value] {
			continue
		}
		b := out[value]
		if b == nil {
			b = new(strings.Builder)
			out[value] = b
		} else {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.TrimRight(entry, "\n"))
	}
	groups := make(map[string]string, len(out))
	for v, b := range out {
		groups[v] = b.String()
	}
	return groups
}

// labelValue returns the value of the label whose quoted key and colon
// are prefix, in a label set {"k":"v", …}.
func labelValue(labels, prefix string) (string, bool) {
	for i := 0; labels != ""; {
		j := strings.Index(labels[i:], prefix)
		if j < 0 {
			return "", false
		}
		start := i + j
		if start > 0 && (labels[start-1] == '{' || labels[start-1] == ' ') {
			v, err := strconv.QuotedPrefix(labels[start+len(prefix):])
			if err != nil {
				return "", false
			}
			u, err := strconv.Unquote(v)
			return u, err == nil
		}
		i = start + 1
	}
	return "", false
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

// Readable turns entries of a goroutine profile written with debug=1 into
// what a person reads: for each group of identical stacks, how many
// goroutines share it, then one line per frame, function and file:line,
// without the addresses and the label line, and without the frames whose
// function skip reports (nil keeps all).
//
//	2 goroutine(s):
//	    main.load  /src/load.go:9
//	    main.train  /src/train.go:42
func Readable(entries string, skip func(fn string) bool) string {
	var out strings.Builder
	for entry := range strings.SplitSeq(strings.TrimSpace(entries), "\n\n") {
		lines := strings.Split(entry, "\n")
		if len(lines) == 0 || lines[0] == "" {
			continue
		}
		if out.Len() > 0 {
			out.WriteString("\n")
		}
		count, _, _ := strings.Cut(lines[0], " @ ")
		fmt.Fprintf(&out, "%s goroutine(s):", count)
		for _, line := range lines[1:] {
			// A frame: "#\t0x4\tmain.load+0x4\t\t/src/load.go:9", its
			// columns aligned with tabs.
			if !strings.HasPrefix(line, "#\t") {
				continue // the labels
			}
			fields := strings.Fields(line[1:])
			if len(fields) < 3 {
				continue
			}
			fn, _, _ := strings.Cut(fields[1], "+0x")
			if skip != nil && skip(fn) {
				continue
			}
			fmt.Fprintf(&out, "\n    %s  %s", fn, strings.Join(fields[2:], " "))
		}
	}
	return out.String()
}
