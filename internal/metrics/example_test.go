package metrics_test

import (
	"fmt"

	"github.com/bgjob/bgjob/internal/metrics"
)

// A series of four points holds eight steps by merging pairs: the spike at
// step 5 survives in the Max of its bucket.
func Example() {
	s := metrics.NewSet(2, 4)
	for step, loss := range []float64{0.9, 0.8, 0.7, 0.6, 0.5, 42, 0.4, 0.3} {
		_ = s.Record("loss", int64(step), loss)
	}
	pts, _ := s.Series("loss")
	for _, p := range pts {
		fmt.Printf("step %d: min %g max %g last %g count %d\n", p.Step, p.Min, p.Max, p.Last, p.Count)
	}
	fmt.Println(s.Latest(nil))
	// Output:
	// step 0: min 0.8 max 0.9 last 0.8 count 2
	// step 2: min 0.6 max 0.7 last 0.6 count 2
	// step 4: min 0.5 max 42 last 42 count 2
	// step 6: min 0.3 max 0.4 last 0.3 count 2
	// [{loss 0.3 7}]
}
