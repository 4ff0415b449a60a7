package bgjob

import (
	"testing"
	"unsafe"
)

// A parked job's memory is mostly its goroutine and its job value, and the
// job value is allocated with an 8-byte header (the runtime's, for objects
// over 512 bytes with pointers): at 1,400 bytes or less it takes a
// 1,408-byte slot, a few bytes more and it takes a 1,536-byte one, and
// BenchmarkParkedJobs comes to twice a parked goroutine.
func TestJobFitsItsSizeClass(t *testing.T) {
	const header, slot = 8, 1408
	if size := unsafe.Sizeof(job{}); size+header > slot {
		t.Fatalf("a job is %d bytes: with its header it no longer fits a %d-byte slot", size, slot)
	}
}
