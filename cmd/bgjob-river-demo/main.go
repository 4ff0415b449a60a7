// Command bgjob-river-demo shows durable jobs moving between processes.
//
// It starts two worker processes and one watcher on a SQLite file. The
// watcher starts training jobs and prints their status as any process reads
// it from the database: which worker, which process, which attempt, how far.
// Midway, the demo kills the worker running the first job with SIGKILL; the
// other worker takes the job back once its heartbeat is stale and finishes it
// from its last checkpoint.
//
//	go run ./cmd/bgjob-river-demo            # one job, killed at 40%
//	go run ./cmd/bgjob-river-demo -jobs 3    # three jobs, two at a time per worker
//	go run ./cmd/bgjob-river-demo -kill-at 0 # no kill
//
// It exits 0 when every job succeeded (and, with a kill, the killed job
// finished on the other worker), 1 otherwise.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Short intervals, so that the move is seen within seconds.
const (
	heartbeat   = 200 * time.Millisecond
	rescueAfter = 2 * time.Second
)

type flags struct {
	db      string
	jobs    int
	epochs  int
	epoch   time.Duration
	killAt  float64
	role    string
	node    string
	timeout time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.db, "db", "", "SQLite file (default: a new one in a temporary directory)")
	flag.IntVar(&f.jobs, "jobs", 1, "training jobs to run")
	flag.IntVar(&f.epochs, "epochs", 30, "epochs per job")
	flag.DurationVar(&f.epoch, "epoch", 150*time.Millisecond, "time one epoch takes")
	flag.Float64Var(&f.killAt, "kill-at", 40, "kill the first job's worker at this percent (0: never)")
	flag.DurationVar(&f.timeout, "timeout", 2*time.Minute, "give up after this long")
	flag.StringVar(&f.role, "role", "", "internal: worker or watcher")
	flag.StringVar(&f.node, "node", "", "internal: the worker's node id")
	flag.Parse()
	if f.jobs < 1 || f.epochs < 1 || f.epoch <= 0 || f.killAt < 0 || f.killAt >= 100 {
		fmt.Fprintln(os.Stderr, "bgjob-river-demo: -jobs and -epochs must be at least 1, -epoch positive, -kill-at in [0, 100)")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch f.role {
	case "worker":
		err = runWorker(ctx, f)
	case "watcher":
		err = runWatcher(ctx, f)
	case "":
		err = supervise(ctx, f)
	default:
		err = fmt.Errorf("unknown role %q", f.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgjob-river-demo:", err)
		os.Exit(1)
	}
}

// dbPath returns the database file, making a temporary one if none was
// given; cleanup removes what was made.
func dbPath(f flags) (string, func(), error) {
	if f.db != "" {
		return f.db, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "bgjob-river-demo")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "jobs.db"), func() { _ = os.RemoveAll(dir) }, nil
}
