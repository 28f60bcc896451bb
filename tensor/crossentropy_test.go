package tensor_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// crossEntropyRef is the cross entropy and its gradient (for an upstream
// gradient of 1) in float64: x is [n, c] row-major.
func crossEntropyRef(x []float64, t []int64, n, c int, ignore int64, mean bool) (loss float64, grad []float64) {
	grad = make([]float64, n*c)
	kept := 0
	for i := range n {
		if t[i] == ignore {
			continue
		}
		kept++
		row := x[i*c : i*c+c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		lse := mx + math.Log(s)
		loss += lse - row[t[i]]
		for j, v := range row {
			grad[i*c+j] = math.Exp(v - lse)
		}
		grad[i*c+int(t[i])]--
	}
	scale := 1.0
	if mean {
		scale = 1 / float64(kept)
		loss /= float64(kept)
	}
	if kept == 0 {
		scale = 0
	}
	for i := range grad {
		grad[i] *= scale
	}
	return loss, grad
}

// TestFusedCrossEntropy holds the one-op cross entropy (what
// F.CrossEntropy takes for [N, C] logits and class indices) to a float64
// reference and to the composed ops (F.CrossEntropy with the fused op
// off), loss and gradient, over odd and size-1 sizes, an empty batch,
// ignored rows (some and all), both reductions, float32 and float64,
// transposed logits, strided targets and every target dtype.
func TestFusedCrossEntropy(t *testing.T) {
	type tc struct {
		n, c       int
		ignore     string // "none", "some", "all"
		mean       bool
		dt         tensor.DType
		transposed bool
		strided    bool
		tdt        tensor.DType
	}
	var cases []tc
	for _, nc := range [][2]int{{0, 3}, {1, 1}, {1, 5}, {3, 2}, {7, 10}, {17, 33}, {128, 10}} {
		for _, ig := range []string{"none", "some", "all"} {
			for _, mean := range []bool{true, false} {
				for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
					cases = append(cases, tc{nc[0], nc[1], ig, mean, dt, false, false, tensor.Int64})
				}
			}
		}
		cases = append(cases,
			tc{nc[0], nc[1], "some", true, tensor.Float32, true, false, tensor.Int64},
			tc{nc[0], nc[1], "some", false, tensor.Float64, true, true, tensor.Int64},
			tc{nc[0], nc[1], "none", true, tensor.Float32, false, true, tensor.Int32},
			tc{nc[0], nc[1], "none", true, tensor.Float64, false, false, tensor.Uint8})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			gen := tensor.NewGenerator(uint64(c.n*100 + c.c))
			ignore := int64(-100)
			if c.tdt == tensor.Uint8 {
				ignore = 200
			}
			tv := make([]int64, c.n)
			for i := range tv {
				tv[i] = int64((i*7 + 3) % c.c)
				if c.ignore == "all" || (c.ignore == "some" && i%3 == 1) {
					tv[i] = ignore
				}
			}
			var target *tensor.Tensor
			if c.strided {
				wide := make([]int64, 2*c.n)
				for i, v := range tv {
					wide[2*i] = v
				}
				target = tensor.FromSlice(wide).Slice(0, 0, 2*c.n, 2)
			} else {
				target = tensor.FromSlice(tv)
			}
			target = target.To(c.tdt)
			var leaf *tensor.Tensor
			if c.transposed {
				leaf = gen.Normal(c.dt, 0, 2, c.c, c.n)
			} else {
				leaf = gen.Normal(c.dt, 0, 2, c.n, c.c)
			}
			opt := F.CrossEntropyOptions{IgnoreIndex: F.Index(int(ignore))}
			if !c.mean {
				opt.Reduction = "sum"
			}
			run := func(fused bool) (loss float64, grad, x64 []float64) {
				old := tensor.SetCrossEntropyFused(fused)
				defer tensor.SetCrossEntropyFused(old)
				l := leaf.Detach().SetRequiresGrad(true)
				x := l
				if c.transposed {
					x = l.T()
				}
				out := F.CrossEntropy(x, target, opt)
				if out.Dim() != 0 || out.DType() != c.dt {
					t.Fatalf("loss of shape %v and dtype %v, want 0-d %v", out.Shape(), out.DType(), c.dt)
				}
				out.MulScalar(1.5).Backward()
				g := l.Grad()
				if c.transposed {
					g = g.T()
				}
				return out.Item(), g.Contiguous().Float64s(), x.Contiguous().Float64s()
			}
			fl, fg, xv := run(true)
			cl, cg, _ := run(false)
			wl, wg := crossEntropyRef(xv, tv, c.n, c.c, ignore, c.mean)
			for i := range wg {
				wg[i] *= 1.5
			}
			tol := 1e-12
			if c.dt == tensor.Float32 {
				tol = 2e-6
			}
			close := func(a, b float64) bool {
				return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) <= tol*(1+math.Abs(b))
			}
			if !close(fl, wl) || !close(cl, wl) {
				t.Fatalf("loss: fused %v, composed %v, reference %v", fl, cl, wl)
			}
			for i := range wg {
				if !close(fg[i], wg[i]) || !close(cg[i], wg[i]) {
					t.Fatalf("gradient element %d: fused %v, composed %v, reference %v", i, fg[i], cg[i], wg[i])
				}
			}
		})
	}
}

