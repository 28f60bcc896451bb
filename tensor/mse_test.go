package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// mseComposed is the squared error composed of Sub, Square and Mean or
// Sum: what nn/functional.MSELoss was before FusedMSELoss, and its
// oracle.
func mseComposed(x, y *tensor.Tensor, mean bool) *tensor.Tensor {
	sq := x.Sub(y).Square()
	if mean {
		return sq.Mean()
	}
	return sq.Sum()
}

// TestFusedMSELoss holds FusedMSELoss, forward and backward, to a
// reference written here and to the composed ops, over odd sizes, empty
// and size-1 dims, transposed and broadcast (expanded) inputs and
// targets, gradients wanted for the input, the target or both, the mean
// and the sum, in float32 and float64, with non-finite values in some.
//
// Tolerances, ε = 2⁻²⁴ (float32) or 2⁻⁵³: the forward against the sum of
// the squares of the rounded differences, in float64, within
// (n+1)·2⁻⁵²·|sum| (a reordered sum of positive terms) plus float32's
// final rounding; against the composition, whose squares are rounded to
// the dtype before they are summed, within 2ε·|sum| more. The backward is
// torch's (T(norm)·(x − y))·g in the dtype, bit for bit, the target's its
// negation; the composition, which rounds ((g/n)·d)·2 or so, within 4ε.
func TestFusedMSELoss(t *testing.T) {
	for _, sh := range [][]int{{0}, {1}, {7}, {33}, {3, 5}, {1, 9}, {5, 1}, {2, 0, 3}, {17, 31}, {4, 3, 70}} {
		for _, lay := range []string{"plain", "input_t", "target_t", "input_expanded", "both_expanded"} {
			if len(sh) < 2 && lay != "plain" {
				continue
			}
			for _, grads := range []string{"input", "target", "both"} {
				for _, mean := range []bool{true, false} {
					for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
						name := fmt.Sprintf("%v/%s/grad=%s/mean=%v/%v", sh, lay, grads, mean, dt)
						t.Run(name, func(t *testing.T) { testFusedMSELoss(t, sh, lay, grads, mean, dt) })
					}
				}
			}
		}
	}
}

