package tensor

import (
	"math"
	"runtime"
	"sync/atomic"

	"github.com/tapir-ml/tapir/backend"
)

// This file is the one place where derivatives live. Each recorded op has
// an entry in ops with its backward rule. Rules are written with tensor
// ops, so when backward runs with CreateGraph the rules themselves are
// recorded and can be differentiated again.

type opID uint16

const (
	opAccumulate opID = iota
	opCustom
	opClone
	opTo
	opToDevice

	opNeg
	opAbs
	opSign
	opSquare
	opReLU
	opExp
	opLog
	opLog1p
	opSqrt
	opRsqrt
	opReciprocal
	opSin
	opCos
	opTanh
	opSigmoid
	opGELU
	opSiLU
	opSoftplus
	opErf
	opFloor
	opCeil
	opRound
	opLeakyReLU
	opHardsigmoid
	opHardswish
	opELU
	opGELUTanh
	opAddScalar
	opMulScalar
	opRSubScalar
	opDivScalar
	opRDivScalar
	opPowScalar
	opClamp

	opAdd
	opSub
	opMul
	opDiv
	opPow
	opMaximum
	opMinimum
	opWhere
	opMaskedFill

	opSum
	opMean
	opProd
	opAmax
	opAmin
	opMaxDim
	opMinDim
	opSoftmax
	opLogSoftmax
	opCumSum

	opMatMul

	opReshape
	opPermute
	opExpand
	opSlice
	opSliceScatter
	opFlip
	opCat
	opSplit
	opIndexSelect
	opIndexAdd
	opGather
	opScatterAdd

	opUnfold
	opFold
	opMaxPool
	opCrossEntropy
	opMSELoss
	opLinear

	numOps
)

// gradCtx is what a rule sees of its node.
type gradCtx struct {
	n      *Node
	create bool
	e      *engine // the pass running the rule, or nil
}

// reusable reports whether the rule may overwrite gradient g in place
// and return it: the pass owns g's buffer and nothing else holds it.
func (c *gradCtx) reusable(g *Tensor) bool { return c.e != nil && c.e.owned(g) }

// saved returns the i-th saved tensor (attached to the graph when
// differentiating the backward pass itself).
func (c *gradCtx) saved(i int) *Tensor { return c.n.saves()[i].unpack(c.n, c.create) }

// needs reports whether input i wants a gradient.
func (c *gradCtx) needs(i int) bool { return c.n.nexts()[i].node != nil }

func (c *gradCtx) inShape(i int) []int { return c.n.shapeOf(&c.n.inMetas()[i]) }

// zerosIn is zeros shaped like input i.
func (c *gradCtx) zerosIn(i int) *Tensor {
	m := c.n.inMetas()[i]
	return zerosOf(m.dtype, m.dev(), c.n.shapeOf(&m))
}

type rule func(c *gradCtx, g []*Tensor) []*Tensor

type opDef struct {
	name string // unique; Node.Op
	grad rule
}

// one-output rules see g[0] as g
func unaryRule(f func(c *gradCtx, g *Tensor) *Tensor) rule {
	return func(c *gradCtx, g []*Tensor) []*Tensor { return []*Tensor{f(c, g[0])} }
}

// elementwise rules whose inputs may have been broadcast reduce each
// gradient back to its input's shape
func binaryRule(fa, fb func(c *gradCtx, g *Tensor) *Tensor) rule {
	return func(c *gradCtx, g []*Tensor) []*Tensor {
		out := make([]*Tensor, 2)
		if c.needs(0) {
			out[0] = sumToShape(fa(c, g[0]), c.inShape(0))
		}
		if c.needs(1) {
			out[1] = sumToShape(fb(c, g[0]), c.inShape(1))
		}
		return out
	}
}

func zeroRule(c *gradCtx, g *Tensor) *Tensor { return ZerosLike(g) }

// scalarAttr is the attrs of ops with scalar arguments.
type scalarAttr struct{ A, B float64 }

// reduceAttr is the attrs of reductions.
type reduceAttr struct {
	Dims    []int
	KeepDim bool
}

// dimAttr is the attrs of ops along one dim.
type dimAttr struct{ Dim int }

// sliceAttr is the attrs of Slice and SliceScatter.
type sliceAttr struct{ Dim, Start, End, Step int }

