package bgjobriver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The multi-process tests run nodes built from internal/testnode, without
// the race detector (see its package comment), configured by environment.
const (
	nodeEnv       = "BGJOBRIVER_TEST_NODE"        // the node's id
	nodeDBEnv     = "BGJOBRIVER_TEST_NODE_DB"     // "sqlite:<path>" or "postgres:<url>"
	nodeSchemaEnv = "BGJOBRIVER_TEST_NODE_SCHEMA" // PostgreSQL schema
	nodeCloseEnv  = "BGJOBRIVER_TEST_NODE_CLOSE"  // Close's timeout after SIGTERM
)

var nodeBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildNode builds the node program once per test run.
func buildNode(t *testing.T) string {
	t.Helper()
	nodeBinary.once.Do(func() {
		nodeBinary.dir, nodeBinary.err = os.MkdirTemp("", "bgjobriver-testnode")
		if nodeBinary.err != nil {
			return
		}
		nodeBinary.path = filepath.Join(nodeBinary.dir, "testnode")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", nodeBinary.path, "./internal/testnode")
		// The module builds on its own, in a workspace or not.
		build.Env = append(os.Environ(), "GOWORK=off")
		out, err := build.CombinedOutput()
		if err != nil {
			nodeBinary.err = fmt.Errorf("build the test node: %v\n%s", err, out)
		}
	})
	require.NoError(t, nodeBinary.err)
	return nodeBinary.path
}

func removeNodeBinary() {
	if nodeBinary.dir != "" {
		_ = os.RemoveAll(nodeBinary.dir)
	}
}

// node is a node process started by a test.
type node struct {
	id   string
	cmd  *exec.Cmd
	log  string
	exit chan error
}

// startNode starts a node process on db and waits for it to be ready.
func startNode(t *testing.T, id string, env ...string) *node {
	t.Helper()
	exe := buildNode(t)
	n := &node{id: id, log: filepath.Join(t.TempDir(), id+".log"), exit: make(chan error, 1)}
	logFile, err := os.Create(n.log)
	require.NoError(t, err)
	n.cmd = exec.Command(exe)
	n.cmd.Env = append(append(os.Environ(), nodeEnv+"="+id), env...)
	n.cmd.Stderr = logFile
	stdout, err := n.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, n.cmd.Start())
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		n.exit <- n.cmd.Wait()
		_ = logFile.Close()
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.exit
		n.exit <- nil
		if t.Failed() {
			b, _ := os.ReadFile(n.log)
			t.Logf("log of node %s:\n%s", id, b)
		}
	})
	select {
	case ok := <-ready:
		require.True(t, ok, "node %s exited before it was ready", id)
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s not ready within 30s", id)
	}
	return n
}

// kill kills the node with SIGKILL and returns once it is dead.
func (n *node) kill(t *testing.T) time.Time {
	t.Helper()
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGKILL))
	err := <-n.exit
	n.exit <- err
	return time.Now()
}

// stop sends SIGTERM and waits for the node to close.
func (n *node) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-n.exit:
		n.exit <- err
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s did not stop within 30s", n.id)
	}
}

func (n *node) pid() int { return n.cmd.Process.Pid }
