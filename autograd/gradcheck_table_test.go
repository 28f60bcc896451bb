package autograd_test

import (
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// One table drives the float64 gradient check of every differentiable op:
// first derivatives against central differences, and (GradGrad) second
// derivatives of a random projection of the backward pass. Inputs are
// random, never zeros; entries include broadcast, non-contiguous (views
// taken inside f, so the leaves stay dense) and size-1 / empty dims.

var gen = tensor.NewGenerator(2026)

func leaf(t *tensor.Tensor) *tensor.Tensor { return t.SetRequiresGrad(true) }

// rnd is N(0,1) float64.
func rnd(shape ...int) *tensor.Tensor { return leaf(gen.Normal(tensor.Float64, 0, 1, shape...)) }

// pos is in [0.5, 2).
func pos(shape ...int) *tensor.Tensor { return leaf(gen.Uniform(tensor.Float64, 0.5, 2, shape...)) }

// away is |x| in [0.5, 2) with random sign: away from kinks at 0.
func away(shape ...int) *tensor.Tensor {
	m := gen.Uniform(tensor.Float64, 0.5, 2, shape...)
	s := gen.Rand(shape...).LtScalar(0.5).To(tensor.Float64).MulScalar(2).SubScalar(1)
	return leaf(m.Mul(s))
}

func idx(vals []int64, shape ...int) *tensor.Tensor { return tensor.FromSlice(vals, shape...) }

type gcCase struct {
	name string
	in   []*tensor.Tensor
	f    func(x []*tensor.Tensor) *tensor.Tensor
	opt  autograd.GradCheckOptions
}

func u(f func(x *tensor.Tensor) *tensor.Tensor) func([]*tensor.Tensor) *tensor.Tensor {
	return func(x []*tensor.Tensor) *tensor.Tensor { return f(x[0]) }
}

func b(f func(x, y *tensor.Tensor) *tensor.Tensor) func([]*tensor.Tensor) *tensor.Tensor {
	return func(x []*tensor.Tensor) *tensor.Tensor { return f(x[0], x[1]) }
}

func gradCheckCases() []gcCase {
	T := func(x *tensor.Tensor) *tensor.Tensor { return x.Transpose(0, 1) }
	cond := tensor.FromSlice([]bool{true, false, false, true, true, false, true, false, false, true, true, true}, 3, 4)
	cases := []gcCase{
		{name: "clone", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return T(x).Clone() })},
		{name: "to", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.To(tensor.Float32).MulScalar(3).To(tensor.Float64) }),
			opt: autograd.GradCheckOptions{Eps: 1e-3, Atol: 1e-4}}, // float32 rounding in the middle
		{name: "neg", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Neg)},
		{name: "abs", in: []*tensor.Tensor{away(3, 4)}, f: u((*tensor.Tensor).Abs)},
		{name: "sign", in: []*tensor.Tensor{away(3, 4)}, f: u((*tensor.Tensor).Sign)},
		{name: "square", in: []*tensor.Tensor{rnd(4, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return T(x).Square() })},
		{name: "relu", in: []*tensor.Tensor{away(3, 4)}, f: u((*tensor.Tensor).ReLU)},
		{name: "exp", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Exp)},
		{name: "log", in: []*tensor.Tensor{pos(3, 4)}, f: u((*tensor.Tensor).Log)},
		{name: "log1p", in: []*tensor.Tensor{pos(3, 4)}, f: u((*tensor.Tensor).Log1p)},
		{name: "sqrt", in: []*tensor.Tensor{pos(3, 4)}, f: u((*tensor.Tensor).Sqrt)},
		{name: "rsqrt", in: []*tensor.Tensor{pos(3, 4)}, f: u((*tensor.Tensor).Rsqrt)},
		{name: "reciprocal", in: []*tensor.Tensor{away(3, 4)}, f: u((*tensor.Tensor).Reciprocal)},
		{name: "sin", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Sin)},
		{name: "cos", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Cos)},
		{name: "tanh", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Tanh)},
		{name: "sigmoid", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Sigmoid)},
		{name: "gelu", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).GELU)},
		// N(0, 2): the tails too; and a transposed view
		{name: "gelu_tanh", in: []*tensor.Tensor{leaf(gen.Normal(tensor.Float64, 0, 2, 3, 4))}, f: u((*tensor.Tensor).GELUTanh)},
		{name: "gelu_tanh/strided", in: []*tensor.Tensor{rnd(4, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return T(x).GELUTanh() })},
		{name: "silu", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).SiLU)},
		{name: "softplus", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.SoftplusWith(2, 1.5) })},
		{name: "erf", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Erf)},
		{name: "floor", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Floor)},
		{name: "ceil", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Ceil)},
		{name: "round", in: []*tensor.Tensor{rnd(3, 4)}, f: u((*tensor.Tensor).Round)},
		{name: "leaky_relu", in: []*tensor.Tensor{away(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.LeakyReLU(0.2) })},
		// over (−5, 5), both kinks at ±3 and all three pieces
		{name: "hardsigmoid", in: []*tensor.Tensor{leaf(gen.Uniform(tensor.Float64, -5, 5, 3, 4))}, f: u((*tensor.Tensor).Hardsigmoid)},
		{name: "hardswish", in: []*tensor.Tensor{leaf(gen.Uniform(tensor.Float64, -5, 5, 3, 4))}, f: u((*tensor.Tensor).Hardswish)},
		{name: "elu", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.ELU(0.7, 1.3) })},
		{name: "add_scalar", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.AddScalar(1.5) })},
		{name: "mul_scalar", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.MulScalar(-2.5) })},
		{name: "rsub_scalar", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.RSubScalar(2) })},
		{name: "div_scalar", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.DivScalar(0.7) })},
		{name: "rdiv_scalar", in: []*tensor.Tensor{away(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.RDivScalar(2) })},
		{name: "pow_scalar", in: []*tensor.Tensor{pos(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.PowScalar(-1.5) })},
		{name: "pow_scalar/0", in: []*tensor.Tensor{pos(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.PowScalar(0) })},
		{name: "clamp", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Clamp(-0.51, 0.49) })},

		{name: "add/bcast", in: []*tensor.Tensor{rnd(3, 1), rnd(1, 4)}, f: b((*tensor.Tensor).Add)},
		{name: "sub/bcast3", in: []*tensor.Tensor{rnd(2, 3, 4), rnd(4)}, f: b((*tensor.Tensor).Sub)},
		{name: "mul/strided", in: []*tensor.Tensor{rnd(4, 3), rnd(3, 8)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor {
			return T(x).Mul(y.Slice(1, 0, 8, 2))
		})},
		{name: "mul/size1", in: []*tensor.Tensor{rnd(1, 4), rnd(1, 1)}, f: b((*tensor.Tensor).Mul)},
		{name: "mul/self", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Mul(x) })},
		{name: "div", in: []*tensor.Tensor{rnd(3, 4), away(4)}, f: b((*tensor.Tensor).Div)},
		{name: "pow", in: []*tensor.Tensor{pos(3, 4), rnd(3, 1)}, f: b((*tensor.Tensor).Pow)},
		{name: "maximum", in: []*tensor.Tensor{rnd(3, 4), rnd(3, 4)}, f: b((*tensor.Tensor).Maximum)},
		{name: "minimum", in: []*tensor.Tensor{rnd(3, 4), rnd(1, 4)}, f: b((*tensor.Tensor).Minimum)},
		{name: "where", in: []*tensor.Tensor{rnd(3, 4), rnd(4)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor { return tensor.Where(cond, x, y) })},
		{name: "masked_fill", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.MaskedFill(cond, 0.5) })},

		{name: "sum", in: []*tensor.Tensor{rnd(2, 3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Sum(0, 2) })},
		{name: "sum/keepdim", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return T(x).SumKeepDim(1) })},
		{name: "sum/empty", in: []*tensor.Tensor{rnd(0, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Sum(0).AddScalar(0) })},
		{name: "mean", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Mean(1) })},
		{name: "prod", in: []*tensor.Tensor{pos(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Prod(1) })},
		{name: "prod/zeros", in: []*tensor.Tensor{leaf(tensor.FromSlice([]float64{0, 1.5, 2, 0.5, 0, 0, 3, 1, 1.2, 0.7, 2, 0.9}, 3, 4))},
			f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Prod(1) })},
		{name: "amax", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Amax(1) })},
		{name: "amin", in: []*tensor.Tensor{rnd(2, 3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Amin(0, 2) })},
		{name: "max_dim", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { v, _ := x.Max(1); return v })},
		{name: "min_dim", in: []*tensor.Tensor{rnd(4, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { v, _ := T(x).Min(0); return v })},
		{name: "var", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Var(1) })},
		{name: "std", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Std() })},
		{name: "logsumexp", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.LogSumExp(1) })},
		{name: "softmax", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Softmax(1) })},
		{name: "log_softmax", in: []*tensor.Tensor{rnd(4, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return T(x).LogSoftmax(0) })},
		{name: "cumsum", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.CumSum(1) })},

		{name: "matmul/dot", in: []*tensor.Tensor{rnd(4), rnd(4)}, f: b((*tensor.Tensor).MatMul)},
		{name: "matmul/mv", in: []*tensor.Tensor{rnd(3, 4), rnd(4)}, f: b((*tensor.Tensor).MatMul)},
		{name: "matmul/mm_T", in: []*tensor.Tensor{rnd(4, 3), rnd(5, 4)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor { return T(x).MatMul(T(y)) })},
		{name: "matmul/bcast", in: []*tensor.Tensor{rnd(2, 1, 3, 4), rnd(3, 4, 2)}, f: b((*tensor.Tensor).MatMul)},
		{name: "matmul/batch_mat", in: []*tensor.Tensor{rnd(2, 3, 4), rnd(4, 2)}, f: b((*tensor.Tensor).MatMul)},

		{name: "reshape", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return T(x).Reshape(2, 6) })},
		{name: "permute", in: []*tensor.Tensor{rnd(2, 3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Permute(2, 0, 1).MulScalar(1) })},
		{name: "expand", in: []*tensor.Tensor{rnd(3, 1)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Expand(2, 3, 4) })},
		{name: "slice", in: []*tensor.Tensor{rnd(4, 7)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Slice(1, 1, 6, 2) })},
		{name: "slice_scatter", in: []*tensor.Tensor{rnd(4, 5), rnd(2, 5)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor {
			return tensor.SliceScatter(x, y, 0, 0, 4, 2)
		})},
		{name: "flip", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Flip(0, 1) })},
		{name: "repeat", in: []*tensor.Tensor{rnd(2, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor { return x.Repeat(2, 1, 2) })},
		{name: "cat", in: []*tensor.Tensor{rnd(2, 3), rnd(1, 3), rnd(3, 2)}, f: func(x []*tensor.Tensor) *tensor.Tensor {
			return tensor.Cat([]*tensor.Tensor{x[0], x[1], T(x[2])}, 0)
		}},
		{name: "stack", in: []*tensor.Tensor{rnd(2, 3), rnd(2, 3)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor { return tensor.Stack([]*tensor.Tensor{x, y}, 1) })},
		{name: "chunk", in: []*tensor.Tensor{rnd(5, 2)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			c := x.Chunk(2, 0)
			return c[0].Sum().Mul(c[1].Sum())
		})},
		{name: "split/all_used_strided", in: []*tensor.Tensor{rnd(3, 7)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			// pieces of 3, 3, 1 along dim 0 of the transpose; each used
			// nonlinearly so the second derivative flows through every piece
			p := T(x).Split(3, 0)
			return p[0].Square().Sum().Add(p[1].Mul(p[1].Sin()).Sum()).Add(p[2].Exp().Sum())
		})},
		{name: "split/unused", in: []*tensor.Tensor{rnd(8, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			p := x.Split(2, 0) // pieces 1 and 3 get no gradient
			return p[0].Mul(p[2]).Square()
		})},
		{name: "split_sizes/empty_piece", in: []*tensor.Tensor{rnd(2, 6)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			p := x.SplitSizes([]int{2, 0, 3, 1}, 1)
			return tensor.Cat([]*tensor.Tensor{p[3], p[0].Square(), p[1], p[2].Tanh()}, 1)
		})},
		{name: "split/1d", in: []*tensor.Tensor{rnd(5)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			p := x.Chunk(3, 0) // sizes 2, 2, 1
			return p[2].Mul(p[0].Sum()).Add(p[1].Square().Sum())
		})},
		{name: "unbind", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			r := x.Unbind(1)
			return r[0].Mul(r[3]).Add(r[1].Square())
		})},
		{name: "index_select", in: []*tensor.Tensor{rnd(5, 3)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			return x.IndexSelect(0, idx([]int64{4, 0, 4, 2}, 4))
		})},
		{name: "index_add", in: []*tensor.Tensor{rnd(5, 3), rnd(4, 3)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor {
			return x.IndexAdd(0, idx([]int64{1, 3, 1, 0}, 4), y)
		})},
		{name: "gather", in: []*tensor.Tensor{rnd(3, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			return x.Gather(1, idx([]int64{0, 3, 3, 1, 2, 2}, 3, 2))
		})},
		{name: "scatter_add", in: []*tensor.Tensor{rnd(3, 4), rnd(3, 2)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor {
			return x.ScatterAdd(1, idx([]int64{0, 3, 3, 3, 2, 1}, 3, 2), y)
		})},
		// src larger than index: PyTorch 1.13 cannot differentiate this;
		// finite differences can
		{name: "scatter_add/bigsrc", in: []*tensor.Tensor{rnd(4, 3), rnd(3, 4)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor {
			return x.ScatterAdd(0, idx([]int64{3, 0, 1, 1, 1, 2}, 2, 3), y)
		})},
		{name: "unfold", in: []*tensor.Tensor{rnd(2, 2, 5, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			return tensor.Unfold(x, []int{3, 2}, []int{1, 2}, []int{1, 0}, []int{2, 1}).Square()
		})},
		{name: "unfold/1d_strided", in: []*tensor.Tensor{rnd(7, 3, 1)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			return tensor.Unfold(x.Permute(2, 1, 0), []int{3}, nil, []int{1}, []int{2})
		})},
		{name: "fold", in: []*tensor.Tensor{rnd(1, 12, 9)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			return tensor.Fold(x, []int{4, 5}, []int{2, 3}, nil, []int{1}, []int{2, 2})
		})},
		{name: "fold/of_unfold", in: []*tensor.Tensor{rnd(1, 2, 4, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			// Fold∘Unfold multiplies each element by the number of blocks
			// that cover it; squared so the second derivative is not zero
			y := tensor.Fold(tensor.Unfold(x, []int{2}, nil, nil, nil), []int{4, 4}, []int{2}, nil, nil, nil)
			return y.Mul(y)
		})},
		{name: "max_pool", in: []*tensor.Tensor{rnd(2, 2, 5, 4)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			v, _ := tensor.MaxPool(x, []int{3, 2}, []int{2, 1}, []int{1, 1}, nil, true)
			return v.Mul(v)
		})},
		{name: "max_pool/1d_dilated", in: []*tensor.Tensor{rnd(1, 9, 2)}, f: u(func(x *tensor.Tensor) *tensor.Tensor {
			v, _ := tensor.MaxPool(x.Transpose(1, 2), []int{2}, []int{1}, nil, []int{3}, false)
			return v
		})},
		{name: "cross_entropy", in: []*tensor.Tensor{rnd(5, 4)}, f: u(fusedCrossEntropySquared)},
		{name: "mse_loss", in: []*tensor.Tensor{rnd(4, 3), rnd(3, 4)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor { return fusedMSESquared(x, y, true) })},
		{name: "mse_loss/sum", in: []*tensor.Tensor{rnd(3, 4), rnd(3, 4)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor { return fusedMSESquared(x, y, false) })},
		{name: "linear", in: []*tensor.Tensor{rnd(4, 3), rnd(5, 4), rnd(5)}, f: fusedLinearSquared},
		{name: "in_place/add", in: []*tensor.Tensor{rnd(3, 4), rnd(4)}, f: b(func(x, y *tensor.Tensor) *tensor.Tensor {
			return x.MulScalar(1).AddIn(y).MulIn(x)
		})},
	}
	return cases
}

