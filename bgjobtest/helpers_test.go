package bgjobtest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bgjob/bgjob"
)

// newRunner returns a Runner that the test shuts down when it ends.
func newRunner(t *testing.T, opts ...bgjob.Option) *bgjob.Runner {
	t.Helper()
	r, err := bgjob.NewRunner(opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		assert.NoError(t, r.Shutdown(ctx))
	})
	return r
}

// start starts job and fails the test if Start fails.
func start(t *testing.T, r *bgjob.Runner, name string, job bgjob.Job, opts ...bgjob.JobOption) *bgjob.Handle {
	t.Helper()
	h, err := r.Start(t.Context(), name, job, opts...)
	require.NoError(t, err)
	return h
}

// testCtx bounds a test's waits, so that a bug fails the test with the
// helpers' messages rather than hanging until go test's timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fakeTB records the failures an assertion reports, to check that it fails
// when it should; everything else goes to the real test.
type fakeTB struct {
	testing.TB

	mu     sync.Mutex
	errors []string // guarded by mu
}

func newFakeTB(t testing.TB) *fakeTB { return &fakeTB{TB: t} }

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

// Fatalf records the failure and ends the calling goroutine, as
// testing.T.Fatalf does: call the code under test on a goroutine of its own.
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

// failures returns the failures reported so far, joined.
func (f *fakeTB) failures() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.errors, "\n")
}

// failed reports how many failures were reported.
func (f *fakeTB) failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errors)
}

func isState(want bgjob.State) func(bgjob.JobStatus) bool {
	return func(st bgjob.JobStatus) bool { return st.State == want }
}