// splitAttr is the attrs of Split: the dim and the pieces' sizes.
type splitAttr struct {
	Dim   int
	Sizes []int
}

// catAttr is the attrs of Cat.
type catAttr struct {
	Dim   int
	Sizes []int
}

var ops [numOps]opDef

func init() {
	ops = [numOps]opDef{
		opAccumulate: {"AccumulateGrad", nil}, // handled by the engine
		opCustom:     {"Custom", nil},         // the Function's own Backward
		opClone:      {"Clone", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g })},
		opTo: {"To", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return g.To(c.n.attrs.(DType))
		})},
		opToDevice: {"ToDevice", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return g.ToDevice(c.n.attrs.(Device))
		})},

		opNeg:  {"Neg", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Neg() })},
		opAbs:  {"Abs", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(c.saved(0).Sign()) })},
		opSign: {"Sign", unaryRule(zeroRule)},
		opSquare: {"Square", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return g.Mul(c.saved(0)).MulScalar(2)
		})},
		opReLU: {"Relu", unaryRule(reluGrad)},
		opExp:  {"Exp", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(c.saved(0)) })},
		opLog:  {"Log", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Div(c.saved(0)) })},
		opLog1p: {"Log1p", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return g.Div(c.saved(0).AddScalar(1))
		})},
		opSqrt: {"Sqrt", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return g.Div(c.saved(0).MulScalar(2))
		})},
		opRsqrt: {"Rsqrt", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			y := c.saved(0) // d/dx x^-1/2 = -1/2 y³
			return g.Mul(y.Mul(y).Mul(y)).MulScalar(-0.5)
		})},
		opReciprocal: {"Reciprocal", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			y := c.saved(0)
			return g.Mul(y.Mul(y)).Neg()
		})},
		opSin: {"Sin", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(c.saved(0).Cos()) })},
		opCos: {"Cos", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(c.saved(0).Sin()).Neg() })},
		opTanh: {"Tanh", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// g·(1 − y²) from the saved output y
			if d := fusedActivationGrad(c, g, backend.Tanh, backend.Scalars{}); d != nil {
				return d
			}
			y := c.saved(0)
			return g.Mul(y.Mul(y).RSubScalar(1))
		})},
		opSigmoid: {"Sigmoid", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// g·(1 − y)·y from the saved output y
			if d := fusedActivationGrad(c, g, backend.Sigmoid, backend.Scalars{}); d != nil {
				return d
			}
			y := c.saved(0)
			return g.Mul(y.RSubScalar(1)).Mul(y)
		})},
		opGELU: {"Gelu", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// Φ(x) + x·φ(x)
			if d := fusedActivationGrad(c, g, backend.GELU, backend.Scalars{}); d != nil {
				return d
			}
			x := c.saved(0)
			cdf := x.MulScalar(1 / math.Sqrt2).Erf().AddScalar(1).MulScalar(0.5)
			pdf := x.Square().MulScalar(-0.5).Exp().MulScalar(1 / math.Sqrt(2*math.Pi))
			return g.Mul(cdf.Add(x.Mul(pdf)))
		})},
		opSiLU: {"Silu", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// σ(x)·(1 + x·(1−σ(x)))
			if d := fusedActivationGrad(c, g, backend.SiLU, backend.Scalars{}); d != nil {
				return d
			}
			x := c.saved(0)
			s := x.Sigmoid()
			return g.Mul(s.Mul(x.Mul(s.RSubScalar(1)).AddScalar(1)))
		})},
		opSoftplus: {"Softplus", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(scalarAttr) // beta, threshold
			x := c.saved(0)
			s := x.MulScalar(a.A).Sigmoid()
			return g.Mul(Where(x.MulScalar(a.A).GtScalar(a.B), OnesLike(s), s))
		})},
		opErf: {"Erf", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			x := c.saved(0)
			return g.Mul(x.Square().Neg().Exp().MulScalar(2 / math.Sqrt(math.Pi)))
		})},
		opFloor: {"Floor", unaryRule(zeroRule)},
		opCeil:  {"Ceil", unaryRule(zeroRule)},
		opRound: {"Round", unaryRule(zeroRule)},
		opLeakyReLU: {"LeakyRelu", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			slope := c.n.attrs.(scalarAttr).A
			if d := fusedActivationGrad(c, g, backend.LeakyReLU, backend.Scalars{A: slope}); d != nil {
				return d
			}
			x := c.saved(0)
			return g.Mul(Where(x.GtScalar(0), OnesLike(x), FullLike(x, slope)))
		})},
		opHardsigmoid: {"Hardsigmoid", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return activationGrad(c, g, backend.Hardsigmoid)
		})},
		opHardswish: {"Hardswish", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return activationGrad(c, g, backend.Hardswish)
		})},
		opELU: {"Elu", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// scale for x > 0, alpha·scale·eˣ elsewhere (0 included, as torch)
			a := c.n.attrs.(scalarAttr) // alpha, scale
			if d := fusedActivationGrad(c, g, backend.ELU, backend.Scalars{A: a.A, B: a.B}); d != nil {
				return d
			}
			x := c.saved(0)
			neg := x.ClampMax(0).Exp().MulScalar(a.A * a.B)
			return g.Mul(Where(x.GtScalar(0), fullOf(x.DType(), x.Device(), a.B, nil), neg))
		})},
		opGELUTanh: {"GeluTanh", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			if d := fusedActivationGrad(c, g, backend.GELUTanh, backend.Scalars{}); d != nil {
				return d
			}
			return g.Mul(geluTanhDeriv(c.saved(0)))
		})},
		opAddScalar:  {"AddScalar", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g })},
		opMulScalar:  {"MulScalar", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.MulScalar(c.n.attrs.(scalarAttr).A) })},
		opRSubScalar: {"RsubScalar", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Neg() })},
		opDivScalar:  {"DivScalar", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.DivScalar(c.n.attrs.(scalarAttr).A) })},
		opRDivScalar: {"RdivScalar", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// d/dx a/x = −a/x²
			x := c.saved(0)
			return g.Div(x.Square()).MulScalar(-c.n.attrs.(scalarAttr).A)
		})},
		opPowScalar: {"PowScalar", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			p := c.n.attrs.(scalarAttr).A
			if p == 0 {
				return ZerosLike(g)
			}
			return g.Mul(c.saved(0).PowScalar(p - 1)).MulScalar(p)
		})},
		opClamp: {"Clamp", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(scalarAttr)
			x := c.saved(0)
			in := x.GeScalar(a.A).LogicalAnd(x.LeScalar(a.B))
			return g.Mul(in.To(g.DType()))
		})},

		opAdd: {"Add", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor { return g },
			func(c *gradCtx, g *Tensor) *Tensor { return g })},
		opSub: {"Sub", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor { return g },
			func(c *gradCtx, g *Tensor) *Tensor { return g.Neg() })},
		opMul: {"Mul", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(c.saved(1)) },
			func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(c.saved(0)) })},
		opDiv: {"Div", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor { return g.Div(c.saved(1)) },
			func(c *gradCtx, g *Tensor) *Tensor {
				a, b := c.saved(0), c.saved(1)
				return g.Mul(a).Div(b.Square()).Neg()
			})},
		opPow: {"Pow", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor {
				a, b := c.saved(0), c.saved(1)
				d := b.Mul(a.Pow(b.SubScalar(1)))
				return g.Mul(Where(b.EqScalar(0), ZerosLike(d), d))
			},
			func(c *gradCtx, g *Tensor) *Tensor {
				// a^b·ln a, taken as 0 where a = 0 and b ≥ 0 (torch's choice)
				a, b := c.saved(0), c.saved(1)
				d := a.Pow(b).Mul(a.Log())
				return g.Mul(Where(a.EqScalar(0).LogicalAnd(b.GeScalar(0)), ZerosLike(d), d))
			})},
		opMaximum: {"Maximum", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(tieMask(c.saved(0), c.saved(1), g.DType())) },
			func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(tieMask(c.saved(1), c.saved(0), g.DType())) })},
		opMinimum: {"Minimum", binaryRule(
			func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(tieMask(c.saved(1), c.saved(0), g.DType())) },
			func(c *gradCtx, g *Tensor) *Tensor { return g.Mul(tieMask(c.saved(0), c.saved(1), g.DType())) })},
		opWhere: {"Where", func(c *gradCtx, g []*Tensor) []*Tensor {
			cond := c.saved(0)
			out := make([]*Tensor, 3)
			z := zerosOf(g[0].DType(), g[0].Device(), nil)
			if c.needs(1) {
				out[1] = sumToShape(Where(cond, g[0], z), c.inShape(1))
			}
			if c.needs(2) {
				out[2] = sumToShape(Where(cond, z, g[0]), c.inShape(2))
			}
			return out
		}},
		opMaskedFill: {"MaskedFill", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return g.MaskedFill(c.saved(0), 0)
		})},

		opSum: {"Sum", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(reduceAttr)
			return unsqueezeDims(g, a.Dims, a.KeepDim, c.inShape(0)).Expand(c.inShape(0)...)
		})},
		opMean: {"Mean", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(reduceAttr)
			in := c.inShape(0)
			n := 1
			for _, d := range a.Dims {
				n *= in[d]
			}
			return unsqueezeDims(g, a.Dims, a.KeepDim, in).Expand(in...).DivScalar(float64(n))
		})},
		opProd: {"Prod", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(reduceAttr)
			in := c.inShape(0)
			x, y := c.saved(0), c.saved(1)
			g = unsqueezeDims(g, a.Dims, a.KeepDim, in)
			if !hasZero(x) {
				return g.Mul(unsqueezeDims(y, a.Dims, a.KeepDim, in).Div(x))
			}
			return g.Mul(prodOthers(x, a.Dims))
		})},
		opAmax: {"Amax", unaryRule(extremeRule)},
		opAmin: {"Amin", unaryRule(extremeRule)},
		opMaxDim: {"Max", func(c *gradCtx, g []*Tensor) []*Tensor {
			return []*Tensor{indexedRule(c, g[0])}
		}},
		opMinDim: {"Min", func(c *gradCtx, g []*Tensor) []*Tensor {
			return []*Tensor{indexedRule(c, g[0])}
		}},
		opSoftmax: {"Softmax", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// y·(g − Σ g·y)
			y := c.saved(0)
			d := c.n.attrs.(dimAttr).Dim
			if r := softmaxBackwardFused(c, y, g, d, false); r != nil {
				return r
			}
			return y.Mul(g.Sub(g.Mul(y).SumKeepDim(d)))
		})},
		opLogSoftmax: {"LogSoftmax", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			// g − softmax·Σ g
			y := c.saved(0)
			d := c.n.attrs.(dimAttr).Dim
			if r := softmaxBackwardFused(c, y, g, d, true); r != nil {
				return r
			}
			return g.Sub(y.Exp().Mul(g.SumKeepDim(d)))
		})},
		opCumSum: {"Cumsum", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			d := c.n.attrs.(dimAttr).Dim
			return g.Flip(d).CumSum(d).Flip(d)
		})},

		opMatMul: {"Mm", func(c *gradCtx, g []*Tensor) []*Tensor {
			// Each gradient takes its operand's layout: for an operand
			// stored column-major (a transposed view, as Linear's
			// weight.T()), the transposed product is computed and viewed
			// back, so the gradient reaching the leaf through the
			// transpose is contiguous and is kept without a copy (torch's
			// mm backward does the same). The products and their order
			// of summation are the same either way.
			a, b := c.saved(0), c.saved(1)
			out := make([]*Tensor, 2)
			if c.needs(0) {
				if colMajor(a) {
					out[0] = moved(mm(b, g[0].Transpose(-1, -2)), func(p *Tensor) *Tensor { return p.Transpose(-1, -2) })
				} else {
					out[0] = mm(g[0], b.Transpose(-1, -2))
				}
			}
			if c.needs(1) {
				if colMajor(b) {
					out[1] = moved(mm(g[0].Transpose(-1, -2), a), func(p *Tensor) *Tensor { return p.Transpose(-1, -2) })
				} else {
					out[1] = mm(a.Transpose(-1, -2), g[0])
				}
			}
			return out
		}},

		opReshape: {"Reshape", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Reshape(c.inShape(0)...) })},
		opPermute: {"Permute", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			p := c.n.attrs.([]int)
			inv := make([]int, len(p))
			for i, d := range p {
				inv[d] = i
			}
			return g.Permute(inv...)
		})},
		opExpand: {"Expand", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return sumToShape(g, c.inShape(0)) })},
		opSlice: {"Slice", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(sliceAttr)
			return SliceScatter(c.zerosIn(0), g, a.Dim, a.Start, a.End, a.Step)
		})},
		opSliceScatter: {"SliceScatter", func(c *gradCtx, g []*Tensor) []*Tensor {
			a := c.n.attrs.(sliceAttr)
			out := make([]*Tensor, 2)
			if c.needs(0) {
				out[0] = SliceScatter(g[0], c.zerosIn(1), a.Dim, a.Start, a.End, a.Step)
			}
			if c.needs(1) {
				out[1] = g[0].Slice(a.Dim, a.Start, a.End, a.Step)
			}
			return out
		}},
		opFlip: {"Flip", unaryRule(func(c *gradCtx, g *Tensor) *Tensor { return g.Flip(c.n.attrs.([]int)...) })},
		opCat: {"Cat", func(c *gradCtx, g []*Tensor) []*Tensor {
			a := c.n.attrs.(catAttr)
			out := make([]*Tensor, len(a.Sizes))
			off := 0
			for i, s := range a.Sizes {
				if c.needs(i) {
					out[i] = g[0].Narrow(a.Dim, off, s)
				}
				off += s
			}
			return out
		}},
		opSplit: {"Split", func(c *gradCtx, g []*Tensor) []*Tensor {
			// the engine hands zeros to pieces that got no gradient
			return []*Tensor{Cat(g, c.n.attrs.(splitAttr).Dim)}
		}},
		opIndexSelect: {"IndexSelect", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return c.zerosIn(0).IndexAdd(c.n.attrs.(dimAttr).Dim, c.saved(0), g)
		})},
		opIndexAdd: {"IndexAdd", func(c *gradCtx, g []*Tensor) []*Tensor {
			return []*Tensor{g[0], g[0].IndexSelect(c.n.attrs.(dimAttr).Dim, c.saved(0))}
		}},
		opGather: {"Gather", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return c.zerosIn(0).ScatterAdd(c.n.attrs.(dimAttr).Dim, c.saved(0), g)
		})},
		opScatterAdd: {"ScatterAdd", func(c *gradCtx, g []*Tensor) []*Tensor {
			out := []*Tensor{g[0], nil}
			if c.needs(1) {
				gs := g[0].Gather(c.n.attrs.(dimAttr).Dim, c.saved(0))
				out[1] = padTo(gs, c.inShape(1))
			}
			return out
		}},

		// Unfold and Fold are linear and each other's adjoint
		opUnfold: {"Unfold", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			a := c.n.attrs.(windowAttr)
			return foldW(g, a.Size, a.Window)
		})},
		opFold: {"Fold", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return unfoldW(g, c.n.attrs.(windowAttr).Window)
		})},
		opMaxPool: {"MaxPool", unaryRule(func(c *gradCtx, g *Tensor) *Tensor {
			return maxPoolGrad(g, c.saved(0), c.inShape(0))
		})},
		opCrossEntropy: {"CrossEntropy", unaryRule(crossEntropyGrad)},
		opMSELoss:      {"MseLoss", mseLossGrad},
		opLinear:       {"Linear", linearGrad},
	}
}

