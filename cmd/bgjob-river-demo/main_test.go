package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoMovesAJobBetweenProcesses builds the demo and runs it: two worker
// processes and a watcher; the first job's worker is killed midway, and the
// job must finish on the other worker, from its checkpoint.
func TestDemoMovesAJobBetweenProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "bgjob-river-demo")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOWORK=off") // the module builds on its own
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	run := exec.CommandContext(ctx, bin, "-epochs", "16", "-epoch", "60ms", "-jobs", "2", "-timeout", "90s")
	out, err = run.CombinedOutput()
	text := string(out)
	require.NoError(t, err, "%s", text)
	require.Contains(t, text, "demo: kill -9 worker-")
	require.Contains(t, text, "resumes after epoch")
	require.Contains(t, text, "taken back 1 time(s)")
	ends := regexp.MustCompile(`(?m)^demo: job \d+ finetune-\d+ succeeded on worker-\d`).FindAllString(text, -1)
	require.Len(t, ends, 2, "%s", text)
}
