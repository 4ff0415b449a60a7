package stacks

import (
	"context"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const profile = `goroutine profile: total 4
1 @ 0x1 0x2
# labels: {"job":"a", "name":"first"}
#	0x1	main.work+0x1	/src/main.go:10
#	0x2	main.run+0x2	/src/main.go:20

2 @ 0x3
# labels: {"job":"ab"}
#	0x3	main.other+0x3	/src/main.go:30

1 @ 0x4
#	0x4	main.unlabelled+0x4	/src/main.go:40
`

func TestFilter(t *testing.T) {
	got := Filter(profile, "job", "a")
	assert.True(t, strings.HasPrefix(got, "1 @ 0x1 0x2"), "the first entry comes without the profile's header: %q", got)
	assert.Contains(t, got, "main.work")
	assert.NotContains(t, got, "main.other", "a longer value does not match")
	assert.NotContains(t, got, "main.unlabelled")

	assert.Contains(t, Filter(profile, "job", "ab"), "main.other")
	assert.Contains(t, Filter(profile, "name", "first"), "main.run")
	assert.Empty(t, Filter(profile, "job", "zzz"))
	assert.Empty(t, Filter(profile, "jo", "a"), "a shorter key does not match")
	assert.Empty(t, Filter("", "job", "a"))
}

func TestLabelledFindsALiveGoroutine(t *testing.T) {
	release := make(chan struct{})
	parked := make(chan struct{})
	done := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("stacks_test", "needle"), func(context.Context) {
		close(parked)
		waitHere(release)
		close(done)
	})
	<-parked
	got, err := Labelled("stacks_test", "needle")
	close(release)
	<-done
	require.NoError(t, err)
	assert.Contains(t, got, "waitHere")
	assert.True(t, strings.HasPrefix(got, "1 @ "), "%q", got)
}

func waitHere(c <-chan struct{}) { <-c }

func TestGroup(t *testing.T) {
	got := Group(profile, "job", map[string]bool{"a": true, "ab": true, "zzz": true})
	require.Len(t, got, 2)
	assert.Contains(t, got["a"], "main.work")
	assert.NotContains(t, got["a"], "main.other")
	assert.Contains(t, got["ab"], "main.other")
	assert.Empty(t, Group(profile, "jo", map[string]bool{"a": true}), "a shorter key does not match")
	assert.Empty(t, Group(profile, "job", nil))
}

func TestByLabelTakesOneProfileForManyGoroutines(t *testing.T) {
	release := make(chan struct{})
	var parked, done [3]chan struct{}
	want := map[string]bool{}
	for i := range parked {
		parked[i], done[i] = make(chan struct{}), make(chan struct{})
		name := string(rune('x' + i))
		want[name] = true
		go pprof.Do(context.Background(), pprof.Labels("stacks_test", name), func(context.Context) {
			close(parked[i])
			waitHere(release)
			close(done[i])
		})
		<-parked[i]
	}
	got, err := ByLabel("stacks_test", want)
	close(release)
	for _, d := range done {
		<-d
	}
	require.NoError(t, err)
	require.Len(t, got, 3)
	for name := range want {
		assert.Contains(t, got[name], "waitHere")
	}
}

func TestReadable(t *testing.T) {
	got := Readable(Filter(profile, "job", "a")+"\n\n"+Filter(profile, "job", "ab"), nil)
	assert.Equal(t, "1 goroutine(s):\n    main.work  /src/main.go:10\n    main.run  /src/main.go:20\n"+
		"2 goroutine(s):\n    main.other  /src/main.go:30", got)
	assert.NotContains(t, got, "0x", "no addresses")
	assert.Empty(t, Readable("", nil))
	skipRun := func(fn string) bool { return fn == "main.run" }
	assert.Equal(t, "1 goroutine(s):\n    main.work  /src/main.go:10", Readable(Filter(profile, "job", "a"), skipRun))
}