// torchNames are the node names PyTorch prints for ops Tapir names
// differently (a Python scalar is a wrapped tensor there, so x*2 is Mul).
var torchNames = map[opID]string{
	opAddScalar: "AddBackward0", opMulScalar: "MulBackward0", opDivScalar: "DivBackward0",
	opPowScalar: "PowBackward0", opRSubScalar: "RsubBackward1", opClamp: "ClampBackward1",
	opTo: "ToCopyBackward0", opReshape: "ViewBackward0", opMatMul: "MmBackward0",
	opUnfold: "Im2ColBackward0", opFold: "Col2ImBackward0", opMaxPool: "MaxPool2DWithIndicesBackward0",
	opLinear: "AddmmBackward0", opCrossEntropy: "NllLossBackward0", opGELUTanh: "GeluBackward0",
}

// The constants of GELU's tanh form: β = √(2/π) and κ.
const (
	geluTanhBeta  = 0.7978845608028654
	geluTanhKappa = 0.044715
)

// geluTanhDeriv is the derivative of GELU's tanh form at x, composed in
// the order of torch's gelu_backward (approximate="tanh"): with
// t = tanh(β·(x + κ·x³)),
//
//	½·(1 + t) + (½·x)·(1 − t²)·β·(1 + 3κ·x²).
//
// It is the rule where the backend has no one-pass kernel and when the
// backward pass is recorded (double backward), and the tests' oracle.
// For x ≪ 0 it inherits torch's cancellation in 1 + t and 1 − t², an
// error of a few units of 2⁻²⁴ (float32) times 1 + |x|³ absolute.
func geluTanhDeriv(x *Tensor) *Tensor {
	x2 := x.Mul(x)
	t := x.Add(x2.Mul(x).MulScalar(geluTanhKappa)).MulScalar(geluTanhBeta).Tanh()
	left := t.AddScalar(1).MulScalar(0.5)
	inner := x2.MulScalar(3 * geluTanhKappa).AddScalar(1).MulScalar(geluTanhBeta)
	right := x.MulScalar(0.5).Mul(t.Mul(t).RSubScalar(1)).Mul(inner)
	return left.Add(right)
}

