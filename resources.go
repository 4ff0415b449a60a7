package bgjob

import (
	"runtime"
	"runtime/metrics"
)

// heapMetric is read through runtime/metrics, which does not stop the
// world as runtime.ReadMemStats does.
const heapMetric = "/memory/classes/heap/objects:bytes"

// sampleResources takes a sample of the process's resources.
func sampleResources() Resources {
	sample := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(sample)
	var heap uint64
	if sample[0].Value.Kind() == metrics.KindUint64 {
		heap = sample[0].Value.Uint64()
	}
	return Resources{
		CPU:        processCPU(),
		RSS:        processRSS(),
		Heap:       heap,
		Goroutines: runtime.NumGoroutine(),
	}
}
