package bench

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cpu"
	"github.com/tapir-ml/tapir/tensor"
)

// Large elementwise ops against the machine's memory bandwidth. Each
// operand is bwElems float32 values (256 MiB, far above the L3 cache), so
// every op streams its inputs from DRAM and its output back. Each
// benchmark reports GB/s = (bytes read + bytes written) / time, counting
// every operand and the result once (4 bytes per element each): copy 2,
// add and mul 3, exp and relu 2 per element.
//
// The machine is shared, so its bandwidth drifts with the load. Each op
// benchmark therefore also times, before every op (with the benchmark
// timer stopped), a parallel copy() of 256 MiB as BenchmarkBandwidthCopy
// does, and reports that as copy-GB/s: report.py divides the op's GB/s
// by the copy-GB/s of the same benchmark, which saw the same load.
const bwElems = 64 << 20 // float32 elements per operand: 256 MiB

// BenchmarkBandwidthCopy is copy() of 256 MiB, split into GOMAXPROCS
// contiguous chunks copied by as many goroutines, the memory bandwidth
// the elementwise ops are held to. It counts 512 MiB per copy (read and
// written).
func BenchmarkBandwidthCopy(b *testing.B) {
	c := newParCopy()
	b.ResetTimer()
	for b.Loop() {
		c.run()
	}
	c.check(b)
	reportGBs(b, 2*len(c.src))
	b.Cleanup(releaseBig)
}

// parCopy copies src to dst in GOMAXPROCS contiguous chunks, one
// goroutine each: the bandwidth GOMAXPROCS threads get.
type parCopy struct{ src, dst []byte }

// bwCopy holds the package's two 256 MiB copy buffers between the
// bandwidth benchmarks, until releaseBig drops them.
var bwCopy struct {
	sync.Mutex
	c *parCopy
}

// newParCopy returns the package's two 256 MiB buffers (made on first
// use after releaseBig, with every page faulted in).
func newParCopy() parCopy {
	bwCopy.Lock()
	defer bwCopy.Unlock()
	if bwCopy.c == nil {
		n := bwElems * 4
		c := parCopy{make([]byte, n), make([]byte, n)}
		for i := range c.src {
			c.src[i] = byte(i)
		}
		c.run()
		bwCopy.c = &c
	}
	return *bwCopy.c
}

func (c parCopy) run() {
	n := len(c.src)
	p := runtime.GOMAXPROCS(0)
	chunk := (n + p - 1) / p
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() { defer wg.Done(); copy(c.dst[lo:hi], c.src[lo:hi]) }()
	}
	wg.Wait()
}

func (c parCopy) check(b *testing.B) {
	if n := len(c.src); c.dst[n-1] != c.src[n-1] || c.dst[n/3] != c.src[n/3] {
		b.Fatal("copy did not copy")
	}
}

// BenchmarkBandwidthAdd is c = a + b on two [64M] float32 tensors.
func BenchmarkBandwidthAdd(b *testing.B) {
	x, y := bwOperands()
	benchBandwidth(b, 3, func() *tensor.Tensor { return x.Add(y) })
}

// BenchmarkBandwidthMul is c = a * b on two [64M] float32 tensors.
func BenchmarkBandwidthMul(b *testing.B) {
	x, y := bwOperands()
	benchBandwidth(b, 3, func() *tensor.Tensor { return x.Mul(y) })
}

// BenchmarkBandwidthExp is c = exp(a) on a [64M] float32 tensor.
func BenchmarkBandwidthExp(b *testing.B) {
	x, _ := bwOperands()
	benchBandwidth(b, 2, func() *tensor.Tensor { return x.Exp() })
}

// BenchmarkBandwidthReLU is c = relu(a) on a [64M] float32 tensor.
func BenchmarkBandwidthReLU(b *testing.B) {
	x, _ := bwOperands()
	benchBandwidth(b, 2, func() *tensor.Tensor { return x.ReLU() })
}

// The Out rows time the same four ops into a result allocated once, as
// PyTorch's out= rows do (torch.add(a, b, out=c)): the kernel alone,
// without the page faults of a fresh 256 MiB result per call. Tapir has
// no out= argument, so they call the CPU backend's kernels directly on
// storages made once; the tensor ops above reach the same kernels after
// allocating their result.

// BenchmarkBandwidthAddOut is c = a + b into a preallocated c.
func BenchmarkBandwidthAddOut(b *testing.B) {
	benchBandwidthOut(b, 3, func(be *cpu.CPU, c, x, y backend.View) { be.Binary(backend.Add, c, x, y) },
		func(x, y float64) float64 { return x + y })
}

// BenchmarkBandwidthMulOut is c = a * b into a preallocated c.
func BenchmarkBandwidthMulOut(b *testing.B) {
	benchBandwidthOut(b, 3, func(be *cpu.CPU, c, x, y backend.View) { be.Binary(backend.Mul, c, x, y) },
		func(x, y float64) float64 { return x * y })
}

// BenchmarkBandwidthExpOut is c = exp(a) into a preallocated c.
func BenchmarkBandwidthExpOut(b *testing.B) {
	benchBandwidthOut(b, 2, func(be *cpu.CPU, c, x, _ backend.View) { be.Unary(backend.Exp, c, x, backend.Scalars{}) },
		func(x, _ float64) float64 { return math.Exp(x) })
}

// BenchmarkBandwidthReLUOut is c = relu(a) into a preallocated c.
func BenchmarkBandwidthReLUOut(b *testing.B) {
	benchBandwidthOut(b, 2, func(be *cpu.CPU, c, x, _ backend.View) { be.Unary(backend.ReLU, c, x, backend.Scalars{}) },
		func(x, _ float64) float64 { return max(x, 0) })
}