// reluGrad is ReLU's gradient as torch's threshold_backward selects it:
// 0 where ReLU's output y is ≤ 0 (so none at the kink, and none from an
// infinite or NaN g there), g elsewhere (a NaN y passes g). With a
// backend that has the kernel (backend.ReLUBackwarder) and the backward
// pass not itself recorded, the kernel writes it in one call, into g's
// own buffer when the pass owns that. Otherwise it is a Where; recorded,
// the condition is constant, so the rule's own derivative sends gradient
// to g only, which is right almost everywhere.
func reluGrad(c *gradCtx, g *Tensor) *Tensor {
	y := c.saved(0)
	if k, ok := g.be().(backend.ReLUBackwarder); ok && !reluBackwardOff {
		if d := fusedGrad(c, "relu_backward", g, y, func(dst, g, y backend.View) bool {
			k.ReLUBackward(dst, g, y)
			return true
		}); d != nil {
			return d
		}
	}
	return Where(y.LeScalar(0), zerosOf(g.DType(), g.Device(), nil), g)
}

// fusedGrad runs a one-pass gradient kernel, run(dst, g, y), of an
// elementwise op whose saved tensor y has g's shape, when the pass is not
// recorded and g is float: over contiguous operands, into g itself where
// the engine owns it (a fresh copy of a strided g is owned too), else
// into a new tensor. It returns nil where it does not apply or run
// reports false.
func fusedGrad(c *gradCtx, name string, g, y *Tensor, run func(dst, g, y backend.View) bool) *Tensor {
	if c.create || !sameShape(y.shape, g.shape) || y.Device() != g.Device() ||
		y.DType() != g.DType() || (g.DType() != Float32 && g.DType() != Float64) {
		return nil
	}
	y = y.Contiguous()
	dst := g
	switch {
	case !g.IsContiguous():
		g = g.Contiguous() // a fresh copy, to overwrite
		dst = g
	case !c.reusable(g):
		dst = emptyLike(name, g, g.DType())
	}
	ok := run(dst.view(), g.view(), y.view())
	runtime.KeepAlive(g)
	runtime.KeepAlive(y)
	if !ok {
		return nil
	}
	if dst == g {
		dst.st.version.Add(1)
	}
	return dst
}

