package cuda_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/backendtest"
	"github.com/tapir-ml/tapir/backend/cpu"
	"github.com/tapir-ml/tapir/backend/cuda"
	"github.com/tapir-ml/tapir/tensor"
)

// TestOpenWithoutDriver: with no libcuda, opening a device is an error
// that says why (never a panic), and tensor reports ErrDevice.
func TestOpenWithoutDriver(t *testing.T) {
	if cuda.Available() == nil {
		t.Skip("a CUDA device is present; the no-driver path cannot be exercised here")
	}
	be, err := backend.Open(backend.CUDA(0))
	if err == nil || be != nil {
		t.Fatalf("Open(cuda:0) = %v, %v; want an error", be, err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "cuda: ") || !(strings.Contains(msg, "libcuda.so.1") || strings.Contains(msg, "no device")) {
		t.Fatalf("error %q does not say what is missing", msg)
	}
	t.Logf("Open(cuda:0): %v", err)
	err = tensor.Try(func() { tensor.Ones(2, 3).ToDevice(tensor.CUDA(0)) })
	if !errors.Is(err, tensor.ErrDevice) {
		t.Fatalf("ToDevice(cuda:0) error %v, want tensor.ErrDevice", err)
	}
	err = tensor.Try(func() { tensor.Zeros(2).ToDevice(tensor.CUDA(1)).Add(tensor.Zeros(2)) })
	if !errors.Is(err, tensor.ErrDevice) {
		t.Fatalf("an op on cuda:1 gave %v, want tensor.ErrDevice", err)
	}
}

// gpu opens cuda:0 or skips the test or benchmark with the reason.
func gpu(t testing.TB) *cuda.Backend {
	t.Helper()
	if err := cuda.Available(); err != nil {
		t.Skipf("skipping GPU test: %v", err)
	}
	be, err := backend.Open(backend.CUDA(0))
	if err != nil {
		t.Fatalf("a device is present but cannot be opened: %v", err)
	}
	t.Logf("device: %s", be.Name())
	return be.(*cuda.Backend)
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f32s(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// upload makes device and CPU copies of data.
func upload(t *testing.T, g backend.Backend, data []float32, shape ...int) (backend.View, backend.View) {
	t.Helper()
	h := cpu.Get()
	var out [2]backend.View
	for i, be := range []backend.Backend{g, h} {
		s, err := be.Alloc(backend.Float32, len(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := be.Upload(s, f32bytes(data)); err != nil {
			t.Fatal(err)
		}
		out[i] = backend.View{Storage: s, Layout: backend.Contiguous(shape)}
	}
	return out[0], out[1]
}

func download(t *testing.T, be backend.Backend, v backend.View) []float32 {
	t.Helper()
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4*v.Numel())
	if err := be.Download(b, v); err != nil {
		t.Fatal(err)
	}
	return f32s(b)
}

func close32(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) != math.IsNaN(g) || math.Abs(g-w) > tol*(1+math.Abs(w)) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, g, w)
		}
	}
}

func TestGPURoundTrip(t *testing.T) {
	g := gpu(t)
	data := []float32{1, -2, 3.5, 4, 5, 6}
	d, _ := upload(t, g, data, 2, 3)
	close32(t, "round trip", download(t, g, d), data, 0)
	// a transposed view downloads in row-major order
	tv := backend.View{Storage: d.Storage, Layout: backend.Layout{Shape: []int{3, 2}, Strides: []int{1, 3}}}
	close32(t, "transposed", download(t, g, tv), []float32{1, 4, -2, 5, 3.5, 6}, 0)
}