// bwViews returns views of three [bwElems] float32 storages of the CPU
// backend: x and y hold bwOperands' values, c is zeroed (so every page
// of the result is faulted in before timing).
func bwViews(b *testing.B) (c, x, y backend.View) {
	be := cpu.Get()
	tx, ty := bwOperands()
	view := func(src []float32) backend.View {
		s, err := be.Alloc(backend.Float32, bwElems)
		if err != nil {
			b.Fatal(err)
		}
		d := cpu.Float32s(s)
		if src == nil {
			clear(d)
		} else {
			copy(d, src)
		}
		return backend.View{Storage: s, Layout: backend.Contiguous([]int{bwElems})}
	}
	return view(nil), view(tx.Float32s()), view(ty.Float32s())
}

// benchBandwidthOut is benchBandwidth for a kernel writing into c, made
// once; afterwards it checks a spread of elements of c against ref
// computed in float64 on the inputs.
func benchBandwidthOut(b *testing.B, streams int, kernel func(be *cpu.CPU, c, x, y backend.View), ref func(x, y float64) float64) {
	be := cpu.Get()
	c, x, y := bwViews(b)
	cp := newParCopy()
	for range 2 {
		kernel(be, c, x, y)
	}
	var copyTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		t0 := time.Now()
		cp.run()
		copyTime += time.Since(t0)
		b.StartTimer()
		kernel(be, c, x, y)
	}
	b.StopTimer()
	cs, xs, ys := cpu.Float32s(c.Storage), cpu.Float32s(x.Storage), cpu.Float32s(y.Storage)
	for i := 0; i < bwElems; i += bwElems/1000 + 7 {
		want := ref(float64(xs[i]), float64(ys[i]))
		if got := float64(cs[i]); math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			b.Fatalf("element %d: got %v, want %v", i, got, want)
		}
	}
	reportGBs(b, streams*bwElems*4)
	b.ReportMetric(float64(2*len(cp.src))*float64(b.N)/copyTime.Seconds()/1e9, "copy-GB/s")
	b.Cleanup(releaseBig)
}

// bwOperands are two [bwElems] tensors ~ N(0, 1), drawn once.
func bwOperands() (x, y *tensor.Tensor) {
	tensor.ManualSeed(1)
	return tensor.Randn(bwElems), tensor.Randn(bwElems)
}

// benchBandwidth times op, which reads and writes `streams` tensors of
// bwElems float32 values, after two warm-up calls, and reports GB/s; and
// before each op, with the timer stopped, a parallel copy of 256 MiB,
// reported as copy-GB/s.
func benchBandwidth(b *testing.B, streams int, op func() *tensor.Tensor) {
	c := newParCopy()
	for range 2 {
		sink = op()
	}
	if got := sink.Numel(); got != bwElems {
		b.Fatalf("result has %d elements, want %d", got, bwElems)
	}
	var copyTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		t0 := time.Now()
		c.run()
		copyTime += time.Since(t0)
		b.StartTimer()
		sink = op()
	}
	sink = nil
	reportGBs(b, streams*bwElems*4)
	b.ReportMetric(float64(2*len(c.src))*float64(b.N)/copyTime.Seconds()/1e9, "copy-GB/s")
	b.Cleanup(releaseBig)
}

// releaseBig hands the gigabyte of operands, results and copy buffers
// back to the OS once a bandwidth benchmark is done, so that the
// benchmarks after it (the tiny ops run next) do not pay for a large
// heap: the copy buffers are dropped, two GC cycles return pooled
// buffers through their cleanups, then the pool and the Go heap are
// emptied. Kept, the copy buffers' 512 MiB of live heap raised the CPU
// pool's collection threshold (a quarter of the live heap) from 8 to
// 128 MiB, and the MLP step that runs after them took 3.5–3.7 ms a step
// instead of the 3.2 it takes alone (BenchmarkBandwidthAdd then
// BenchmarkMLPStep, one thread).
func releaseBig() {
	bwCopy.Lock()
	bwCopy.c = nil
	bwCopy.Unlock()
	runtime.GC()
	runtime.GC()
	cpu.EmptyCache()
	debug.FreeOSMemory()
}

func reportGBs(b *testing.B, bytesPerOp int) {
	b.ReportMetric(float64(bytesPerOp)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// TestBandwidthOps checks on a small tensor that the ops the bandwidth
// benchmarks time compute what they are named for.
func TestBandwidthOps(t *testing.T) {
	x := tensor.FromSlice([]float32{-2, -0.5, 0, 1, 3})
	y := tensor.FromSlice([]float32{1, 2, 3, 4, 5})
	for _, c := range []struct {
		name string
		got  *tensor.Tensor
		want func(a, b float64) float64
	}{
		{"add", x.Add(y), func(a, b float64) float64 { return a + b }},
		{"mul", x.Mul(y), func(a, b float64) float64 { return a * b }},
		{"exp", x.Exp(), func(a, _ float64) float64 { return math.Exp(a) }},
		{"relu", x.ReLU(), func(a, _ float64) float64 { return max(a, 0) }},
	} {
		xs, ys, gs := x.Float32s(), y.Float32s(), c.got.Float32s()
		for i := range xs {
			w := c.want(float64(xs[i]), float64(ys[i]))
			if d := float64(gs[i]) - w; d > 1e-5*max(1, w) || d < -1e-5*max(1, w) {
				t.Errorf("%s(%v, %v) = %v, want %v", c.name, xs[i], ys[i], gs[i], w)
			}
		}
	}
}
