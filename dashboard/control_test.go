package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobtest"
	"github.com/bgjob/bgjob/dashboard"
)

func TestControlIsOffWithoutAnAuthorizer(t *testing.T) {
	ctx := t.Context()
	r := newRunner(t)
	h := newHandler(t, r)
	hd, err := r.Start(ctx, "hang", bgjobtest.HangUntilCanceled())
	require.NoError(t, err)
	defer hd.Cancel(nil)
	for _, a := range []string{"cancel", "pause", "resume"} {
		w := do(h, http.MethodPost, "/api/jobs/"+hd.ID().String()+"/"+a, nil)
		assert.Equal(t, http.StatusForbidden, w.Code, a)
		assert.Contains(t, w.Body.String(), "control is off")
	}
	assert.Equal(t, bgjob.StateRunning, hd.Status().State)
}

func TestControlWithAnAuthorizer(t *testing.T) {
	ctx := t.Context()
	r := newRunner(t)
	var asked []dashboard.Action
	h := newHandler(t, r, dashboard.WithAuthorizer(func(req *http.Request, a dashboard.Action) error {
		if req.Method == http.MethodPost {
			asked = append(asked, a)
		}
		if req.Header.Get("X-Role") != "operator" {
			return errors.New("operators only")
		}
		if a == dashboard.ActionCancel && req.Header.Get("X-Can-Cancel") == "" {
			return errors.New("not allowed to cancel")
		}
		return nil
	}))
	g := bgjobtest.NewGate(3)
	hd, err := r.Start(ctx, "train", g.Job())
	require.NoError(t, err)
	path := "/api/jobs/" + hd.ID().String()

	var cfg dashboard.Config
	w := do(h, http.MethodGet, "/api/config", nil, "X-Role", "operator")
	require.Equal(t, http.StatusOK, w.Code)
	getJSONBody(t, w.Body.String(), &cfg)
	assert.True(t, cfg.Control)
	assert.Equal(t, []dashboard.Action{dashboard.ActionPause, dashboard.ActionResume}, cfg.Actions, "only what this request may do")

	w = do(h, http.MethodPost, path+"/pause", nil)
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Contains(t, w.Body.String(), "operators only")

	<-g.Reached(1)
	w = do(h, http.MethodPost, path+"/pause", nil, "X-Role", "operator", "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	g.Release(1)
	require.NoError(t, bgjobtest.WaitStatus(ctx, r, hd, func(st bgjob.JobStatus) bool { return st.State == bgjob.StatePaused }))
	w = do(h, http.MethodPost, path+"/resume", nil, "X-Role", "operator")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	w = do(h, http.MethodPost, path+"/resume", nil, "X-Role", "operator")
	assert.Equal(t, http.StatusConflict, w.Code, "not paused")

	w = do(h, http.MethodPost, path+"/cancel", strings.NewReader(`{"reason":"superseded by a newer dataset"}`), "X-Role", "operator", "Content-Type", "application/json")
	assert.Equal(t, http.StatusForbidden, w.Code)
	w = do(h, http.MethodPost, path+"/cancel", strings.NewReader(`{"reason":"  superseded by a newer dataset "}`),
		"X-Role", "operator", "X-Can-Cancel", "yes", "Content-Type", "application/json", "Origin", "http://example.com")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	bgjobtest.AssertEnded(ctx, t, hd, bgjob.StateCanceled)
	assert.EqualError(t, hd.Status().Err, "superseded by a newer dataset")

	w = do(h, http.MethodPost, path+"/cancel", strings.NewReader("reason=again"),
		"X-Role", "operator", "X-Can-Cancel", "yes", "Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, http.StatusConflict, w.Code)
	assert.Contains(t, w.Body.String(), "already finished")
	assert.Equal(t, []dashboard.Action{"pause", "pause", "resume", "resume", "cancel", "cancel", "cancel"}, asked)
}

func TestStacksShownOnlyWhenEnabled(t *testing.T) {
	ctx := t.Context()
	r := newRunner(t)
	hd, err := r.Start(ctx, "buggy", bgjobtest.Panic("index out of range"))
	require.NoError(t, err)
	<-hd.Done()
	require.NotEmpty(t, hd.Status().Stack)
	for _, show := range []bool{false, true} {
		h := newHandler(t, r, dashboard.WithStacks(show))
		for _, target := range []string{"/api/jobs/" + hd.ID().String(), "/api/history"} {
			body := do(h, http.MethodGet, target, nil).Body.String()
			assert.Contains(t, body, "index out of range")
			assert.Equal(t, show, strings.Contains(body, `"traceback"`), "%s stacks %t: %s", target, show, body)
		}
		c := openStream(h, "/api/jobs/"+hd.ID().String()+"/events")
		snap := c.nextData(t)
		assert.Equal(t, show, strings.Contains(snap.data, `"traceback"`))
		c.close()
	}
}

func getJSONBody(t *testing.T, body string, v any) {
	t.Helper()
	frame{data: body}.decode(t, v)
}

var _ = context.Background
