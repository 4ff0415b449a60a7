package bgjob

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds on what one log record may hold. Longer messages and values are
// cut, with an ellipsis; attributes past MaxLogAttrs or MaxLogAttrBytes are
// dropped and the record says how many. A job that logs a megabyte per line cannot make the
// Runner hold megabytes per line.
const (
	MaxLogMessage   = 4096
	MaxLogAttrValue = 1024
	MaxLogAttrs     = 32
	// MaxLogAttrBytes bounds the keys and values of one record together,
	// so that a record holds at most about 8 KB whatever its shape.
	MaxLogAttrBytes = 4096
)

// LogRecord is one line a job logged.
// It is the caller's own: slices handed out are copies.
type LogRecord struct {
	Time    time.Time  `json:"time"`
	Level   slog.Level `json:"level"`
	Message string     `json:"message"`
	Attrs   []LogAttr  `json:"attrs,omitempty"`
}

// LogAttr is one attribute of a LogRecord. Attributes in groups have
// dotted keys ("batch.size"). Value keeps its kind when it is a string,
// an integer, a float, a bool, a duration or a time; any other value is
// kept as its text. Its JSON form keeps the kind too: a number stays a
// number.
type LogAttr struct {
	Key   string
	Value slog.Value
}

// logAttrJSON is the wire form of a LogAttr: the value as JSON has it,
// with its kind when JSON alone would lose it (a float with no fraction
// would read back as an integer; NaN and the infinities, which JSON has
// no numbers for, are strings).
type logAttrJSON struct {
	Key   string          `json:"key"`
	Kind  string          `json:"kind,omitempty"`
	Value json.RawMessage `json:"value"`
}

// MarshalJSON encodes the attribute as {"key": …, "value": …}, with
// "kind" for every kind but string; a duration is in seconds.
func (a LogAttr) MarshalJSON() ([]byte, error) {
	w := logAttrJSON{Key: a.Key}
	var v any
	switch a.Value.Kind() {
	case slog.KindInt64:
		w.Kind, v = "int64", a.Value.Int64()
	case slog.KindUint64:
		w.Kind, v = "uint64", a.Value.Uint64()
	case slog.KindFloat64:
		w.Kind, v = "float64", jsonFloat(a.Value.Float64())
	case slog.KindBool:
		w.Kind, v = "bool", a.Value.Bool()
	case slog.KindDuration:
		w.Kind, v = "duration", jsonSeconds(a.Value.Duration())
	case slog.KindTime:
		w.Kind, v = "time", a.Value.Time()
	default:
		v = a.Value.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	w.Value = b
	return json.Marshal(w)
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (a *LogAttr) UnmarshalJSON(b []byte) error {
	var w logAttrJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var err error
	a.Key = w.Key
	switch w.Kind {
	case "int64":
		var n int64
		err = json.Unmarshal(w.Value, &n)
		a.Value = slog.Int64Value(n)
	case "uint64":
		var n uint64
		err = json.Unmarshal(w.Value, &n)
		a.Value = slog.Uint64Value(n)
	case "float64":
		var f jsonFloat
		err = json.Unmarshal(w.Value, &f)
		a.Value = slog.Float64Value(float64(f))
	case "bool":
		var v bool
		err = json.Unmarshal(w.Value, &v)
		a.Value = slog.BoolValue(v)
	case "duration":
		var d jsonSeconds
		err = json.Unmarshal(w.Value, &d)
		a.Value = slog.DurationValue(time.Duration(d))
	case "time":
		var t time.Time
		err = json.Unmarshal(w.Value, &t)
		a.Value = slog.TimeValue(t)
	case "":
		var v string
		err = json.Unmarshal(w.Value, &v)
		a.Value = slog.StringValue(v)
	default:
		err = fmt.Errorf("bgjob: unknown log attribute kind %q", w.Kind)
	}
	return err
}

// jsonFloat is a float64 whose JSON form is a number when it is finite
// and the string "NaN", "+Inf" or "-Inf" otherwise: a diverging loss is
// information, and JSON has no number for it.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	switch v := float64(f); {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	default:
		return json.Marshal(v)
	}
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = jsonFloat(math.NaN())
	case `"+Inf"`:
		*f = jsonFloat(math.Inf(1))
	case `"-Inf"`:
		*f = jsonFloat(math.Inf(-1))
	default:
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = jsonFloat(v)
	}
	return nil
}

