package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// TestLinearFused holds tensor.Linear's one-op path to a float64
// reference (output) and to the composed MatMul and Add (output and every
// gradient), over odd, size-1 and empty sizes, with and without bias,
// transposed inputs and weights, a strided bias, float32 and float64.
func TestLinearFused(t *testing.T) {
	type tc struct {
		n, in, out       int
		bias             bool
		xT, wT, bStrided bool
		dt               tensor.DType
	}
	var cases []tc
	for _, sh := range [][3]int{{0, 3, 2}, {1, 1, 1}, {3, 0, 2}, {5, 7, 3}, {4, 1, 6}, {17, 33, 9}, {128, 40, 10}} {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			cases = append(cases,
				tc{sh[0], sh[1], sh[2], true, false, false, false, dt},
				tc{sh[0], sh[1], sh[2], false, false, false, false, dt},
				tc{sh[0], sh[1], sh[2], true, true, true, true, dt},
				tc{sh[0], sh[1], sh[2], true, false, true, false, dt})
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			gen := tensor.NewGenerator(uint64(c.n*1000 + c.in*10 + c.out))
			mk := func(tr bool, r, k int) *tensor.Tensor {
				if tr {
					return gen.Normal(c.dt, 0, 1, k, r)
				}
				return gen.Normal(c.dt, 0, 1, r, k)
			}
			xl, wl := mk(c.xT, c.n, c.in), mk(c.wT, c.out, c.in)
			var bl *tensor.Tensor
			if c.bias {
				if c.bStrided {
					bl = gen.Normal(c.dt, 0, 1, 2*c.out)
				} else {
					bl = gen.Normal(c.dt, 0, 1, c.out)
				}
			}
			g := gen.Normal(c.dt, 0, 1, c.n, c.out)
			run := func(fused bool) [][]float64 {
				old := tensor.SetLinearFused(fused)
				defer tensor.SetLinearFused(old)
				xs, ws := xl.Detach().SetRequiresGrad(true), wl.Detach().SetRequiresGrad(true)
				x, w := xs, ws
				if c.xT {
					x = xs.T()
				}
				if c.wT {
					w = ws.T()
				}
				var b, bs *tensor.Tensor
				leaves := []*tensor.Tensor{xs, ws}
				if c.bias {
					bs = bl.Detach().SetRequiresGrad(true)
					b = bs
					if c.bStrided {
						b = bs.Slice(0, 0, 2*c.out, 2)
					}
					leaves = append(leaves, bs)
				}
				y := tensor.Linear(x, w, b)
				if fmt.Sprint(y.Shape()) != fmt.Sprint([]int{c.n, c.out}) {
					t.Fatalf("output shape %v", y.Shape())
				}
				y.BackwardWith(g)
				res := [][]float64{y.Float64s(), x.Float64s(), w.Float64s()}
				if b != nil {
					res = append(res, b.Float64s())
				}
				for _, l := range leaves {
					res = append(res, l.Grad().Float64s())
				}
				return res
			}
			f, cmp := run(true), run(false)
			// the reference output from the operands as used
			xv, wv := f[1], f[2]
			tol := 1e-12
			if c.dt == tensor.Float32 {
				tol = 1e-5
			}
			for i := range c.n {
				for o := range c.out {
					want := 0.0
					if c.bias {
						want = f[3][o]
					}
					for k := range c.in {
						want += xv[i*c.in+k] * wv[o*c.in+k]
					}
					if got := f[0][i*c.out+o]; math.Abs(got-want) > tol*(1+math.Abs(want)) {
						t.Fatalf("output [%d, %d] = %v, want %v", i, o, got, want)
					}
				}
			}
			for k := range f {
				for i := range f[k] {
					if math.Abs(f[k][i]-cmp[k][i]) > tol*(1+math.Abs(cmp[k][i])) {
						t.Fatalf("result %d element %d: fused %v, composed %v", k, i, f[k][i], cmp[k][i])
					}
				}
			}
		})
	}
}

// TestLinearFusedCreateGraph checks Linear's first derivatives taken
// with CreateGraph against the plain ones and the composed ops', and its
// first and second derivatives by finite differences.
func TestLinearFusedCreateGraph(t *testing.T) {
	gen := tensor.NewGenerator(6)
	x := gen.Normal(tensor.Float64, 0, 1, 4, 3).SetRequiresGrad(true)
	w := gen.Normal(tensor.Float64, 0, 1, 5, 3).SetRequiresGrad(true)
	b := gen.Normal(tensor.Float64, 0, 1, 5).SetRequiresGrad(true)
	f := func(in []*tensor.Tensor) *tensor.Tensor {
		y := tensor.Linear(in[0], in[1], in[2])
		return y.Mul(y).Sum()
	}
	grads := func(fused, create bool) [][]float64 {
		old := tensor.SetLinearFused(fused)
		defer tensor.SetLinearFused(old)
		in := []*tensor.Tensor{x, w, b}
		gs := autograd.Grad([]*tensor.Tensor{f(in)}, in, nil, autograd.GradOptions{CreateGraph: create})
		var out [][]float64
		for _, g := range gs {
			if create && !g.RequiresGrad() {
				t.Fatal("a create-graph gradient is not differentiable")
			}
			out = append(out, g.Float64s())
		}
		return out
	}
	want := grads(false, false)
	for _, v := range [][2]bool{{true, false}, {true, true}, {false, true}} {
		got := grads(v[0], v[1])
		for k := range want {
			for i := range want[k] {
				if math.Abs(got[k][i]-want[k][i]) > 1e-12 {
					t.Fatalf("fused=%v create=%v: input %d element %d: %v, want %v", v[0], v[1], k, i, got[k][i], want[k][i])
				}
			}
		}
	}
	if err := autograd.GradCheck(f, []*tensor.Tensor{x, w, b}, autograd.GradCheckOptions{GradGrad: true}); err != nil {
		t.Error(err)
	}
}

// TestLinearErrors: shapes that do not fit name the op and the shapes;
// mixed dtypes take the composed path (MatMul's promotion).
func TestLinearErrors(t *testing.T) {
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"inner", "linear: input [2 3] and weight [4 5]: want [N, in] and [out, in]",
			func() { tensor.Linear(tensor.Zeros(2, 3), tensor.Zeros(4, 5), nil) }},
		{"rank", "linear: input [6] and weight [4 6]",
			func() { tensor.Linear(tensor.Zeros(6), tensor.Zeros(4, 6), nil) }},
		{"bias", "linear: bias [3] does not fit weight [4 5]: want [4]",
			func() { tensor.Linear(tensor.Zeros(2, 5), tensor.Zeros(4, 5), tensor.Zeros(3)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := tensor.Try(c.f)
			if err == nil || !contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	y := tensor.Linear(tensor.Ones(2, 3), tensor.Ones(4, 3).To(tensor.Float64), tensor.Ones(4))
	if y.DType() != tensor.Float64 || y.Float64s()[0] != 4 {
		t.Errorf("mixed dtypes: %v %v, want float64 4s", y.DType(), y.Float64s())
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
