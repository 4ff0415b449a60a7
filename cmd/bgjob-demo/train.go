package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/bgjob/bgjob"
)

// dataset is a binary classification problem generated from a seed: points
// in a cube, labelled by a nonlinear rule that a linear model cannot learn
// well but a small neural network can.
type dataset struct {
	x        [][]float64
	y        []float64
	features int
}

func makeDataset(seed uint64, samples, features int) dataset {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	d := dataset{x: make([][]float64, samples), y: make([]float64, samples), features: features}
	for i := range samples {
		row := make([]float64, features)
		for j := range row {
			row[j] = 2*rng.Float64() - 1
		}
		score := row[0]*row[1]*2 + math.Sin(3*row[2]) + 0.5*row[3]
		if rng.Float64() < 0.03 { // a little label noise
			score = -score
		}
		if score > 0 {
			d.y[i] = 1
		}
		d.x[i] = row
	}
	return d
}

// mlp is a network with one hidden tanh layer and a sigmoid output.
type mlp struct {
	w1 [][]float64 // hidden × features
	b1 []float64
	w2 []float64 // hidden
	b2 float64
}

func newMLP(seed uint64, features, hidden int) *mlp {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &mlp{w1: make([][]float64, hidden), b1: make([]float64, hidden), w2: make([]float64, hidden)}
	scale := 1 / math.Sqrt(float64(features))
	for h := range hidden {
		m.w1[h] = make([]float64, features)
		for j := range m.w1[h] {
			m.w1[h][j] = rng.NormFloat64() * scale
		}
		m.w2[h] = rng.NormFloat64() / math.Sqrt(float64(hidden))
	}
	return m
}

// trainConfig describes one training job.
type trainConfig struct {
	seed         uint64
	samples      int
	features     int
	hidden       int
	epochs       int
	batch        int
	learningRate float64
	// diverge makes the loss blow up, as a too large learning rate does,
	// and the job fail.
	diverge bool
	// panicAtEpoch, when positive, makes the job hit a bug at that epoch.
	panicAtEpoch int
	// hangAtEpoch, when positive, makes the job wait hangFor at that
	// epoch without reporting progress, as on a stuck download.
	hangAtEpoch int
	hangFor     time.Duration
}

var errDiverged = errors.New("training diverged")

// fetchShard stands for a download that hangs for a while.
func fetchShard(ctx context.Context, hang time.Duration) error {
	select {
	case <-time.After(hang):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// train fits the network by mini-batch gradient descent, reporting each
// batch as a step and each epoch's loss and accuracy as metrics.
func train(ctx context.Context, p *bgjob.Progress, c trainConfig) error {
	log := p.Logger()
	p.SetMessage("Loading and preparing data...")
	data := makeDataset(c.seed, c.samples, c.features)
	log.Info("data ready", "samples", c.samples, "features", c.features)
	m := newMLP(c.seed, c.features, c.hidden)
	batches := (c.samples + c.batch - 1) / c.batch
	p.SetTotal(int64(c.epochs * batches))

	hidden := make([]float64, c.hidden)
	gw1 := make([][]float64, c.hidden)
	for h := range gw1 {
		gw1[h] = make([]float64, c.features)
	}
	gb1 := make([]float64, c.hidden)
	gw2 := make([]float64, c.hidden)
	lr := c.learningRate
	for epoch := 1; epoch <= c.epochs; epoch++ {
		if c.panicAtEpoch == epoch {
			var layers []*mlp
			_ = layers[epoch].w2 // the bug: an index past the end
		}
		if c.hangAtEpoch == epoch {
			log.Warn("fetching the next shard", "epoch", epoch)
			if err := fetchShard(ctx, c.hangFor); err != nil {
				return err
			}
		}
		if c.diverge {
			lr *= 3
		}
		var lossSum float64
		correct := 0
		for b := 0; b < batches; b++ {
			// A safe point: here the job pauses when asked to, and stops
			// when canceled.
			if err := p.Checkpoint(); err != nil {
				return err
			}
			lo, hi := b*c.batch, min((b+1)*c.batch, c.samples)
			for h := range gw1 {
				clear(gw1[h])
			}
			clear(gb1)
			clear(gw2)
			var gb2 float64
			for i := lo; i < hi; i++ {
				x := data.x[i]
				z := m.b2
				for h := range hidden {
					a := m.b1[h]
					for j, v := range x {
						a += m.w1[h][j] * v
					}
					hidden[h] = math.Tanh(a)
					z += m.w2[h] * hidden[h]
				}
				pred := 1 / (1 + math.Exp(-z))
				y := data.y[i]
				lossSum -= y*math.Log(pred+1e-12) + (1-y)*math.Log(1-pred+1e-12)
				if (pred >= 0.5) == (y == 1) {
					correct++
				}
				dz := pred - y
				gb2 += dz
				for h := range hidden {
					gw2[h] += dz * hidden[h]
					da := dz * m.w2[h] * (1 - hidden[h]*hidden[h])
					gb1[h] += da
					for j, v := range x {
						gw1[h][j] += da * v
					}
				}
			}
			n := float64(hi - lo)
			m.b2 -= lr * gb2 / n
			for h := range hidden {
				m.w2[h] -= lr * gw2[h] / n
				m.b1[h] -= lr * gb1[h] / n
				for j := range gw1[h] {
					m.w1[h][j] -= lr * gw1[h][j] / n
				}
			}
			p.Add(1) // the hot path: one atomic add per batch
		}
		loss := lossSum / float64(c.samples)
		// Guessing scores ln 2; far worse than guessing means the steps
		// overshoot.
		if math.IsNaN(loss) || loss > 3*math.Ln2 {
			log.Error("loss diverged", "epoch", epoch, "loss", loss, "learning_rate", lr)
			return fmt.Errorf("epoch %d: %w", epoch, errDiverged)
		}
		accuracy := float64(correct) / float64(c.samples)
		log.Debug("epoch done", "epoch", epoch, "loss", loss, "accuracy", accuracy)
		p.Metrics(bgjob.Scalar{Name: "loss", Value: loss}, bgjob.Scalar{Name: "accuracy", Value: accuracy})
		p.SetMessage(fmt.Sprintf("epoch %d/%d", epoch, c.epochs))
	}
	return nil
}
