package bgjob

import (
	"syscall"
	"time"
	"unsafe"
)

// osThreadID returns the id of the calling OS thread.
func osThreadID() int { return syscall.Gettid() }

// threadCPUTime returns the CPU time consumed so far by the thread tid of
// this process, or 0 if it cannot be read (the thread has exited).
//
// Linux names the CPU clock of any thread of the process by a clock id
// derived from the thread id (MAKE_THREAD_CPUCLOCK in the kernel: the
// complement of the tid shifted left by 3, with the per-thread bit and the
// scheduler clock), so another goroutine can read the job's thread.
func threadCPUTime(tid int) time.Duration {
	const (
		cpuClockSched     = 2
		cpuClockPerThread = 4
	)
	clock := (^uintptr(tid) << 3) | cpuClockPerThread | cpuClockSched
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clock, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