// TestGPUOpsMatchCPU runs each kernel family on the GPU and on the CPU
// backend (the host reference) with the same operands.
func TestGPUOpsMatchCPU(t *testing.T) {
	g := gpu(t)
	h := cpu.Get()
	data := []float32{0.5, -1.25, 2, 3, -4, 0.75, 1.5, -0.5, 2.5, 0.1, -0.2, 0.3}
	gx, hx := upload(t, g, data, 3, 4)
	gy, hy := upload(t, g, []float32{1, 2, 3, 4}, 1, 4) // broadcast row
	gy.Strides[0], hy.Strides[0] = 0, 0
	gy.Shape[0], hy.Shape[0] = 3, 3
	out := func(be backend.Backend, dt backend.DType, shape ...int) backend.View {
		s, err := be.Alloc(dt, backend.Numel(shape))
		if err != nil {
			t.Fatal(err)
		}
		return backend.View{Storage: s, Layout: backend.Contiguous(shape)}
	}
	for op := backend.UnaryOp(0); op < backend.NumUnaryOps; op++ {
		p := backend.Scalars{A: 0.5, B: 1.5}
		if op == backend.Softplus {
			p = backend.Scalars{A: 1, B: 20}
		}
		gd, hd := out(g, backend.Float32, 3, 4), out(h, backend.Float32, 3, 4)
		g.Unary(op, gd, gx, p)
		h.Unary(op, hd, hx, p)
		close32(t, "unary "+op.String(), download(t, g, gd), download(t, h, hd), 1e-5)
	}
	for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
		if op.IsComparison() {
			continue
		}
		gd, hd := out(g, backend.Float32, 3, 4), out(h, backend.Float32, 3, 4)
		g.Binary(op, gd, gx, gy)
		h.Binary(op, hd, hx, hy)
		close32(t, "binary "+op.String(), download(t, g, gd), download(t, h, hd), 1e-5)
	}
	for _, op := range []backend.ReduceOp{backend.ReduceSum, backend.ReduceMean, backend.ReduceProd, backend.ReduceMax, backend.ReduceMin} {
		for _, shape := range [][]int{{3, 1}, {1, 4}, {1, 1}} {
			gd, hd := out(g, backend.Float32, shape...), out(h, backend.Float32, shape...)
			g.Reduce(op, gd, gx)
			h.Reduce(op, hd, hx)
			close32(t, "reduce "+op.String(), download(t, g, gd), download(t, h, hd), 1e-6)
		}
	}
	for _, log := range []bool{false, true} {
		for dim := 0; dim < 2; dim++ {
			gd, hd := out(g, backend.Float32, 3, 4), out(h, backend.Float32, 3, 4)
			g.Softmax(gd, gx, dim, log)
			h.Softmax(hd, hx, dim, log)
			close32(t, "softmax", download(t, g, gd), download(t, h, hd), 1e-6)
			g.CumSum(gd, gx, dim)
			h.CumSum(hd, hx, dim)
			close32(t, "cumsum", download(t, g, gd), download(t, h, hd), 1e-6)
		}
	}
	// matmul: [1,3,4]·[1,4,3] with the second a transposed view of x
	ga := backend.View{Storage: gx.Storage, Layout: backend.Layout{Shape: []int{1, 3, 4}, Strides: []int{12, 4, 1}}}
	gb := backend.View{Storage: gx.Storage, Layout: backend.Layout{Shape: []int{1, 4, 3}, Strides: []int{12, 1, 4}}}
	ha := backend.View{Storage: hx.Storage, Layout: ga.Layout}
	hb := backend.View{Storage: hx.Storage, Layout: gb.Layout}
	gd, hd := out(g, backend.Float32, 1, 3, 3), out(h, backend.Float32, 1, 3, 3)
	g.MatMul(gd, ga, gb)
	h.MatMul(hd, ha, hb)
	close32(t, "matmul", download(t, g, gd), download(t, h, hd), 1e-5)
	// random: the same Philox stream as the CPU
	for _, spec := range []backend.RandomSpec{{Dist: backend.Uniform, A: -1, B: 2, Seed: 42, Offset: 7}, {Dist: backend.Normal, A: 0, B: 1, Seed: 3}} {
		gd, hd := out(g, backend.Float32, 5), out(h, backend.Float32, 5)
		g.Random(gd, spec)
		h.Random(hd, spec)
		close32(t, "random", download(t, g, gd), download(t, h, hd), 1e-6)
	}
}

func TestGPUSteadyStateAllocations(t *testing.T) {
	g := gpu(t)
	step := func() {
		s, err := g.Alloc(backend.Float32, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		g.Release(s)
	}
	step()
	_, _, before := g.MemoryStats()
	for i := 0; i < 50; i++ {
		step()
	}
	if _, _, after := g.MemoryStats(); after != before {
		t.Fatalf("steady state made %d driver allocations", after-before)
	}
}

// TestGPUConformance runs the backend conformance suite (the one the CPU
// backend passes) on the device: every op family against its float64
// reference, fresh random inputs, outputs poisoned before each run.
func TestGPUConformance(t *testing.T) {
	g := gpu(t)
	backendtest.Run(t, g, backendtest.Options{})
}

// TestGPUSplitReductionsMatchCPU: reductions with few outputs of many
// elements each (BatchNorm's per-channel statistics, whole-tensor sums)
// take the split kernels; they agree with the CPU, NaN included.
func TestGPUSplitReductionsMatchCPU(t *testing.T) {
	g := gpu(t)
	h := cpu.Get()
	const n, c, hw = 16, 8, 48 * 48
	data := make([]float32, n*c*hw)
	for i := range data {
		data[i] = float32(math.Sin(float64(i)*0.37)) * 3
	}
	gx, hx := upload(t, g, data, n, c, 48, 48)
	out := func(be backend.Backend, shape ...int) backend.View {
		s, err := be.Alloc(backend.Float32, backend.Numel(shape))
		if err != nil {
			t.Fatal(err)
		}
		return backend.View{Storage: s, Layout: backend.Contiguous(shape)}
	}
	for _, shape := range [][]int{{1, c, 1, 1}, {1, 1, 1, 1}, {n, 1, 1, 1}} {
		for _, op := range []backend.ReduceOp{backend.ReduceSum, backend.ReduceMean, backend.ReduceMax, backend.ReduceMin} {
			gd, hd := out(g, shape...), out(h, shape...)
			g.Reduce(op, gd, gx)
			h.Reduce(op, hd, hx)
			close32(t, fmt.Sprint("reduce ", op, " to ", shape), download(t, g, gd), download(t, h, hd), 1e-6)
		}
	}
	// a NaN in channel 3 wins that channel's max and sum
	data[3*hw+100] = float32(math.NaN())
	gx, hx = upload(t, g, data, n, c, 48, 48)
	for _, op := range []backend.ReduceOp{backend.ReduceMax, backend.ReduceSum} {
		gd, hd := out(g, 1, c, 1, 1), out(h, 1, c, 1, 1)
		g.Reduce(op, gd, gx)
		h.Reduce(op, hd, hx)
		close32(t, fmt.Sprint("reduce ", op, " with a NaN"), download(t, g, gd), download(t, h, hd), 1e-6)
	}
}