// TestFusedCrossEntropyCreateGraph checks the first derivative taken with
// CreateGraph (the composed, recorded rule) against the fused one and the
// composed ops, with respect to the logits and an upstream scale, and
// the first and second derivatives by finite differences.
func TestFusedCrossEntropyCreateGraph(t *testing.T) {
	gen := tensor.NewGenerator(4)
	x := gen.Normal(tensor.Float64, 0, 1, 6, 5).SetRequiresGrad(true)
	s := tensor.FromSlice([]float64{0.7}).Reshape().SetRequiresGrad(true)
	target := tensor.FromSlice([]int64{1, -100, 4, 0, 2, 2})
	for _, red := range []string{"mean", "sum"} {
		f := func(in []*tensor.Tensor) *tensor.Tensor {
			return F.CrossEntropy(in[0], target, F.CrossEntropyOptions{Reduction: red}).Mul(in[1])
		}
		grads := func(fused, create bool) [][]float64 {
			old := tensor.SetCrossEntropyFused(fused)
			defer tensor.SetCrossEntropyFused(old)
			gs := autograd.Grad([]*tensor.Tensor{f([]*tensor.Tensor{x, s})}, []*tensor.Tensor{x, s}, nil, autograd.GradOptions{CreateGraph: create})
			if create && !gs[0].RequiresGrad() {
				t.Fatalf("%s: the create-graph gradient is not differentiable", red)
			}
			return [][]float64{gs[0].Float64s(), gs[1].Float64s()}
		}
		want := grads(false, false)
		for _, v := range []struct {
			name          string
			fused, create bool
		}{{"fused", true, false}, {"fused create-graph", true, true}, {"composed create-graph", false, true}} {
			got := grads(v.fused, v.create)
			for k := range want {
				for i := range want[k] {
					if math.Abs(got[k][i]-want[k][i]) > 1e-12 {
						t.Fatalf("%s %s: input %d element %d: %v, composed %v", red, v.name, k, i, got[k][i], want[k][i])
					}
				}
			}
		}
		if err := autograd.GradCheck(f, []*tensor.Tensor{x, s}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
			t.Errorf("%s: %v", red, err)
		}
	}
}

// TestFusedCrossEntropyErrors: bad shapes, dtypes and targets name the op
// and the shapes.
func TestFusedCrossEntropyErrors(t *testing.T) {
	x := tensor.Zeros(2, 3)
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"rank", "cross_entropy: logits [6] and target [2]: want [N, C] and [N]",
			func() { tensor.FusedCrossEntropy(tensor.Zeros(6), tensor.FromSlice([]int64{0, 1}), -100, true) }},
		{"rows", "cross_entropy: logits [2 3] and target [3]: want [N, C] and [N]",
			func() { tensor.FusedCrossEntropy(x, tensor.FromSlice([]int64{0, 1, 2}), -100, true) }},
		{"dtype", "cross_entropy: class-index targets must be integers, not float32",
			func() { tensor.FusedCrossEntropy(x, tensor.Zeros(2), -100, true) }},
		{"bounds", "cross_entropy: target 3 is out of bounds for 3 classes (input [2 3])",
			func() { tensor.FusedCrossEntropy(x, tensor.FromSlice([]int64{0, 3}), -100, true) }},
		{"negative", "cross_entropy: target -1 is out of bounds for 3 classes (input [2 3])",
			func() { tensor.FusedCrossEntropy(x, tensor.FromSlice([]int64{-1, 0}), -100, false) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := tensor.Try(c.f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