// activationBackwardOff makes the activations' gradients compose even
// where the backend has the one-pass kernel (fusedActivationGrad); tests
// set it to compare the two.
var activationBackwardOff bool

// fusedActivationGrad is the gradient of the unary op (scalars p) at its
// saved tensor (its input; its output for Sigmoid and Tanh) from the
// backend's one-pass kernel
// (backend.ActivationBackwarder), or nil where fusedGrad does not apply
// or the backend has none for op.
func fusedActivationGrad(c *gradCtx, g *Tensor, op backend.UnaryOp, p backend.Scalars) *Tensor {
	k, ok := g.be().(backend.ActivationBackwarder)
	if !ok || activationBackwardOff {
		return nil
	}
	return fusedGrad(c, op.String()+"_backward", g, c.saved(0), func(dst, g, x backend.View) bool {
		return k.ActivationBackward(op, dst, g, x, p)
	})
}

// activationGrad is the gradient of Hardsigmoid or Hardswish (op) at the
// saved input, with torch's values at the kinks: one pass where the
// backend has it, else composed from comparisons and Where, which can be
// differentiated again (their second derivative is 1/3 on hardswish's
// middle piece, 0 elsewhere).
func activationGrad(c *gradCtx, g *Tensor, op backend.UnaryOp) *Tensor {
	if d := fusedActivationGrad(c, g, op, backend.Scalars{}); d != nil {
		return d
	}
	x := c.saved(0)
	zero := zerosOf(g.DType(), g.Device(), nil)
	if op == backend.Hardsigmoid {
		return Where(x.GtScalar(-3).LogicalAnd(x.LtScalar(3)), g.DivScalar(6), zero)
	}
	mid := g.Mul(x.DivScalar(3).AddScalar(0.5))
	return Where(x.LtScalar(-3), zero, Where(x.LeScalar(3), mid, g))
}