func TestGradCheckEveryOp(t *testing.T) {
	for _, c := range gradCheckCases() {
		t.Run(c.name, func(t *testing.T) {
			opt := c.opt
			opt.GradGrad = true
			if err := autograd.GradCheck(c.f, c.in, opt); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// opsIn collects the op names of every node reachable from t's grad_fn.
func opsIn(t *tensor.Tensor, seen map[string]bool) {
	visited := map[*tensor.Node]bool{}
	var walk func(n *tensor.Node)
	walk = func(n *tensor.Node) {
		if n == nil || visited[n] {
			return
		}
		visited[n] = true
		seen[n.Op()] = true
		for _, e := range n.Next() {
			walk(e.Node)
		}
	}
	walk(t.GradFn())
}

// TestGradCheckCoversEveryOp fails when an op that records a backward
// rule is missing from the gradcheck table, so a new op cannot land
// without its gradient being checked.
func TestGradCheckCoversEveryOp(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range gradCheckCases() {
		opsIn(c.f(c.in), seen)
	}
	// ToDevice needs a second device; the CUDA backend's conformance run
	// checks it.
	skip := map[string]bool{"ToDevice": true}
	for _, op := range tensor.DifferentiableOps() {
		if !seen[op] && !skip[op] {
			t.Errorf("op %s is not exercised by the gradcheck table", op)
		}
	}
}

func TestGradCheckCatchesWrongGradient(t *testing.T) {
	// a Function whose backward is off by a factor must fail the check
	wrong := &autograd.Function{
		Name: "WrongSquare",
		Forward: func(ctx *autograd.Context, in []*tensor.Tensor) []*tensor.Tensor {
			ctx.SaveForBackward(in[0])
			return []*tensor.Tensor{in[0].Square()}
		},
		Backward: func(ctx *autograd.Context, g []*tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{g[0].Mul(ctx.SavedTensors()[0]).MulScalar(2.1)}
		},
	}
	err := autograd.GradCheck(func(x []*tensor.Tensor) *tensor.Tensor { return wrong.Apply(x[0])[0] }, []*tensor.Tensor{rnd(3)})
	if err == nil {
		t.Fatal("GradCheck accepted a wrong gradient")
	}
	if err := autograd.GradCheck(func(x []*tensor.Tensor) *tensor.Tensor { return x[0].Square() }, []*tensor.Tensor{rnd(3).Detach().To(tensor.Float32).SetRequiresGrad(true)}); err == nil {
		t.Fatal("GradCheck accepted float32 inputs")
	}
	_ = math.Pi
}
