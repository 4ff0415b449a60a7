package bgjobriver_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobriver"
)

// train is an ordinary bgjob job that also reads its input and keeps a
// checkpoint, so that an attempt after a crash starts where the last one
// stopped.
var train = bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
	var in struct{ Epochs int }
	if err := bgjobriver.Input(ctx, &in); err != nil {
		return err
	}
	var done int // the last epoch done, if an earlier attempt saved one
	if _, err := bgjobriver.LoadCheckpoint(ctx, &done); err != nil {
		return err
	}
	p.SetTotal(int64(in.Epochs))
	p.SetStep(int64(done))
	for epoch := done + 1; epoch <= in.Epochs; epoch++ {
		if err := p.Checkpoint(); err != nil { // pause, cancel
			return err
		}
		time.Sleep(10 * time.Millisecond) // one epoch of training
		if err := bgjobriver.SaveCheckpoint(ctx, epoch); err != nil {
			return err
		}
		p.SetStep(int64(epoch))
	}
	return nil
})

func Example() {
	dir, _ := os.MkdirTemp("", "bgjobriver-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	c, err := bgjobriver.OpenSQLite(ctx, filepath.Join(dir, "jobs.db"),
		bgjobriver.WithJob("train", train),
		bgjobriver.WithHeartbeat(100*time.Millisecond, 2*time.Second),
		bgjobriver.WithFetchPollInterval(50*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)

	id, err := c.Start(ctx, "train", map[string]int{"Epochs": 3}, bgjobriver.WithName("resnet-finetune"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Any node can read the status, by id.
	st, err := c.Wait(ctx, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Name, st.State, st.Step, "of", st.Total, "on attempt", st.Attempt)
	// Output: resnet-finetune succeeded 3 of 3 on attempt 1
}

func ExampleClient_Cancel() {
	dir, _ := os.MkdirTemp("", "bgjobriver-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	causes := make(chan error, 1)
	wait := bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return context.Cause(ctx)
	})
	c, err := bgjobriver.OpenSQLite(ctx, filepath.Join(dir, "jobs.db"),
		bgjobriver.WithJob("wait", wait),
		bgjobriver.WithHeartbeat(100*time.Millisecond, 2*time.Second),
		bgjobriver.WithFetchPollInterval(50*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(ctx)

	id, _ := c.Start(ctx, "wait", nil)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, _ := c.Status(ctx, id); st.State == bgjob.StateRunning {
			break
		}
	}
	// From any node: the reason reaches the job as its context's cause.
	_ = c.Cancel(ctx, id, errors.New("superseded by a newer dataset"))
	var ce *bgjobriver.CancelError
	if errors.As(<-causes, &ce) {
		fmt.Println("the job saw:", ce.Reason)
	}
	st, _ := c.Wait(ctx, id)
	fmt.Println(st.State, st.RiverState)
	// Output:
	// the job saw: superseded by a newer dataset
	// canceled cancelled
}
