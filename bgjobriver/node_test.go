package bgjobriver

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The multi-process tests run this test binary again as a node: with
// nodeEnv set to the node's id, TestMain runs nodeMain instead of the tests.
const (
	nodeEnv       = "BGJOBRIVER_TEST_NODE"
	nodeDBEnv     = "BGJOBRIVER_TEST_NODE_DB"     // "sqlite:<path>" or "postgres:<url>"
	nodeSchemaEnv = "BGJOBRIVER_TEST_NODE_SCHEMA" // PostgreSQL schema
	nodeCloseEnv  = "BGJOBRIVER_TEST_NODE_CLOSE"  // Close's timeout after SIGTERM
)

// nodeMain opens a working client with the steps job, prints "ready", and
// runs until SIGTERM, when it closes within the time nodeCloseEnv says.
func nodeMain() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := append(testOptions(), WithNodeID(os.Getenv(nodeEnv)), WithJob("steps", stepsJob),
		WithLogger(logger), WithoutMigration())
	if s := os.Getenv(nodeSchemaEnv); s != "" {
		opts = append(opts, WithSchema(s))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		c   *Client
		err error
	)
	db := os.Getenv(nodeDBEnv)
	switch {
	case strings.HasPrefix(db, "sqlite:"):
		c, err = OpenSQLite(ctx, strings.TrimPrefix(db, "sqlite:"), opts...)
	case strings.HasPrefix(db, "postgres:"):
		c, err = OpenPostgres(ctx, strings.TrimPrefix(db, "postgres:"), opts...)
	default:
		err = fmt.Errorf("no database in %s", nodeDBEnv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	fmt.Println("ready")
	<-sig
	closeWithin, err := time.ParseDuration(os.Getenv(nodeCloseEnv))
	if err != nil {
		closeWithin = 10 * time.Second
	}
	cctx, ccancel := context.WithTimeout(context.Background(), closeWithin)
	defer ccancel()
	err = c.Close(cctx)
	fmt.Fprintln(os.Stderr, "closed:", err)
	return 0
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
	exe, err := os.Executable()
	require.NoError(t, err)
	n := &node{id: id, log: filepath.Join(t.TempDir(), id+".log"), exit: make(chan error, 1)}
	logFile, err := os.Create(n.log)
	require.NoError(t, err)
	n.cmd = exec.Command(exe, "-test.run=^$")
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
