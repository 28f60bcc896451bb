package tensor

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cpu"
)

// coAllocated reports whether t's storage lives in t's own heap object
// (a tensorStorage). Addresses are compared as integers: t need not be
// inside a tensorStorage.
func coAllocated(t *Tensor) bool {
	return uintptr(unsafe.Pointer(t.st)) == uintptr(unsafe.Pointer(t))+unsafe.Offsetof(tensorStorage{}.st)
}

// dataRoom is the number of words the small buffer's object holds for a
// buffer of w words: the next power of two from 2 (buffer_small.go).
func dataRoom(w int) int {
	k := 2
	for k < w {
		k *= 2
	}
	return k
}

// emptyFor lays a tensor out as emptyOn does, whichever way it
// allocates: contiguous strides (backend.ContiguousStrides is the
// oracle), a buffer of exactly numel elements, one view; it shares its
// object only when unrecorded, on the CPU and at most 1 KiB. Filling
// the elements leaves the header intact.
func TestEmptyFor(t *testing.T) {
	shapes := [][]int{{}, {0}, {1}, {16}, {2, 3}, {0, 5}, {1, 1, 1, 1}, {2, 1, 3, 1, 2}, {4, 64}, {257}, {128}, {129}, {3, 0, 2}, {1025}}
	dtypes := []DType{Float32, Float64, Int64, Int32, Bool, Float16}
	be := openBackend("test", CPU)
	for _, shape := range shapes {
		for _, dt := range dtypes {
			for _, rec := range []bool{false, true} {
				name := fmt.Sprintf("%v %v recorded=%v", dt, shape, rec)
				x, pre := emptyFor("test", be, dt, shape, rec, 0)
				n := backend.Numel(shape)
				if !sameShape(x.shape, shape) || !sameShape(x.strides, backend.ContiguousStrides(shape)) || x.offset != 0 {
					t.Errorf("%s: layout %v %v +%d", name, x.shape, x.strides, x.offset)
				}
				if x.st.buf.Len() != n || x.DType() != dt || x.st.views != 1 || x.st.serial == 0 {
					t.Errorf("%s: storage of %d %v, %d views, serial %d", name, x.st.buf.Len(), x.DType(), x.st.views, x.st.serial)
				}
				want := !rec && n*dt.Size() <= smallCPUBytes
				if coAllocated(x) != want {
					t.Errorf("%s: co-allocated %v, want %v", name, coAllocated(x), want)
				}
				// a recorded small output comes with room for its node,
				// in its own object
				wantPre := rec && n*dt.Size() <= smallCPUBytes && dt.Valid()
				if (pre.n != nil) != wantPre || pre.sv != nil {
					t.Errorf("%s: node room %v (saved room %v), want %v", name, pre.n != nil, pre.sv != nil, wantPre)
				} else if pre.n != nil && &(*tensorNode)(unsafe.Pointer(x)).n != pre.n {
					t.Errorf("%s: node room is not in the output's object", name)
				}
				b := x.st.buf.(*cpu.Buffer).Bytes()
				for i := range b {
					b[i] = 0xff
				}
				if !sameShape(x.shape, shape) || !sameShape(x.strides, backend.ContiguousStrides(shape)) || x.st.buf.Len() != n || x.gradFn != nil || x.base != nil {
					t.Errorf("%s: header changed by writing the elements", name)
				}
			}
		}
	}
}

// A shape that overflows or has a negative dim fails as emptyOn does.
func TestEmptyForBadShapes(t *testing.T) {
	be := openBackend("test", CPU)
	for _, shape := range [][]int{{-1}, {3, -2}, {math.MaxInt / 2, 4}, {math.MaxInt / 2, 1 << 20}, {0, -1}} {
		err := Try(func() { emptyFor("test", be, Float32, shape, false, 0) })
		want := Try(func() { emptyOn("test", be, Float32, shape) })
		if (err == nil) != (want == nil) {
			t.Errorf("%v: error %v, emptyOn's %v", shape, err, want)
		}
	}
}

