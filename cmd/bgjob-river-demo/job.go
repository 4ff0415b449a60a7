package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobriver"
)

// trainInput is a training job's input.
type trainInput struct {
	Epochs int           `json:"epochs"`
	Epoch  time.Duration `json:"epoch"`
}

// trainState is what a training job checkpoints after every epoch: where it
// is, and the loss so far. A real job would add the path of its weights.
type trainState struct {
	Epoch int     `json:"epoch"`
	Loss  float64 `json:"loss"`
}

// train is a stand-in for a training loop: each epoch takes its time and
// lowers the loss, and is checkpointed. It is an ordinary bgjob.Job: the
// same function runs on a plain Runner (where Input and LoadCheckpoint
// report no durable job and it trains from scratch).
func train(node string) bgjob.Job {
	return bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
		in := trainInput{Epochs: 10, Epoch: 100 * time.Millisecond}
		_ = bgjobriver.Input(ctx, &in)
		st := trainState{Loss: 2.5}
		resumed, _ := bgjobriver.LoadCheckpoint(ctx, &st)
		att, _ := bgjobriver.CurrentAttempt(ctx)
		if resumed {
			fmt.Printf("%s: job %d attempt %d resumes after epoch %d (loss %.3f)\n", node, att.JobID, att.Number, st.Epoch, st.Loss)
		} else {
			fmt.Printf("%s: job %d attempt %d starts from scratch\n", node, att.JobID, att.Number)
		}
		p.SetTotal(int64(in.Epochs))
		p.SetStep(int64(st.Epoch))
		for epoch := st.Epoch + 1; epoch <= in.Epochs; epoch++ {
			if err := p.Checkpoint(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-time.After(in.Epoch):
			}
			st = trainState{Epoch: epoch, Loss: 2.5 * math.Exp(-0.15*float64(epoch))}
			if err := bgjobriver.SaveCheckpoint(ctx, st); err != nil {
				return err
			}
			p.SetStep(int64(epoch))
			p.SetMessage(fmt.Sprintf("epoch %d loss %.4f", epoch, st.Loss))
			_ = p.Metric("loss", st.Loss)
		}
		fmt.Printf("%s: job %d done\n", node, att.JobID)
		return nil
	})
}