// Logger returns a logger whose records become the job's log: EventLog
// events for subscribers, the tail the Runner keeps (WithLogLimit), and
// records on the Runner's own logger (WithLogger), tagged with the job's id
// and name. Logging never waits for a subscriber. Records logged after the
// job has ended go only to the Runner's logger.
func (p *Progress) Logger() *slog.Logger { return p.j.logger() }

// LogWriter returns a writer for code that logs through the log package or
// prints lines: each line written becomes a record at the given level, as
// with Logger. A line longer than MaxLogMessage is cut into records of at
// most that size, between characters. Text after the last newline waits
// for the rest of its line, or for Flush.
func (p *Progress) LogWriter(level slog.Level) *LineWriter {
	return &LineWriter{log: p.Logger(), level: level}
}

// Logger returns the logger of the job whose context ctx is (see
// Progress.Logger), or slog.Default() outside a job or for a nil ctx.
func Logger(ctx context.Context) *slog.Logger {
	if ctx == nil {
		return slog.Default()
	}
	if j, ok := ctx.Value(jobKey{}).(*job); ok {
		return j.logger()
	}
	return slog.Default()
}

// jobKey is the context key under which a job's context holds its job.
type jobKey struct{}

func (j *job) logger() *slog.Logger {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.log == nil {
		j.log = slog.New(&logHandler{j: j})
	}
	return j.log
}

// logHandler turns slog records into the job's log.
type logHandler struct {
	j      *job
	attrs  []LogAttr
	prefix string // the open groups, dotted
}

var (
	_ slog.Handler = (*logHandler)(nil)
	_ io.Writer    = (*LineWriter)(nil)
)

func (h *logHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.j.r.cfg.logLevel.Level()
}

func (h *logHandler) Handle(ctx context.Context, rec slog.Record) error {
	attrs := append([]LogAttr(nil), h.attrs...)
	rec.Attrs(func(a slog.Attr) bool {
		attrs = appendAttr(attrs, h.prefix, a)
		return true
	})
	h.j.writeLog(ctx, LogRecord{Time: rec.Time, Level: rec.Level, Message: rec.Message, Attrs: attrs})
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]LogAttr(nil), h.attrs...)
	for _, a := range as {
		h2.attrs = appendAttr(h2.attrs, h.prefix, a)
	}
	return &h2
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// appendAttr flattens a into attrs, groups as dotted keys.
func appendAttr(attrs []LogAttr, prefix string, a slog.Attr) []LogAttr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			attrs = appendAttr(attrs, p, g)
		}
		return attrs
	}
	if a.Key == "" {
		return attrs
	}
	switch v.Kind() {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindFloat64,
		slog.KindBool, slog.KindDuration, slog.KindTime:
	default:
		// Anything else could be a value the job goes on changing: keep
		// its text, as it was when logged.
		v = slog.StringValue(v.String())
	}
	return append(attrs, LogAttr{Key: prefix + a.Key, Value: v})
}

// writeLog records one line of the job's log.
func (j *job) writeLog(ctx context.Context, rec LogRecord) {
	rec = boundRecord(rec)
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	j.mu.Lock()
	if !j.m.State().Terminal() {
		j.logs.Push(rec)
		if j.logs.Len() > j.r.cfg.logLimit {
			j.logs.Pop()
		}
		if j.observedLocked() {
			ev := j.eventLocked(EventLog, rec.Time)
			ev.Level, ev.Message, ev.Attrs = rec.Level, rec.Message, rec.Attrs
			j.publishLocked(&ev)
		}
	}
	j.mu.Unlock()

	if l := j.r.cfg.logger; l != nil {
		args := make([]slog.Attr, 0, len(rec.Attrs)+2)
		args = append(args, slog.String("job_id", j.id.String()), slog.String("job_name", j.name))
		for _, a := range rec.Attrs {
			args = append(args, slog.Attr{Key: a.Key, Value: a.Value})
		}
		l.LogAttrs(ctx, rec.Level, rec.Message, args...)
	}
}

