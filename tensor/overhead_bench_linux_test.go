package tensor_test

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/tapir-ml/tapir/tensor"
)

// processCPU is the CPU time of the whole process, all threads (the GC's
// included), in seconds: on a shared machine the work per CPU-second is
// steadier than per wall-clock second.
func processCPU() float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 2, uintptr(unsafe.Pointer(&ts)), 0) // CLOCK_PROCESS_CPUTIME_ID
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

var overheadSink *tensor.Tensor

// The fixed cost of one small op, by case, reported also as process CPU
// time per op (cpu-ns/op), which load on a shared machine distorts less
// than wall time. bench/ holds the workloads compared with PyTorch; these
// split that cost by path.
func BenchmarkOpOverhead(b *testing.B) {
	f := func(n ...int) *tensor.Tensor { return tensor.Randn(n...) }
	cases := []struct {
		name string
		grad bool
		x, y *tensor.Tensor
		op   func(x, y *tensor.Tensor) *tensor.Tensor
	}{
		{"add16", false, f(16), f(16), (*tensor.Tensor).Add},
		{"add16_grad", true, f(16), f(16), (*tensor.Tensor).Add},
		{"mul16_grad", true, f(16), f(16), (*tensor.Tensor).Mul},
		{"add_bcast_4x16", false, f(4, 16), f(16), (*tensor.Tensor).Add},
		{"add_bcast_4x16_grad", true, f(4, 16), f(16), (*tensor.Tensor).Add},
		{"relu16_grad", true, f(16), nil, func(x, _ *tensor.Tensor) *tensor.Tensor { return x.ReLU() }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			x := c.x.Detach().SetRequiresGrad(c.grad)
			b.ReportAllocs()
			t0 := processCPU()
			for b.Loop() {
				overheadSink = c.op(x, c.y)
			}
			b.ReportMetric((processCPU()-t0)*1e9/float64(b.N), "cpu-ns/op")
		})
	}
}