// reluBackwardOff makes reluGrad compose the gradient even where the
// backend has the one-pass kernel; tests set it to compare the two.
var reluBackwardOff bool

// crossEntropyGrad is FusedCrossEntropy's gradient: for each kept row
// the softmax of the logits less the one-hot target, times g (divided by
// the number of kept rows for the mean); 0 for ignored rows. The kernel
// writes it in one pass; recorded (or without the kernel) it is composed
// from differentiable ops, Softmax and a scattered one-hot, so that it
// can be differentiated again.
func crossEntropyGrad(c *gradCtx, g *Tensor) *Tensor {
	a := c.n.attrs.(crossEntropyAttr)
	if a.Kept == 0 {
		return c.zerosIn(0) // every target ignored: the loss is constant
	}
	x, t := c.saved(0), c.saved(1)
	if !c.create {
		if k, ok := x.be().(backend.CrossEntropier); ok {
			lse := c.saved(2)
			scale := g.Item()
			if a.Mean {
				scale /= float64(a.Kept)
			}
			dx := emptyLike("cross_entropy backward", x, x.DType())
			k.CrossEntropyBackward(dx.view(), x.view(), lse.view(), t.view(), a.Ignore, scale)
			runtime.KeepAlive(x)
			runtime.KeepAlive(t)
			runtime.KeepAlive(lse)
			return dx
		}
	}
	dt := x.DType()
	keep := t.NeScalar(float64(a.Ignore))
	safe := Where(keep, t, zerosOf(Int64, t.Device(), nil)).Unsqueeze(1)
	keepF := keep.To(dt).Unsqueeze(1)
	onehot := zerosOf(dt, x.Device(), x.shape).ScatterAdd(1, safe, keepF)
	if a.Mean {
		g = g.DivScalar(float64(a.Kept))
	}
	return x.Softmax(1).Mul(keepF).Sub(onehot).Mul(g)
}

