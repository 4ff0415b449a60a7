package termview

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name.golden, byte for byte, or
// rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), string(got), "%s differs; run go test -update if the change is meant", path)
}

// unsetEnv unsets key for the test and restores it after: t.Setenv
// registers the restoration, os.Unsetenv then removes the variable.
func unsetEnv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	require.NoError(t, os.Unsetenv(key))
}

// colourEnv makes the environment one where a terminal takes colour.
func colourEnv(t *testing.T) {
	t.Helper()
	unsetEnv(t, "NO_COLOR")
	t.Setenv("TERM", "xterm-256color")
}