// Unrecorded (co-allocated) and recorded outputs of the elementwise ops
// agree with a float64 oracle at every length across the 1 KiB line,
// for contiguous inputs (from 0 or from an offset: binaryDense's case),
// strided and broadcast ones, at 1 and 3 threads; the
// words of a co-allocated output past its elements stay zero.
func TestCoAllocatedOutputsMatchOracle(t *testing.T) {
	lengths := []int{0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300}
	if testing.Short() {
		lengths = []int{0, 1, 3, 16, 17, 127, 128, 129, 255, 256, 257}
	}
	type opCase struct {
		name string
		f    func(a, b *Tensor) *Tensor
		ref  func(a, b float64) float64
	}
	ops := []opCase{
		{"add", (*Tensor).Add, func(a, b float64) float64 { return a + b }},
		{"mul", (*Tensor).Mul, func(a, b float64) float64 { return a * b }},
		{"relu", func(a, _ *Tensor) *Tensor { return a.ReLU() }, func(a, _ float64) float64 { return math.Max(a, 0) }},
		{"neg", func(a, _ *Tensor) *Tensor { return a.Neg() }, func(a, _ float64) float64 { return -a }},
	}
	layouts := []string{"contiguous", "offset", "strided", "broadcast"}
	defer cpu.SetNumThreads(cpu.SetNumThreads(1))
	for _, threads := range []int{1, 3} {
		cpu.SetNumThreads(threads)
		for _, dt := range []DType{Float32, Float64} {
			for _, n := range lengths {
				for _, lay := range layouts {
					for _, op := range ops {
						for _, grad := range []bool{false, true} {
							name := fmt.Sprintf("%s %v n=%d %s grad=%v threads=%d", op.name, dt, n, lay, grad, threads)
							a, b := oracleInputs(n, dt, lay)
							if grad {
								a = a.Detach().SetRequiresGrad(true)
							}
							out := op.f(a, b)
							small := n*dt.Size() <= smallCPUBytes
							if coAllocated(out) != (!grad && small) || !sameShape(out.shape, []int{n}) {
								t.Errorf("%s: co-allocated %v, shape %v", name, coAllocated(out), out.shape)
								continue
							}
							av, bv, got := a.Float64s(), b.Expand(n).Float64s(), out.Float64s()
							for i := range got {
								want := op.ref(av[i], bv[i])
								if dt == Float32 {
									want = float64(float32(want))
								}
								if got[i] != want {
									t.Errorf("%s: [%d] = %v, want %v", name, i, got[i], want)
									break
								}
							}
							if coAllocated(out) && !slackZero(out) {
								t.Errorf("%s: a kernel wrote past the elements", name)
							}
						}
					}
				}
			}
		}
	}
}

// oracleInputs returns a of length n (laid out as lay says) and b, which
// broadcasts to n.
func oracleInputs(n int, dt DType, lay string) (a, b *Tensor) {
	vals := func(m int, seed float64) []float64 {
		v := make([]float64, m)
		for i := range v {
			v[i] = math.Sin(seed*float64(i+1)) * 4
		}
		return v
	}
	switch lay {
	case "strided": // every other element of a [n, 2]
		i := 1
		if n == 0 {
			i = 0 // an empty view at an offset trips backend/cpu's unaryVec and binaryVec
		}
		a = FromSlice(vals(2*n, 1.3), n, 2).To(dt).Select(1, i)
		b = FromSlice(vals(2*n, 0.7), 2, n).To(dt).Select(0, i)
	case "offset": // contiguous from an offset
		a = FromSlice(vals(n+3, 1.3), n+3).To(dt).Narrow(0, 3, n)
		b = FromSlice(vals(n+1, 0.7), n+1).To(dt).Narrow(0, 1, n)
	case "broadcast":
		a = FromSlice(vals(n, 1.3), n).To(dt)
		b = FromSlice(vals(1, 0.7), 1).To(dt)
	default:
		a = FromSlice(vals(n, 1.3), n).To(dt)
		b = FromSlice(vals(n, 0.7), n).To(dt)
	}
	return a, b
}

