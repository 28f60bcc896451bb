package tensor

import (
	"fmt"
	"math"
	"testing"
	"unsafe"
)

// The per-op records are sized for malloc's size classes: on a tiny op
// the bytes allocated, which set how often the GC runs, are most of the
// cost. Tensor 176 bytes, storage 48 (with a small CPU buffer's header
// and 64 bytes of elements, 160; an unrecorded output's Tensor and
// storage in one tensorStorage 224, and with those 352), a Node that
// saves nothing 192 (counts and compact metas instead of slices; what
// few nodes need lives behind one pointer), one that saves one or two
// tensors 288; a small recorded output's Tensor with room for its Node
// 368 (size class 384), with room for a saving one 448.
func TestOverheadRecordSizes(t *testing.T) {
	cases := []struct {
		name     string
		size, at uintptr
	}{
		{"Tensor", unsafe.Sizeof(Tensor{}), 176},
		{"storage", unsafe.Sizeof(storage{}), 48},
		{"tensorStorage", unsafe.Sizeof(tensorStorage{}), 224},
		{"Node", unsafe.Sizeof(Node{}), 192},
		{"nodeSaving", unsafe.Sizeof(nodeSaving{}), 288},
		{"tensorNode", unsafe.Sizeof(tensorNode{}), 368},
		{"tensorNodeSaving", unsafe.Sizeof(tensorNodeSaving{}), 448},
	}
	for _, c := range cases {
		if c.size > c.at {
			t.Errorf("%s is %d bytes, over %d", c.name, c.size, c.at)
		}
	}
}

// A tiny elementwise op that records nothing allocates one object for
// its Tensor, storage, buffer and elements (tensorStorage); a recorded
// one allocates its Tensor with its Node (tensorNode) and its storage
// apart (so that a detached copy cannot keep its graph alive).
func TestTinyOpAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector allocates")
	}
	x, y := Randn(16), Randn(16)
	xg := x.Detach().SetRequiresGrad(true)
	m := Randn(4, 16)
	var sink *Tensor
	cases := []struct {
		name string
		f    func()
		want float64
	}{
		{"add", func() { sink = x.Add(y) }, 1},
		{"add grad", func() { sink = xg.Add(y) }, 2},
		{"mul grad", func() { sink = xg.Mul(y) }, 4}, // + the two saved tensors
		{"exp grad", func() { sink = xg.Exp() }, 3},  // + the saved output
		{"relu", func() { sink = x.ReLU() }, 1},
		{"add broadcast", func() { sink = m.Add(y) }, 3}, // + the broadcast shape and y's strides
	}
	for _, c := range cases {
		if got := testing.AllocsPerRun(200, c.f); got > c.want {
			t.Errorf("%s: %v allocations, want at most %v", c.name, got, c.want)
		}
	}
	_ = sink
}

// ownShape hands out copies the node owns: equal to the shape asked for,
// unchanged when the caller's slice changes later, capped so that an
// append cannot write over a neighbour, and shared only between equal
// shapes. Sequences run past the inline room.
func TestOwnShape(t *testing.T) {
	cases := [][][]int{
		{{16}, {16}, {16}},
		{{4, 16}, {16}, {4, 16}},
		{{16}, {4, 16}, {4, 16}},
		{{2, 1, 3, 1}, {1, 4, 1, 5}, {2, 4, 3, 5}}, // 12 dims: the third is allocated
		{{2, 3, 4, 5}, {1, 3, 1, 1}, {2, 3, 4, 5}}, // the output shares the first input's
		{{}, {3}, {}, {3, 1}, {3}},
		{{4, 4}, {4}, {4, 4, 4}, {1}, {4, 4}, {7, 7, 7}},
	}
	for _, shapes := range cases {
		n := new(Node)
		ms := make([]meta, len(shapes))
		for i, s := range shapes {
			in := append([]int(nil), s...)
			n.ownShape(&ms[i], in)
			for i := range in {
				in[i] = -1 // the caller's slice changes; the copy must not
			}
		}
		for i := range ms {
			if o := n.shapeOf(&ms[i]); !sameShape(o, shapes[i]) || cap(o) != len(o) {
				t.Fatalf("%v: shape %d is %v (cap %d)", shapes, i, o, cap(o))
			}
		}
		if int(n.used) > len(n.inlDims) {
			t.Fatalf("%v: %d dims used of %d", shapes, n.used, len(n.inlDims))
		}
	}
}