// tieMask is 1 where a wins, ½ where a and b tie, 0 elsewhere: how torch
// splits the gradient of maximum/minimum.
func tieMask(a, b *Tensor, dt DType) *Tensor {
	return a.Gt(b).To(dt).Add(a.Eq(b).To(dt).MulScalar(0.5))
}

// extremeRule spreads the gradient of amax/amin evenly over the elements
// that reach the extreme.
func extremeRule(c *gradCtx, g *Tensor) *Tensor {
	a := c.n.attrs.(reduceAttr)
	x, y := c.saved(0), c.saved(1)
	in := c.inShape(0)
	y = unsqueezeDims(y, a.Dims, a.KeepDim, in)
	g = unsqueezeDims(g, a.Dims, a.KeepDim, in)
	mask := x.Eq(y).To(g.DType())
	return g.Div(mask.SumKeepDim(a.Dims...)).Mul(mask)
}

// indexedRule routes the gradient of max/min along a dim to the index
// each value came from.
func indexedRule(c *gradCtx, g *Tensor) *Tensor {
	a := c.n.attrs.(reduceAttr)
	idx := c.saved(0)
	in := c.inShape(0)
	g = unsqueezeDims(g, a.Dims, a.KeepDim, in)
	idx = unsqueezeDims(idx, a.Dims, a.KeepDim, in)
	return c.zerosIn(0).ScatterAdd(a.Dims[0], idx, g)
}

