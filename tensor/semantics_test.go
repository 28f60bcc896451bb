package tensor_test

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestViewsShareStorage(t *testing.T) {
	x := tensor.Arange(0, 12, 1).To(tensor.Float32).Reshape(3, 4)
	views := map[string]*tensor.Tensor{
		"reshape":   x.Reshape(4, 3),
		"transpose": x.Transpose(0, 1),
		"permute":   x.Permute(1, 0),
		"narrow":    x.Narrow(1, 1, 2),
		"slice":     x.Slice(1, 0, 4, 2),
		"select":    x.Select(0, 2),
		"squeeze":   x.Unsqueeze(0).Squeeze(0),
		"expand":    x.Unsqueeze(0).Expand(2, 3, 4),
		"chunk":     x.Chunk(2, 1)[1],
		"detach":    x.Detach(),
	}
	for name, v := range views {
		if !v.SharesStorage(x) {
			t.Errorf("%s copied", name)
		}
	}
	// writes through a view land in the base
	x.Slice(1, 1, 4, 2).FillIn(-1)
	want := []float64{0, -1, 2, -1, 4, -1, 6, -1, 8, -1, 10, -1}
	for i, v := range x.Float64s() {
		if v != want[i] {
			t.Fatalf("after writing a strided view: %v", x.Float64s())
		}
	}
	// a non-viewable reshape copies
	if x.T().Reshape(12).SharesStorage(x) {
		t.Error("reshape of a transposed tensor should copy")
	}
	if !x.Flip(0).IsContiguous() || x.Flip(0).SharesStorage(x) {
		t.Error("flip must return new contiguous storage")
	}
}

func TestHalfTypesConvertAndCompute(t *testing.T) {
	vals := []float32{1, -2.5, 0.1, 65504, 1e-7, 3.14159}
	x := tensor.FromSlice(vals)
	for _, dt := range []tensor.DType{tensor.Float16, tensor.BFloat16} {
		h := x.To(dt)
		if h.DType() != dt {
			t.Fatalf("To(%v) gave %v", dt, h.DType())
		}
		back := h.To(tensor.Float32).Float64s()
		for i, v := range vals {
			// half has an 11-bit significand, bfloat16 8 bits
			rel := 1.0 / 2048
			if dt == tensor.BFloat16 {
				rel = 1.0 / 256
			}
			if math.Abs(back[i]-float64(v)) > rel*math.Abs(float64(v))+6e-8 {
				t.Errorf("%v: %v round-trips to %v", dt, v, back[i])
			}
		}
		// ops compute in float32 and give back the half type
		y := h.Mul(h).Sum()
		if y.DType() != dt {
			t.Errorf("%v op gave %v", dt, y.DType())
		}
		g := h.SetRequiresGrad(true)
		g.Square().Sum().Backward()
		if g.Grad() == nil || g.Grad().DType() != dt {
			t.Errorf("%v gradient: %v", dt, g.Grad())
		}
	}
}

func TestRandomIsSeededAndDistributed(t *testing.T) {
	g1, g2 := tensor.NewGenerator(7), tensor.NewGenerator(7)
	a, b := g1.Randn(1000), g2.Randn(1000)
	if a.Ne(b).Sum().Item() != 0 {
		t.Fatal("same seed, different numbers")
	}
	if g1.Randn(10).Eq(a.Narrow(0, 0, 10)).Sum().Item() == 10 {
		t.Fatal("the generator did not advance")
	}
	// State/SetState rewinds exactly
	seed, off := g1.State()
	c := g1.Rand(5)
	g1.SetState(seed, off)
	if g1.Rand(5).Ne(c).Sum().Item() != 0 {
		t.Fatal("SetState did not rewind")
	}
	// moments of 200k draws, within 5 standard errors
	n := 200000.0
	u := g1.Rand(int(n))
	if m := u.Mean().Item(); math.Abs(m-0.5) > 5*math.Sqrt(1.0/12/n) {
		t.Errorf("uniform mean %v", m)
	}
	if u.Amin().Item() < 0 || u.Amax().Item() >= 1 {
		t.Error("uniform outside [0, 1)")
	}
	z := g1.Normal(tensor.Float64, 2, 3, int(n))
	if m := z.Mean().Item(); math.Abs(m-2) > 5*3/math.Sqrt(n) {
		t.Errorf("normal mean %v", m)
	}
	if s := z.Std().Item(); math.Abs(s-3) > 5*3/math.Sqrt(2*n) {
		t.Errorf("normal std %v", s)
	}
	r := g1.RandInt(-3, 4, 70000)
	for k := -3; k < 4; k++ {
		c := r.EqScalar(float64(k)).Sum().Item()
		if math.Abs(c-10000) > 5*math.Sqrt(10000*6.0/7) {
			t.Errorf("randint: %d drawn %v times of 70000", k, c)
		}
	}
	p := g1.RandPerm(50).Int64s()
	seen := map[int64]bool{}
	for _, v := range p {
		seen[v] = true
	}
	if len(seen) != 50 {
		t.Error("RandPerm is not a permutation")
	}
}

