//go:build !linux

package bgjob

import "time"

// processCPU returns 0: read only on Linux.
func processCPU() time.Duration { return 0 }

// processRSS returns 0: read only on Linux.
func processRSS() uint64 { return 0 }
