//go:build !linux

package cpu

// threadCPU is not measured off Linux.
func threadCPU() float64 { return 0 }

// processCPU is not measured off Linux.
func processCPU() float64 { return 0 }