func TestMultinomial(t *testing.T) {
	g := tensor.NewGenerator(3)
	probs := tensor.FromSlice([]float32{1, 0, 3, 6}) // not normalized
	s := g.Multinomial(probs, 20000, true)
	counts := make([]float64, 4)
	for _, v := range s.Int64s() {
		counts[v]++
	}
	for i, w := range []float64{0.1, 0, 0.3, 0.6} {
		sd := math.Sqrt(20000 * w * (1 - w))
		if math.Abs(counts[i]-20000*w) > 5*sd+1e-9 {
			t.Errorf("category %d drawn %v times, expect %v", i, counts[i], 20000*w)
		}
	}
	// without replacement: distinct, never a zero weight, and the heavier
	// category comes first more often
	rows := tensor.FromSlice([]float64{5, 1, 0, 2, 2, 2, 2, 0}, 2, 4)
	first := 0
	for i := 0; i < 2000; i++ {
		d := g.Multinomial(rows, 3, false).Int64s()
		if d[0] == d[1] || d[1] == d[2] || d[0] == d[2] || d[3] == d[4] || d[4] == d[5] || d[3] == d[5] {
			t.Fatalf("repeated category without replacement: %v", d)
		}
		for _, v := range d[:3] {
			if v == 2 {
				t.Fatal("drew a zero-weight category")
			}
		}
		for _, v := range d[3:] {
			if v == 3 {
				t.Fatal("drew a zero-weight category")
			}
		}
		if d[0] == 0 {
			first++
		}
	}
	// P(first draw = 0) = 5/8
	if p := float64(first) / 2000; math.Abs(p-0.625) > 5*math.Sqrt(0.625*0.375/2000) {
		t.Errorf("heaviest category first %v of the time, want 0.625", p)
	}
}

func TestStaleViewIsRefused(t *testing.T) {
	x := tensor.FromSlice([]float64{1, 2, 3, 4}, 2, 2).SetRequiresGrad(true)
	h := x.MulScalar(1)
	v := h.T()
	h.MulScalarIn(3) // h is rebased: v's graph describes the old h
	err := tensor.Try(func() { v.Sum().Backward() })
	if err == nil {
		t.Fatal("a stale view was used without error")
	}
	// a view of a leaf stays valid when the leaf's data is updated
	// outside recording (an optimizer step)
	w := tensor.FromSlice([]float64{1, 2}).SetRequiresGrad(true)
	wt := w.Unsqueeze(0)
	tensor.WithGradEnabled(false, func() { w.AddScalarIn(1) })
	wt.Square().Sum().Backward()
	if got := w.Grad().Float64s(); got[0] != 4 || got[1] != 6 {
		t.Fatalf("gradient through a cached view of an updated leaf: %v", got)
	}
}

// One-sided clamps keep an integer tensor's dtype, as torch.clamp does
// (values from PyTorch 1.13: clamp(max=4) of [1, 5, 9] is [1, 4, 4]).
func TestIntegerClampKeepsDType(t *testing.T) {
	x := tensor.FromSlice([]int64{1, 5, 9})
	cases := []struct {
		name string
		got  *tensor.Tensor
		want []int64
	}{
		{"max", x.ClampMax(4), []int64{1, 4, 4}},
		{"min", x.ClampMin(4), []int64{4, 5, 9}},
		{"both", x.Clamp(2, 6), []int64{2, 5, 6}},
		{"in place", x.Clone().ClampIn(math.Inf(-1), 4), []int64{1, 4, 4}},
	}
	for _, c := range cases {
		if c.got.DType() != tensor.Int64 {
			t.Errorf("%s: dtype %v, want int64", c.name, c.got.DType())
			continue
		}
		for i, v := range c.got.Int64s() {
			if v != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, c.got.Int64s(), c.want)
				break
			}
		}
	}
	if x.AddScalar(0.5).DType() != tensor.Float32 {
		t.Error("int + 0.5 must promote to float32")
	}
}