// slackZero reports whether the words of t's object past its elements,
// which new zeroed, are still zero.
func slackZero(t *Tensor) bool {
	buf := t.st.buf.(*cpu.Buffer)
	nb := buf.Len() * t.DType().Size()
	w := (nb + 7) / 8
	if w == 0 {
		return true
	}
	all := unsafe.Slice((*byte)(unsafe.Pointer(&buf.Bytes()[0])), 8*dataRoom(w))
	for _, v := range all[nb:] {
		if v != 0 {
			return false
		}
	}
	return true
}

// A co-allocated output behaves as any tensor: its views and in-place
// writes share its storage; once made a leaf it takes gradients; views
// kept after it is dropped still see its elements through GC cycles.
func TestCoAllocatedSemantics(t *testing.T) {
	x, y := Randn(2, 3), Randn(2, 3)
	s := x.Add(y)
	if !coAllocated(s) {
		t.Fatal("a small unrecorded output is not co-allocated")
	}
	v := s.Transpose(0, 1)
	s.AddIn(Ones(2, 3))
	want := x.Float64s()
	yv := y.Float64s()
	for i := range want {
		want[i] += yv[i] + 1
	}
	if got := v.Transpose(0, 1).Float64s(); !equalF64(got, want) {
		t.Errorf("view after an in-place write: %v, want %v", got, want)
	}

	w := x.MulScalar(2).SetRequiresGrad(true)
	w.Mul(y).Sum().Backward()
	if got, want := w.Grad().Float64s(), y.Float64s(); !equalF64(got, want) {
		t.Errorf("grad of a co-allocated leaf: %v, want %v", got, want)
	}

	views := make([]*Tensor, 100)
	for i := range views {
		views[i] = FromSlice([]float32{float32(i), 1}).MulScalar(1).Narrow(0, 0, 1)
	}
	runtime.GC()
	runtime.GC()
	for i, v := range views {
		if got := v.Item(); got != float64(i) {
			t.Errorf("view %d after GC: %v", i, got)
		}
	}
}

func equalF64(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6*(1+math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// A recorded output is never co-allocated: a detached copy or a view of
// it kept alive must not keep its header, and with it its graph, alive.
func TestRecordedOutputsDoNotRetain(t *testing.T) {
	w := FromSlice([]float32{1, 2, 3, 4}, 2, 2).SetRequiresGrad(true)
	cases := []struct {
		name string
		mk   func() (dropped, keep *Tensor)
	}{
		{"add detach", func() (*Tensor, *Tensor) {
			y := w.Add(w)
			return y, y.Detach()
		}},
		{"mul saved", func() (*Tensor, *Tensor) {
			y := w.Mul(w)
			return y, y.Detach()
		}},
		{"relu detach", func() (*Tensor, *Tensor) {
			y := w.ReLU()
			return y, y.Detach()
		}},
	}
	for _, c := range cases {
		if !collected(t, c.mk) {
			t.Errorf("%s: the dropped tensor is still reachable", c.name)
		}
	}
}

// A view of a tensor in a graph remembers its base: once a recorded
// in-place op rebases the base, using the view, or a view of the view,
// fails (TestStaleViewIsRefused checks one level); a view taken
// afterwards works, and a view of a tensor in no graph has no base.
func TestStaleViewOfView(t *testing.T) {
	w := FromSlice([]float32{1, 2, 3, 4}).SetRequiresGrad(true)
	h := w.MulScalar(2)
	v := h.Narrow(0, 0, 2)
	vv := v.Narrow(0, 1, 1)
	if err := Try(func() { v.Sum() }); err != nil {
		t.Fatalf("a fresh view: %v", err)
	}
	h.AddIn(w)
	for name, x := range map[string]*Tensor{"view": v, "view of a view": vv} {
		if err := Try(func() { x.Sum() }); !errors.Is(err, ErrInPlace) {
			t.Errorf("%s after its base was rebased: %v, want ErrInPlace", name, err)
		}
	}
	fresh := h.Narrow(0, 0, 2)
	fresh.Sum().Backward()
	if got, want := w.Grad().Float64s(), []float64{3, 3, 0, 0}; !equalF64(got, want) {
		t.Errorf("grad through a fresh view: %v, want %v", got, want)
	}
	if p := FromSlice([]float32{1, 2}).Narrow(0, 0, 1); p.base != nil {
		t.Error("a view of a tensor in no graph has a base")
	}
}
