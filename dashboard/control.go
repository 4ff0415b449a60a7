package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// controlRequest is the body of a control request, as JSON or as a form.
type controlRequest struct {
	// Reason is the cause of a cancel, which the job sees as
	// context.Cause and which becomes its error.
	Reason string `json:"reason"`
}

// serveControl serves POST api/jobs/{id}/{cancel,pause,resume}, behind
// the cross-origin protection. It answers 403 when control is off or the
// authorizer refuses, 400 for a malformed id or body, 404 for an unknown
// job or action, 409 when the job's state does not allow the action, 413
// for a body over 4 KB, 415 for a body that is neither JSON nor a form,
// and 200 with the job's status after the action otherwise.
func (h *Handler) serveControl(w http.ResponseWriter, r *http.Request) {
	if h.c.authorize == nil {
		writeError(w, http.StatusForbidden, "control is off")
		return
	}
	action := Action(r.PathValue("action"))
	switch action {
	case ActionCancel, ActionPause, ActionResume:
	default:
		writeError(w, http.StatusNotFound, "no such action")
		return
	}
	if _, err := query(r, ""); err != nil {
		writeInputError(w, err)
		return
	}
	if err := h.c.authorize(r, action); err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	req, code, err := readControl(w, r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	if action != ActionCancel && req.Reason != "" {
		writeError(w, http.StatusBadRequest, "only cancel takes a reason")
		return
	}
	hd, ok := h.job(w, r)
	if !ok {
		return
	}
	switch action {
	case ActionCancel:
		var cause error
		if req.Reason != "" {
			// The job keeps its cause for as long as its record lives:
			// a reason cut from the form's body must not keep the body.
			cause = errors.New(strings.Clone(req.Reason))
		}
		err = hd.Cancel(cause)
	case ActionPause:
		err = hd.Pause()
	case ActionResume:
		err = hd.Resume()
	}
	if err != nil {
		// ErrJobDone, ErrNotRunning, ErrNotPaused: the job's state does
		// not allow it now.
		writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "bgjob: "))
		return
	}
	writeJSON(w, http.StatusOK, h.jobStatus(hd.Status()))
}

// readControl reads a control request's body: empty, JSON or a form, at
// most maxBodyLen bytes, with no field but reason.
func readControl(w http.ResponseWriter, r *http.Request) (controlRequest, int, error) {
	var req controlRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyLen))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, http.StatusRequestEntityTooLarge, errors.New("body too large")
		}
		return req, http.StatusBadRequest, errors.New("body unreadable")
	}
	if len(body) == 0 {
		return req, 0, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, http.StatusBadRequest, errors.New("body is not a JSON object with only a reason")
		}
		if dec.More() {
			return req, http.StatusBadRequest, errors.New("body holds more than one JSON value")
		}
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return req, http.StatusBadRequest, errors.New("malformed form")
		}
		for k, vs := range form {
			if k != "reason" || len(vs) != 1 {
				return req, http.StatusBadRequest, errors.New("the form takes one reason and nothing else")
			}
		}
		req.Reason = form.Get("reason")
	default:
		return req, http.StatusUnsupportedMediaType, errors.New("body must be application/json or a form")
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if err := text("reason", req.Reason, maxReasonLen); err != nil {
		return req, http.StatusBadRequest, err
	}
	return req, 0, nil
}