func testFusedMSELoss(t *testing.T, shape []int, lay, grads string, mean bool, dt tensor.DType) {
	rng := rand.New(rand.NewPCG(17, uint64(len(shape)*31+len(lay))))
	r := len(shape)
	n := 1
	for _, d := range shape {
		n *= d
	}
	leafShape := func(which string) []int {
		s := append([]int(nil), shape...)
		switch {
		case lay == which+"_t":
			s[r-1], s[r-2] = s[r-2], s[r-1]
		case lay == which+"_expanded" || lay == "both_expanded":
			s[r-2] = 1
		}
		return s
	}
	vals := func(s []int, specials bool) []float64 {
		m := 1
		for _, d := range s {
			m *= d
		}
		v := make([]float64, m)
		for i := range v {
			v[i] = rng.NormFloat64() * 2
		}
		if specials && m > 2 {
			v[m/2] = []float64{math.Inf(1), math.NaN(), math.Inf(-1)}[m%3]
		}
		return v
	}
	withSpecials := n%3 == 1 && n > 2
	xl := tensor.FromSlice(vals(leafShape("input"), withSpecials), leafShape("input")...).To(dt)
	yl := tensor.FromSlice(vals(leafShape("target"), false), leafShape("target")...).To(dt)
	view := func(l *tensor.Tensor, which string) *tensor.Tensor {
		switch {
		case lay == which+"_t":
			return l.Transpose(-1, -2)
		case lay == which+"_expanded" || lay == "both_expanded":
			return l.Expand(shape...)
		}
		return l.MulScalar(1)
	}
	gv := rng.NormFloat64()
	eps := 0x1p-53
	if dt == tensor.Float32 {
		eps = 0x1p-24
	}
	round := func(v float64) float64 {
		if dt == tensor.Float32 {
			return float64(float32(v))
		}
		return v
	}
	type result struct{ loss, gx, gy []float64 }
	run := func(fused bool) result {
		old := tensor.SetMSELossFused(fused)
		defer tensor.SetMSELossFused(old)
		xleaf, yleaf := xl.Detach(), yl.Detach()
		if grads != "target" {
			xleaf.SetRequiresGrad(true)
		}
		if grads != "input" {
			yleaf.SetRequiresGrad(true)
		}
		x, y := view(xleaf, "input"), view(yleaf, "target")
		var loss *tensor.Tensor
		if fused {
			var ok bool
			loss, ok = tensor.FusedMSELoss(x, y, mean)
			if !ok {
				t.Fatal("FusedMSELoss declined on the CPU")
			}
		} else {
			if _, ok := tensor.FusedMSELoss(x, y, mean); ok {
				t.Fatal("FusedMSELoss ran while switched off")
			}
			loss = mseComposed(x, y, mean)
		}
		if loss.Dim() != 0 || loss.DType() != dt {
			t.Fatalf("loss %v of %v, want a 0-d %v", loss.Shape(), loss.DType(), dt)
		}
		var wrt []*tensor.Tensor
		if grads != "target" {
			wrt = append(wrt, x)
		}
		if grads != "input" {
			wrt = append(wrt, y)
		}
		g := tensor.FromSlice([]float64{gv}).Reshape().To(dt)
		gs := autograd.Grad([]*tensor.Tensor{loss}, wrt, []*tensor.Tensor{g}, autograd.GradOptions{})
		res := result{loss: loss.Float64s()}
		if grads != "target" {
			res.gx, gs = gs[0].Float64s(), gs[1:]
		}
		if grads != "input" {
			res.gy = gs[0].Float64s()
		}
		return res
	}
	f, c := run(true), run(false)

	// the references
	xs, ys := view(xl, "input").Float64s(), view(yl, "target").Float64s()
	var sum float64
	for i := range xs {
		d := round(xs[i] - ys[i])
		sum += d * d
	}
	want := sum
	if mean {
		want /= float64(n)
	}
	tol := float64(n+1)*0x1p-52*math.Abs(want) + eps*math.Abs(want)
	if !near(f.loss[0], want, tol) {
		t.Fatalf("loss %v, want %v ± %.3g", f.loss[0], want, tol)
	}
	if !near(f.loss[0], c.loss[0], tol+2*eps*math.Abs(want)) {
		t.Fatalf("loss %v, composed %v", f.loss[0], c.loss[0])
	}
	norm := round(2.0)
	if mean {
		norm = round(2 / float64(n))
	}
	for i := range xs {
		w := round(round(norm*round(xs[i]-ys[i])) * round(gv))
		if f.gx != nil {
			if math.Float64bits(f.gx[i]) != math.Float64bits(w) && !(math.IsNaN(f.gx[i]) && math.IsNaN(w)) {
				t.Fatalf("input gradient %d: %v, want %v", i, f.gx[i], w)
			}
			if !near(c.gx[i], w, 4*eps*math.Abs(w)) {
				t.Fatalf("input gradient %d: composed %v, want %v", i, c.gx[i], w)
			}
		}
		if f.gy != nil {
			if math.Float64bits(f.gy[i]) != math.Float64bits(-w) && !(math.IsNaN(f.gy[i]) && math.IsNaN(w)) {
				t.Fatalf("target gradient %d: %v, want %v", i, f.gy[i], -w)
			}
			if !near(c.gy[i], -w, 4*eps*math.Abs(w)) {
				t.Fatalf("target gradient %d: composed %v, want %v", i, c.gy[i], -w)
			}
		}
	}
}

// FusedMSELoss declines what it does not fuse (shapes or dtypes that
// differ, a half dtype), so that callers compose; and its gradients pass
// gradcheck to second order in float64, over a transposed input and both
// reductions (the recorded backward takes the composed rule).
func TestFusedMSELossDeclinesAndGradCheck(t *testing.T) {
	a, b := tensor.Randn(3, 4), tensor.Randn(3, 4)
	for name, pair := range map[string][2]*tensor.Tensor{
		"shapes":  {a, tensor.Randn(4)},
		"dtypes":  {a, b.To(tensor.Float64)},
		"float16": {a.To(tensor.Float16), b.To(tensor.Float16)},
	} {
		if _, ok := tensor.FusedMSELoss(pair[0], pair[1], true); ok {
			t.Errorf("%s: FusedMSELoss did not decline", name)
		}
	}
	gen := tensor.NewGenerator(21)
	for _, mean := range []bool{true, false} {
		x := gen.Normal(tensor.Float64, 0, 1, 4, 3).SetRequiresGrad(true)
		y := gen.Normal(tensor.Float64, 0, 1, 3, 4).SetRequiresGrad(true)
		f := func(in []*tensor.Tensor) *tensor.Tensor {
			l, ok := tensor.FusedMSELoss(in[0].Transpose(0, 1), in[1], mean)
			if !ok {
				t.Fatal("FusedMSELoss declined")
			}
			return l.Mul(l)
		}
		if err := autograd.GradCheck(f, []*tensor.Tensor{x, y}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
			t.Errorf("mean=%v: %v", mean, err)
		}
	}
}
