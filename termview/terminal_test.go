package termview

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	unset := "<unset>"
	tests := []struct {
		name       string
		terminal   bool
		force      *bool
		noColor    string
		term       string
		live, tint bool
	}{
		{name: "terminal", terminal: true, noColor: unset, term: "xterm-256color", live: true, tint: true},
		{name: "not a terminal", noColor: unset, term: "xterm-256color"},
		{name: "NO_COLOR=1", terminal: true, noColor: "1", term: "xterm-256color"},
		{name: "NO_COLOR empty", terminal: true, noColor: "", term: "xterm-256color"},
		{name: "TERM=dumb", terminal: true, noColor: unset, term: "dumb"},
		{name: "TERM unset", terminal: true, noColor: unset, term: unset, live: true, tint: true},
		{name: "forced live", force: new(true), noColor: unset, term: "xterm", live: true, tint: true},
		{name: "forced live, NO_COLOR", force: new(true), noColor: "1", term: "xterm", live: true},
		{name: "forced live, TERM=dumb", force: new(true), noColor: unset, term: "dumb", live: true},
		{name: "forced plain", terminal: true, force: new(false), noColor: unset, term: "xterm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setOrUnset(t, "NO_COLOR", tt.noColor, unset)
			setOrUnset(t, "TERM", tt.term, unset)
			live, tint := decide(tt.terminal, tt.force)
			assert.Equal(t, tt.live, live, "live")
			assert.Equal(t, tt.tint, tint, "colour")
		})
	}
}

func setOrUnset(t *testing.T, key, value, unset string) {
	t.Helper()
	if value == unset {
		unsetEnv(t, key)
		return
	}
	t.Setenv(key, value)
}

// TestFileIsPlain checks that a file that is not a terminal gets plain
// output, the same as the plain golden file.
func TestFileIsPlain(t *testing.T) {
	colourEnv(t)
	path := filepath.Join(t.TempDir(), "out.log")
	f, err := os.Create(path)
	require.NoError(t, err)
	v := New(f, Options{})
	require.False(t, v.out.live)
	require.Equal(t, -1, v.out.fd)
	play(v, script())
	v.Close()
	require.NoError(t, f.Close())

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "plain.golden"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

// TestWriterIsPlain checks that a writer that is not an *os.File gets
// plain output, whatever the environment.
func TestWriterIsPlain(t *testing.T) {
	colourEnv(t)
	v := New(&screen{}, Options{})
	assert.False(t, v.out.live)
	cols, rows := v.size()
	assert.Equal(t, 100, cols)
	assert.Zero(t, rows)
	v = New(&screen{}, Options{Width: 72})
	cols, _ = v.size()
	assert.Equal(t, 72, cols)
}
