package cpu

import (
	"syscall"
	"unsafe"
)

// threadCPU is the CPU time the calling OS thread has run, in seconds
// (CLOCK_THREAD_CPUTIME_ID): on a shared machine, work per CPU-second of
// one locked thread is steadier than work per wall-clock second.
func threadCPU() float64 { return clock(3) } // CLOCK_THREAD_CPUTIME_ID

// processCPU is the CPU time of the whole process, all threads, in seconds
// (CLOCK_PROCESS_CPUTIME_ID).
func processCPU() float64 { return clock(2) }

func clock(id uintptr) float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}