// logsLocked returns a copy of the job's log tail, oldest first.
func (j *job) logsLocked() []LogRecord {
	out := make([]LogRecord, 0, j.logs.Len())
	for i := range j.logs.Len() {
		rec := *j.logs.At(j.logs.Head() + uint64(i))
		rec.Attrs = append([]LogAttr(nil), rec.Attrs...) // the caller's own
		out = append(out, rec)
	}
	return out
}

// boundRecord applies the bounds above, makes the text valid UTF-8 and
// copies every string it keeps, so that a line cut from a larger string
// does not keep that string alive.
func boundRecord(rec LogRecord) LogRecord {
	rec.Message = strings.Clone(boundText(rec.Message, MaxLogMessage))
	kept, size := 0, 0
	for _, a := range rec.Attrs {
		a.Key = strings.Clone(boundText(a.Key, MaxLogAttrValue))
		n := len(a.Key) + 8 // a number, a bool, a duration or a time
		if a.Value.Kind() == slog.KindString {
			a.Value = slog.StringValue(strings.Clone(boundText(a.Value.String(), MaxLogAttrValue)))
			n = len(a.Key) + len(a.Value.String())
		}
		if kept == MaxLogAttrs || size+n > MaxLogAttrBytes {
			break
		}
		size += n
		rec.Attrs[kept] = a
		kept++
	}
	if dropped := len(rec.Attrs) - kept; dropped > 0 {
		rec.Attrs = append(rec.Attrs[:kept:kept], LogAttr{Key: "bgjob.dropped_attrs", Value: slog.IntValue(dropped)})
	}
	return rec
}

// boundText returns s as valid UTF-8 (invalid bytes become U+FFFD), cut to
// at most limit bytes on a rune boundary, with "…" when it was cut.
func boundText(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// LineWriter turns written bytes into log records, a line each (see
// Progress.LogWriter). It is safe for concurrent use.
type LineWriter struct {
	log   *slog.Logger
	level slog.Level

	mu      sync.Mutex
	pending []byte
	cut     bool // the line being written already gave records
}

// Write records each complete line of b; it never fails.
func (w *LineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.pending = append(w.pending, b...)
			w.pending = w.emitLong(w.pending)
			break
		}
		w.pending = append(w.pending, b[:i]...)
		rest := w.emitLong(w.pending)
		if len(rest) > 0 || !w.cut {
			w.emit(rest)
		}
		w.pending, w.cut = w.pending[:0], false
		b = b[i+1:]
	}
	return n, nil
}

// emitLong emits as records the leading parts of line that fill
// MaxLogMessage, cut between characters, and returns the rest, moved to
// the start of line's buffer: one pass, however long the line.
func (w *LineWriter) emitLong(line []byte) []byte {
	start := 0
	for len(line)-start >= MaxLogMessage {
		cut := start + MaxLogMessage
		for cut > start && cut < len(line) && !utf8.RuneStart(line[cut]) {
			cut--
		}
		if cut == start {
			cut = start + MaxLogMessage // not UTF-8 at all: cut anyway
		}
		w.emit(line[start:cut])
		w.cut = true
		start = cut
	}
	return append(line[:0], line[start:]...)
}

// Flush records the text written after the last newline, if any, as a
// line of its own.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) > 0 {
		w.emit(w.pending)
	}
	w.pending, w.cut = w.pending[:0], false
}

func (w *LineWriter) emit(line []byte) {
	w.log.Log(context.Background(), w.level, string(bytes.TrimRight(line, "\r")))
}
