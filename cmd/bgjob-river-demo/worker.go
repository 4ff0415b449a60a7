package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bgjob/bgjob/bgjobriver"
)

// runWorker works training jobs until it is told to stop.
func runWorker(ctx context.Context, f flags) error {
	c, err := bgjobriver.OpenSQLite(ctx, f.db,
		bgjobriver.WithNodeID(f.node),
		bgjobriver.WithJob("train", train(f.node)),
		bgjobriver.WithMaxWorkers(2),
		bgjobriver.WithHeartbeat(heartbeat, rescueAfter),
		bgjobriver.WithFetchPollInterval(100*time.Millisecond),
		bgjobriver.WithoutMigration())
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	// Hand running jobs over at once: another worker resumes them.
	cctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_ = c.Close(cctx)
	return nil
}
