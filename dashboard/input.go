package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bgjob/bgjob"
)

// Bounds on what a request may carry. Beyond them the request is refused
// with a status that says why, before anything is looked up.
const (
	maxQueryLen    = 2048 // bytes of the raw query
	maxValueLen    = 512  // bytes of one query value
	maxBodyLen     = 4096 // bytes of a control request's body
	maxReasonLen   = 512  // bytes of a cancel reason
	maxHistoryPage = 500
	defaultPage    = 50
	maxOffset      = 1_000_000
	maxLogLimit    = 10_000
)

// badRequest is an input error; its message is for the client.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// query parses the request's query and refuses parameters other than
// allowed, values given twice where one is expected (all but multi), and
// values longer than maxValueLen.
func query(r *http.Request, multi string, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badf("malformed query")
	}
	for k, vs := range q {
		if !slices.Contains(allowed, k) && k != multi {
			if len(k) > 64 || !utf8.ValidString(k) {
				return nil, badf("unknown parameter")
			}
			return nil, badf("unknown parameter %q", k)
		}
		if len(vs) > 1 && k != multi {
			return nil, badf("parameter %q given more than once", k)
		}
		for _, v := range vs {
			if len(v) > maxValueLen {
				return nil, badf("parameter %q longer than %d bytes", k, maxValueLen)
			}
		}
	}
	return q, nil
}

// intParam returns the integer parameter key, def when absent, refusing
// values outside [lo, hi].
func intParam(q url.Values, key string, def, lo, hi int) (int, error) {
	s := q.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badf("%s must be a number from %d to %d", key, lo, hi)
	}
	return n, nil
}

// parseID parses a job id in its canonical form, 36 characters.
func parseID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, badf("malformed job id")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, badf("malformed job id")
	}
	return id, nil
}

// job returns the handle of the job the path names, writing the error
// response itself when there is none: 400 for a malformed id, 404 for an
// unknown one.
func (h *Handler) job(w http.ResponseWriter, r *http.Request) (*bgjob.Handle, bool) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	hd, err := h.r.Job(id)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such job")
		return nil, false
	}
	return hd, true
}

// parseTypes parses a comma-separated list of event types.
func parseTypes(s string) ([]bgjob.EventType, error) {
	if s == "" {
		return nil, nil
	}
	var types []bgjob.EventType
	for name := range strings.SplitSeq(s, ",") {
		var t bgjob.EventType
		if err := t.UnmarshalText([]byte(name)); err != nil || t == bgjob.EventLagged {
			return nil, badf("unknown event type in types")
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	return types, nil
}

// parseStates parses the history's state filters: terminal states, one
// per parameter or comma-separated.
func parseStates(values []string) ([]bgjob.State, error) {
	var states []bgjob.State
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			var s bgjob.State
			if err := s.UnmarshalText([]byte(name)); err != nil || !s.Terminal() {
				return nil, badf("state must be succeeded, failed or canceled")
			}
			if !slices.Contains(states, s) {
				states = append(states, s)
			}
		}
	}
	return states, nil
}

// text checks a piece of text a client sends: valid UTF-8, no control
// characters, at most max bytes.
func text(what, s string, max int) error {
	if len(s) > max {
		return badf("%s longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return badf("%s is not valid UTF-8", what)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return badf("%s holds control characters", what)
	}
	return nil
}

// writeInputError answers err: 400 with its message for a bad request.
func writeInputError(w http.ResponseWriter, err error) {
	if br, ok := errors.AsType[*badRequest](err); ok {
		writeError(w, http.StatusBadRequest, br.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, "internal error")
}
