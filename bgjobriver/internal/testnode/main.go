// Command testnode is a node of the multi-process tests: a working client
// with the steps job, on the database its environment names. It prints
// "ready" once open, and runs until SIGTERM, when it closes within the time
// BGJOBRIVER_TEST_NODE_CLOSE says.
//
// The tests build it without the race detector: SQLite (modernc.org/sqlite
// is C translated to Go) runs about fifteen times slower under it, and nodes
// that slow miss their heartbeats on a busy machine. The package's own code
// is raced in the in-process tests.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bgjob/bgjob/bgjobriver"
)

// The environment of a node.
const (
	envNode     = "BGJOBRIVER_TEST_NODE"        // the node's id
	envDB       = "BGJOBRIVER_TEST_NODE_DB"     // "sqlite:<path>" or "postgres:<url>"
	envSchema   = "BGJOBRIVER_TEST_NODE_SCHEMA" // PostgreSQL schema
	envClose    = "BGJOBRIVER_TEST_NODE_CLOSE"  // Close's timeout after SIGTERM
	envInterval = "BGJOBRIVER_TEST_NODE_TIMES"  // "<heartbeat>,<rescue after>"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testnode:", err)
		os.Exit(1)
	}
}

func run() error {
	heartbeat, rescueAfter := 100*time.Millisecond, 3*time.Second
	if hb, ra, ok := strings.Cut(os.Getenv(envInterval), ","); ok {
		var err error
		if heartbeat, err = time.ParseDuration(hb); err != nil {
			return err
		}
		if rescueAfter, err = time.ParseDuration(ra); err != nil {
			return err
		}
	}
	opts := []bgjobriver.Option{
		bgjobriver.WithNodeID(os.Getenv(envNode)),
		bgjobriver.WithJob("steps", stepsJob),
		bgjobriver.WithHeartbeat(heartbeat, rescueAfter),
		bgjobriver.WithFetchPollInterval(100 * time.Millisecond),
		bgjobriver.WithRetryPolicy(fastRetry{}),
		bgjobriver.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		bgjobriver.WithoutMigration(),
	}
	if s := os.Getenv(envSchema); s != "" {
		opts = append(opts, bgjobriver.WithSchema(s))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		c   *bgjobriver.Client
		err error
	)
	switch db := os.Getenv(envDB); {
	case strings.HasPrefix(db, "sqlite:"):
		c, err = bgjobriver.OpenSQLite(ctx, strings.TrimPrefix(db, "sqlite:"), opts...)
	case strings.HasPrefix(db, "postgres:"):
		c, err = bgjobriver.OpenPostgres(ctx, strings.TrimPrefix(db, "postgres:"), opts...)
	default:
		err = fmt.Errorf("no database in %s", envDB)
	}
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-sig
	closeWithin, err := time.ParseDuration(os.Getenv(envClose))
	if err != nil {
		closeWithin = 10 * time.Second
	}
	cctx, ccancel := context.WithTimeout(context.Background(), closeWithin)
	defer ccancel()
	fmt.Fprintln(os.Stderr, "closed:", c.Close(cctx))
	return nil
}
