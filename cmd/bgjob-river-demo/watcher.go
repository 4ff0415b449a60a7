package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobriver"
)

// runWatcher starts the training jobs and prints a line whenever what any
// process can read of a job changes: state, worker, process, attempt, or ten
// more percent. It ends when every job has finished, or ctx ends.
func runWatcher(ctx context.Context, f flags) error {
	c, err := bgjobriver.OpenSQLite(ctx, f.db, bgjobriver.WithHeartbeat(heartbeat, rescueAfter), bgjobriver.WithoutMigration())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	ids := make([]int64, f.jobs)
	for i := range ids {
		ids[i], err = c.Start(ctx, "train", trainInput{Epochs: f.epochs, Epoch: f.epoch},
			bgjobriver.WithName(fmt.Sprintf("finetune-%d", i+1)))
		if err != nil {
			return err
		}
	}
	last := map[int64]string{}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		finished := 0
		for _, id := range ids {
			st, err := c.Status(ctx, id)
			if err != nil {
				return err
			}
			if line := describe(st); line != last[id] {
				last[id] = line
				fmt.Println(line)
			}
			if st.Finished() {
				finished++
			}
		}
		if finished == len(ids) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// describe renders what a watcher reads of a job, at ten-percent grain so
// that a line means something changed.
func describe(st bgjobriver.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "watcher: job %d %s: %s", st.JobID, st.Name, st.State)
	if st.HasWorker && st.State != bgjob.StateQueued {
		fmt.Fprintf(&b, " on %s (pid %d, alive %t)", st.Node, st.ProcessID, st.Alive)
	}
	fmt.Fprintf(&b, ", attempt %d, %d%%", st.Attempt, int(st.Percent)/10*10)
	if st.Rescues > 0 {
		fmt.Fprintf(&b, ", taken back %d time(s)", st.Rescues)
	}
	if st.State.Terminal() || st.State == bgjob.StateQueued {
		if st.Err != nil {
			fmt.Fprintf(&b, ", last error: %v", st.Err)
		}
	}
	return b.String()
}