// binaryCase is one binary op on operands of given shapes and dtypes.
type binaryCase struct {
	a, b   []int
	da, db DType
}

// fill makes a tensor of shape and dtype holding small whole numbers and
// halves (exact in every dtype), never zero, distinct per position.
func fill(shape []int, dt DType, seed int) *Tensor {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64((i*7+seed*3)%11+1) / 2
		if dt == Bool {
			v[i] = float64((i + seed) % 2)
		} else if !dt.IsFloat() {
			v[i] = math.Ceil(v[i])
		}
	}
	return FromSlice(v, shape...).To(dt)
}

// bcastAt is the flat index in a tensor of shape of the element that
// broadcasting maps output index idx (of out's shape) to.
func bcastAt(shape, out []int, idx int) int {
	pos := make([]int, len(out))
	for d := len(out) - 1; d >= 0; d-- {
		pos[d] = idx % out[d]
		idx /= out[d]
	}
	at, off := 0, len(out)-len(shape)
	for d, s := range shape {
		p := pos[off+d]
		if s == 1 {
			p = 0
		}
		at = at*s + p
	}
	return at
}

// The common-case shortcuts of binary (one backend, one dtype, one shape)
// agree with the general path: every op over same and broadcast shapes,
// same and mixed dtypes, against an elementwise float64 oracle.
func TestBinaryShortcutsMatchOracle(t *testing.T) {
	cases := []binaryCase{
		{[]int{16}, []int{16}, Float32, Float32},
		{[]int{3, 5}, []int{3, 5}, Float64, Float64},
		{[]int{4, 16}, []int{16}, Float32, Float32},
		{[]int{16}, []int{4, 16}, Float32, Float32},
		{[]int{4, 1}, []int{1, 5}, Float32, Float32},
		{[]int{2, 1, 3, 1}, []int{1, 4, 1, 5}, Float32, Float32},
		{[]int{3, 4}, []int{3, 1}, Float32, Float32},
		{[]int{}, []int{5}, Float32, Float32},
		{[]int{}, []int{}, Float64, Float64},
		{[]int{5}, []int{5}, Float32, Float64},
		{[]int{5}, []int{}, Int64, Float32},
		{[]int{2, 3}, []int{2, 3}, Int64, Int64},
		{[]int{2, 3}, []int{3}, Int64, Int32},
		{[]int{6}, []int{6}, Bool, Bool},
		{[]int{0, 3}, []int{3}, Float32, Float32},
	}
	type opCase struct {
		name string
		f    func(a, b *Tensor) *Tensor
		ref  func(a, b float64) float64
	}
	ops := []opCase{
		{"add", (*Tensor).Add, func(a, b float64) float64 { return a + b }},
		{"mul", (*Tensor).Mul, func(a, b float64) float64 { return a * b }},
		{"sub", (*Tensor).Sub, func(a, b float64) float64 { return a - b }},
		{"div", (*Tensor).Div, func(a, b float64) float64 { return a / b }},
		{"lt", (*Tensor).Lt, func(a, b float64) float64 { return b2f(a < b) }},
		{"eq", (*Tensor).Eq, func(a, b float64) float64 { return b2f(a == b) }},
	}
	for _, c := range cases {
		for _, op := range ops {
			name := fmt.Sprintf("%s %v%v %v%v", op.name, c.da, c.a, c.db, c.b)
			if op.name == "sub" && c.da == Bool {
				continue // refused, as torch does
			}
			a, b := fill(c.a, c.da, 1), fill(c.b, c.db, 2)
			var out *Tensor
			if err := Try(func() { out = op.f(a, b) }); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			outShape := broadcastShapes("test", c.a, c.b)
			if !sameShape(out.shape, outShape) {
				t.Errorf("%s: shape %v, want %v", name, out.shape, outShape)
				continue
			}
			av, bv, got := a.Float64s(), b.Float64s(), out.Float64s()
			for i := range got {
				want := op.ref(av[bcastAt(c.a, outShape, i)], bv[bcastAt(c.b, outShape, i)])
				switch dt := out.DType(); {
				case dt == Float32:
					want = float64(float32(want))
				case !dt.IsFloat() && dt != Bool:
					want = math.Trunc(want)
				case dt == Bool:
					want = b2f(want != 0)
				}
				if got[i] != want {
					t.Errorf("%s: [%d] = %v, want %v", name, i, got[i], want)
					break
				}
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Gradients through broadcast ops reach each input in its own shape:
// the node's recorded shapes (shared when equal, allocated past the
// inline room) are what backward sums the output gradient down to.
func TestBroadcastGradShapes(t *testing.T) {
	cases := []struct {
		a, b   []int
		ga, gb float64 // each input element's gradient of out.Sum()
	}{
		{[]int{16}, []int{16}, 1, 1},
		{[]int{4, 16}, []int{16}, 1, 4},
		{[]int{2, 1, 3, 1}, []int{1, 4, 1, 5}, 20, 6},
		{[]int{2, 3, 4, 5}, []int{1, 3, 1, 1}, 1, 40},
		{[]int{}, []int{3, 2}, 6, 1},
	}
	for _, c := range cases {
		a := fill(c.a, Float64, 1).SetRequiresGrad(true)
		b := fill(c.b, Float64, 2).SetRequiresGrad(true)
		a.Add(b).Sum().Backward()
		for _, g := range []struct {
			x    *Tensor
			want float64
		}{{a, c.ga}, {b, c.gb}} {
			gr := g.x.Grad()
			if gr == nil || !sameShape(gr.shape, g.x.shape) {
				t.Fatalf("%v + %v: gradient %v for an input of shape %v", c.a, c.b, gr, g.x.shape)
			}
			for i, v := range gr.Float64s() {
				if v != g.want {
					t.Fatalf("%v + %v: gradient [%d] = %v, want %v", c.a, c.b, i, v, g.want)
				}
			}
		}
	}
}

// Grad state is made on first use: a fresh tensor has none, and asking
// or clearing does not make one; SetGrad, backward into a leaf and
// RetainGrad do.
func TestGradStateOnDemand(t *testing.T) {
	x := Randn(3)
	if x.Grad() != nil {
		t.Fatal("a fresh tensor has a gradient")
	}
	x.ZeroGrad()
	x.SetGrad(nil)
	if x.gs.Load() != nil {
		t.Fatal("reading or clearing the gradient made grad state")
	}
	g := Randn(3)
	x.SetGrad(g)
	if x.Grad() != g {
		t.Fatal("SetGrad did not stick")
	}
	x.SetGrad(nil)
	if x.Grad() != nil {
		t.Fatal("SetGrad(nil) did not clear")
	}
	w := FromSlice([]float64{1, 2, 3}).SetRequiresGrad(true)
	h := w.MulScalar(2)
	h.RetainGrad()
	h.Mul(h).Sum().Backward()
	for i, v := range w.Grad().Float64s() {
		if want := 8 * float64(i+1); v != want {
			t.Fatalf("w.grad[%d] = %v, want %v", i, v, want)
		}
	}
	for i, v := range h.Grad().Float64s() {
		if want := 4 * float64(i+1); v != want {
			t.Fatalf("h.grad[%d] = %v, want %v", i, v, want)
		}
	}
}