func hasZero(x *Tensor) bool { return x.Detach().EqScalar(0).Sum().Item() > 0 }

// prodOthers is, for each element, the product of the other elements of
// its reduction group, computed directly (the group is replicated n times
// with the diagonal set to 1) so it is exact and differentiable where the
// group holds zeros. It costs n² per group of n; Prod's backward uses it
// only when the input has zeros.
func prodOthers(x *Tensor, dims []int) *Tensor {
	var kept, red []int
	isRed := map[int]bool{}
	for _, d := range dims {
		isRed[d] = true
	}
	for d := 0; d < x.Dim(); d++ {
		if isRed[d] {
			red = append(red, d)
		} else {
			kept = append(kept, d)
		}
	}
	perm := append(append([]int(nil), kept...), red...)
	xp := x.Permute(perm...)
	n := 1
	lead := make([]int, 0, len(kept)+2)
	for _, d := range kept {
		lead = append(lead, x.shape[d])
	}
	for _, d := range red {
		n *= x.shape[d]
	}
	flat := xp.Reshape(append(append([]int(nil), lead...), n)...)
	rep := flat.Unsqueeze(-2).Expand(append(append([]int(nil), lead...), n, n)...)
	diag := Eye(n).To(Bool).ToDevice(x.Device())
	others := Where(diag, OnesLike(rep), rep).Prod(-1)
	back := others.Reshape(xp.shape...)
	inv := make([]int, len(perm))
	for i, d := range perm {
		inv[d] = i
	}
	return back.Permute(inv...)
}

// unsqueezeDims puts back the reduced dims of a reduction result so it
// broadcasts against the input.
func unsqueezeDims(g *Tensor, dims []int, keepDim bool, in []int) *Tensor {
	if keepDim || len(in) == g.Dim() {
		return g
	}
	sh := append([]int(nil), in...)
	for _, d := range dims {
		sh[d] = 1
	}
	return g.Reshape(sh...)
}

// sumToShape sums g over the dims that broadcasting added or expanded, so
// the result has shape.
func sumToShape(g *Tensor, shape []int) *Tensor {
	if sameShape(g.shape, shape) {
		return g
	}
	lead := g.Dim() - len(shape)
	var dims []int
	for i := 0; i < g.Dim(); i++ {
		if i < lead || (shape[i-lead] == 1 && g.shape[i] != 1) {
			dims = append(dims, i)
		}
	}
	if len(dims) == 0 {
		return g.Reshape(shape...)
	}
	return moved(g.SumKeepDim(dims...), func(s *Tensor) *Tensor { return s.Reshape(shape...) })
}

// moved returns view(t) for a tensor t that the caller made and drops,
// which nothing else has seen: the view takes t's place in its storage's
// count of tensors (storage.views), so the backward engine can still tell
// that the buffer has no other holder and hand it to a leaf's Grad or
// release it instead of copying. It must not be used on a tensor that
// anything else may hold (a rule's input, a saved tensor).
func moved(t *Tensor, view func(*Tensor) *Tensor) *Tensor {
	v := view(t)
	if v != t && v.st == t.st {
		atomic.AddInt32(&t.st.views, -1)
	}
	return v
}

// padTo embeds g at the start of a zero tensor of a larger shape, one
// dim at a time.
func padTo(g *Tensor, shape []int) *Tensor {
	for d := range shape {
		if g.shape[d] == shape[d] {
			continue
		}
		sh := g.Shape()
		sh[d] = shape[d]
		g = SliceScatter(zerosOf(g.DType(), g.Device(), sh), g, d, 0, g.shape[d], 1)
	}
	return g
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// DifferentiableOps lists the names of every op that records a backward
// rule (AccumulateGrad and Custom excluded), for tests and tools that must
// cover them all.
func DifferentiableOps() []string {
	var out []string
	for id := opClone; id < numOps; id++ {
		out = append(out, ops[id].name)
	}
	return out
}

// hasRule reports whether op id has a backward rule (for the test that
// every op does).
func hasRule(id opID) bool { return ops[id].grad != nil }
