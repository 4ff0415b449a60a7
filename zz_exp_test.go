package bgjob

import (
	"context"
	"testing"
)

func BenchmarkExpLifecycleNoSub(b *testing.B) {
	r := benchRunner(b)
	job := JobFunc(func(ctx context.Context, p *Progress) error { p.SetStep(1); return nil })
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h, _ := r.Start(ctx, "empty", job)
		<-h.Done()
	}
}
