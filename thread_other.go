//go:build !linux

package bgjob

import "time"

// osThreadID returns 0: this system gives no portable thread id.
func osThreadID() int { return 0 }

// threadCPUTime returns 0: this system gives no per-thread CPU clock.
func threadCPUTime(int) time.Duration { return 0 }
