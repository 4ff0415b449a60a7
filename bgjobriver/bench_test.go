package bgjobriver

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/stretchr/testify/require"
)

func eachBackendB(b *testing.B, f func(b *testing.B, be backend)) {
	b.Run("sqlite", func(b *testing.B) { f(b, sqliteBackend(b)) })
	b.Run("postgres", func(b *testing.B) { f(b, postgresBackend(b)) })
}

// BenchmarkThroughput inserts b.N jobs that do nothing and waits until River
// has marked them all completed, on one node working ten at a time: jobs
// started and finished per second, through the database.
func BenchmarkThroughput(b *testing.B) {
	eachBackendB(b, func(b *testing.B, be backend) {
		noop := bgjob.JobFunc(func(context.Context, *bgjob.Progress) error { return nil })
		c := be.open(b, WithJob("noop", noop), WithFetchPollInterval(10*time.Millisecond))
		ctx := context.Background()
		count := "SELECT count(*) FROM " + c.dialect.table + " WHERE state = 'completed'"
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			_, err := c.Start(ctx, "noop", nil)
			require.NoError(b, err)
		}
		deadline := time.Now().Add(time.Minute + time.Duration(b.N)*100*time.Millisecond)
		for {
			var n int64
			require.NoError(b, c.conn.queryRow(ctx, count, []any{&n}))
			if n == int64(b.N) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d jobs completed", n, b.N)
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	})
}

// BenchmarkProgressSeenByAnotherNode measures the delay from a progress
// update on the node working a job to its first read on another client
// polling Status, with a heartbeat of 100ms: about half a heartbeat on
// average, plus a write and a read.
func BenchmarkProgressSeenByAnotherNode(b *testing.B) {
	eachBackendB(b, func(b *testing.B, be backend) {
		var (
			updatedAt atomic.Int64
			next      = make(chan int64)
			seen      = make(chan struct{})
		)
		job := bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			for i := range next {
				// Updates fall anywhere between two heartbeats, as in a
				// real job, not just after the last one.
				time.Sleep(time.Duration(rand.Int64N(int64(100 * time.Millisecond))))
				updatedAt.Store(time.Now().UnixNano())
				p.SetStep(i)
				<-seen
			}
			return nil
		})
		worker := be.open(b, WithJob("progress", job), WithHeartbeat(100*time.Millisecond, 2*time.Second))
		reader := be.open(b)
		ctx := context.Background()
		id, err := reader.Start(ctx, "progress", nil)
		require.NoError(b, err)
		waitFor(b, "running", 20*time.Second, statusOf(reader, id), func(s Status) bool { return s.RunID != [16]byte{} })
		_ = worker

		var total, worst time.Duration
		b.ResetTimer()
		for i := 1; i <= b.N; i++ {
			next <- int64(i)
			st := waitFor(b, "the update", 10*time.Second, statusOf(reader, id), func(s Status) bool { return s.Step >= int64(i) })
			d := time.Since(time.Unix(0, updatedAt.Load()))
			_ = st
			total += d
			worst = max(worst, d)
			seen <- struct{}{}
		}
		b.StopTimer()
		close(next)
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/update")
		b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
		wait(b, reader, id)
	})
}
