package tensor_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// The fixtures come from testdata/gen_fixtures.py, run with Debian's
// PyTorch. Each case gives inputs (with how to view them), outputs, and
// the gradients of Σ out·cotangent; here the same op runs in Tapir.

type fixTensor struct {
	DType string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []any     `json:"data"`
	View  []any     `json:"view"`
	Name  string    `json:"name"`
	Str   string    `json:"str"`
	RG    bool      `json:"requires_grad"`
	F     []float64 `json:"-"`
}

func (f *fixTensor) floats() []float64 {
	if f.F != nil || len(f.Data) == 0 {
		return f.F
	}
	f.F = make([]float64, len(f.Data))
	for i, v := range f.Data {
		switch x := v.(type) {
		case float64:
			f.F[i] = x
		case bool:
			if x {
				f.F[i] = 1
			}
		case string: // non-finite values
			switch x {
			case "nan":
				f.F[i] = math.NaN()
			case "inf":
				f.F[i] = math.Inf(1)
			case "-inf":
				f.F[i] = math.Inf(-1)
			default:
				panic("bad fixture value " + x)
			}
		}
	}
	return f.F
}

var dtypes = map[string]tensor.DType{
	"float32": tensor.Float32, "float64": tensor.Float64, "int64": tensor.Int64,
	"int32": tensor.Int32, "uint8": tensor.Uint8, "bool": tensor.Bool,
}

// build makes the tensor the fixture describes (exactly: float32 values
// are stored as their float64 images).
func (f *fixTensor) build() *tensor.Tensor {
	v := f.floats()
	var t *tensor.Tensor
	switch f.DType {
	case "float32":
		d := make([]float32, len(v))
		for i, x := range v {
			d[i] = float32(x)
		}
		t = tensor.FromSlice(d, f.Shape...)
	case "float64":
		t = tensor.FromSlice(append([]float64{}, v...), f.Shape...)
	case "bool":
		d := make([]bool, len(v))
		for i, x := range v {
			d[i] = x != 0
		}
		t = tensor.FromSlice(d, f.Shape...)
	default:
		d := make([]int64, len(v))
		for i, x := range v {
			d[i] = int64(x)
		}
		t = tensor.FromSlice(d, f.Shape...).To(dtypes[f.DType])
	}
	return t
}

func applyView(t *tensor.Tensor, view []any) *tensor.Tensor {
	if view == nil {
		return t
	}
	switch view[0].(string) {
	case "T":
		return t.Transpose(-1, -2)
	case "perm":
		return t.Permute(ints(view[1])...)
	case "slice":
		n := ints(view[1:])
		return t.Slice(n[0], n[1], n[2], n[3])
	}
	panic(fmt.Sprint("unknown view ", view))
}

func ints(v any) []int {
	var out []int
	for _, x := range v.([]any) {
		out = append(out, int(x.(float64)))
	}
	return out
}

type args map[string]any

func (a args) f(k string) float64 { return a[k].(float64) }
func (a args) i(k string) int     { return int(a[k].(float64)) }
func (a args) is(k string) []int  { return ints(a[k]) }

type opFn func(in []*tensor.Tensor, a args) []*tensor.Tensor

func one(f func(x *tensor.Tensor, a args) *tensor.Tensor) opFn {
	return func(in []*tensor.Tensor, a args) []*tensor.Tensor { return []*tensor.Tensor{f(in[0], a)} }
}

func two(f func(x, y *tensor.Tensor) *tensor.Tensor) opFn {
	return func(in []*tensor.Tensor, a args) []*tensor.Tensor { return []*tensor.Tensor{f(in[0], in[1])} }
}

func method(f func(*tensor.Tensor) *tensor.Tensor) opFn {
	return one(func(x *tensor.Tensor, _ args) *tensor.Tensor { return f(x) })
}

// fixtureOps maps the generator's op names to Tapir.
var fixtureOps = map[string]opFn{
	"neg": method((*tensor.Tensor).Neg), "abs": method((*tensor.Tensor).Abs), "sign": method((*tensor.Tensor).Sign),
	"exp": method((*tensor.Tensor).Exp), "log": method((*tensor.Tensor).Log), "log1p": method((*tensor.Tensor).Log1p),
	"sqrt": method((*tensor.Tensor).Sqrt), "rsqrt": method((*tensor.Tensor).Rsqrt), "square": method((*tensor.Tensor).Square),
	"reciprocal": method((*tensor.Tensor).Reciprocal), "sin": method((*tensor.Tensor).Sin), "cos": method((*tensor.Tensor).Cos),
	"tanh": method((*tensor.Tensor).Tanh), "sigmoid": method((*tensor.Tensor).Sigmoid), "relu": method((*tensor.Tensor).ReLU),
	"gelu": method((*tensor.Tensor).GELU), "silu": method((*tensor.Tensor).SiLU), "softplus": method((*tensor.Tensor).Softplus),
	"erf": method((*tensor.Tensor).Erf), "floor": method((*tensor.Tensor).Floor), "ceil": method((*tensor.Tensor).Ceil),
	"round":         method((*tensor.Tensor).Round),
	"leaky_relu":    one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.LeakyReLU(a.f("slope")) }),
	"softplus_beta": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.SoftplusWith(a.f("beta"), a.f("threshold")) }),
	"clamp":         one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Clamp(a.f("min"), a.f("max")) }),
	"clamp_min":     one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.ClampMin(a.f("min")) }),
	"add_scalar":    one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.AddScalar(a.f("v")) }),
	"sub_scalar":    one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.SubScalar(a.f("v")) }),
	"rsub_scalar":   one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.RSubScalar(a.f("v")) }),
	"mul_scalar":    one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.MulScalar(a.f("v")) }),
	"div_scalar":    one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.DivScalar(a.f("v")) }),
	"rdiv_scalar":   one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.RDivScalar(a.f("v")) }),
	"pow_scalar":    one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.PowScalar(a.f("v")) }),

	"add": two((*tensor.Tensor).Add), "sub": two((*tensor.Tensor).Sub), "mul": two((*tensor.Tensor).Mul),
	"div": two((*tensor.Tensor).Div), "pow": two((*tensor.Tensor).Pow),
	"maximum": two((*tensor.Tensor).Maximum), "minimum": two((*tensor.Tensor).Minimum),
	"eq": two((*tensor.Tensor).Eq), "ne": two((*tensor.Tensor).Ne), "lt": two((*tensor.Tensor).Lt),
	"le": two((*tensor.Tensor).Le), "gt": two((*tensor.Tensor).Gt), "ge": two((*tensor.Tensor).Ge),
	"where": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.Where(in[0], in[1], in[2])}
	},
	"masked_fill": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].MaskedFill(in[1], a.f("v"))}
	},

	"sum": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		if a["dims"] == nil {
			return x.Sum()
		}
		return x.Sum(a.is("dims")...)
	}),
	"sum_keepdim": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.SumKeepDim(a.is("dims")...) }),
	"mean": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		if a["dims"] == nil {
			return x.Mean()
		}
		return x.Mean(a.is("dims")...)
	}),
	"mean_keepdim": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.MeanKeepDim(a.is("dims")...) }),
	"prod": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		if a["dims"] == nil {
			return x.Prod()
		}
		return x.Prod(a.is("dims")...)
	}),
	"amax": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Amax(a.is("dims")...) }),
	"amin": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Amin(a.is("dims")...) }),
	"var": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		if a["dims"] == nil {
			return x.Var()
		}
		return x.Var(a.is("dims")...)
	}),
	"std": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Std(a.is("dims")...) }),
	"max_dim": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		v, i := in[0].Max(a.i("dim"))
		return []*tensor.Tensor{v, i}
	},
	"min_dim": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		v, i := in[0].Min(a.i("dim"))
		return []*tensor.Tensor{v, i}
	},
	"argmax":      one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.ArgMax(a.i("dim")) }),
	"argmin":      one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.ArgMin(a.i("dim")) }),
	"logsumexp":   one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.LogSumExp(a.i("dim")) }),
	"softmax":     one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Softmax(a.i("dim")) }),
	"log_softmax": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.LogSoftmax(a.i("dim")) }),
	"cumsum":      one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.CumSum(a.i("dim")) }),

	"matmul": two((*tensor.Tensor).MatMul),

	"reshape":     one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Reshape(a.is("shape")...) }),
	"flatten":     one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Flatten(a.i("start"), a.i("end")) }),
	"squeeze":     method(func(x *tensor.Tensor) *tensor.Tensor { return x.Squeeze() }),
	"squeeze_dim": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Squeeze(a.i("dim")) }),
	"unsqueeze":   one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Unsqueeze(a.i("dim")) }),
	"transpose":   one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Transpose(a.i("d0"), a.i("d1")) }),
	"permute":     one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Permute(a.is("dims")...) }),
	"t":           method((*tensor.Tensor).T),
	"expand":      one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Expand(a.is("shape")...) }),
	"narrow": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		return x.Narrow(a.i("dim"), a.i("start"), a.i("length"))
	}),
	"slice": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		return x.Slice(a.i("dim"), a.i("start"), a.i("end"), a.i("step"))
	}),
	"select": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Select(a.i("dim"), a.i("index")) }),
	"chunk":  func(in []*tensor.Tensor, a args) []*tensor.Tensor { return in[0].Chunk(a.i("n"), a.i("dim")) },
	"split":  func(in []*tensor.Tensor, a args) []*tensor.Tensor { return in[0].Split(a.i("size"), a.i("dim")) },
	"flip":   one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Flip(a.is("dims")...) }),
	"repeat": one(func(x *tensor.Tensor, a args) *tensor.Tensor { return x.Repeat(a.is("times")...) }),
	"cat": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.Cat(in, a.i("dim"))}
	},
	"stack": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{tensor.Stack(in, a.i("dim"))}
	},
	"index_select": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].IndexSelect(a.i("dim"), in[1])}
	},
	"gather": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].Gather(a.i("dim"), in[1])}
	},
	"scatter_add": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].ScatterAdd(a.i("dim"), in[1], in[2])}
	},
	"index_add": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].IndexAdd(a.i("dim"), in[1], in[2])}
	},
	"contiguous": method((*tensor.Tensor).Contiguous),
	"clone":      method((*tensor.Tensor).Clone),
	"to_other": method(func(x *tensor.Tensor) *tensor.Tensor {
		if x.DType() == tensor.Float32 {
			return x.To(tensor.Float64)
		}
		return x.To(tensor.Float32)
	}),

	"add_inplace": two(func(x, y *tensor.Tensor) *tensor.Tensor { return x.MulScalar(1).AddIn(y) }),
	"mul_inplace": two(func(x, y *tensor.Tensor) *tensor.Tensor { return x.MulScalar(1).MulIn(y) }),
	"mul_scalar_inplace": one(func(x *tensor.Tensor, a args) *tensor.Tensor {
		return x.MulScalar(1).MulScalarIn(a.f("v"))
	}),
	"relu_inplace": method(func(x *tensor.Tensor) *tensor.Tensor { return x.MulScalar(1).ReLUIn() }),
	"masked_fill_inplace": func(in []*tensor.Tensor, a args) []*tensor.Tensor {
		return []*tensor.Tensor{in[0].MulScalar(1).MaskedFillIn(in[1], a.f("v"))}
	},
}

type opCase struct {
	Name       string       `json:"name"`
	Op         string       `json:"op"`
	Args       args         `json:"args"`
	Inputs     []*fixTensor `json:"inputs"`
	Outputs    []*fixTensor `json:"outputs"`
	Cotangents []*fixTensor `json:"cotangents"`
	Grads      []*fixTensor `json:"grads"`
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// tolerance: the bar, relative to max(|expected|, 1).
func tolFor(dt tensor.DType) float64 {
	if dt == tensor.Float64 {
		return 1e-10
	}
	return 1e-5
}

// compare checks got against the fixture: shape, dtype, and values
// (exactly for integers and bools).
func compare(got *tensor.Tensor, want *fixTensor, what string) error {
	if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape)
	}
	if got.DType() != dtypes[want.DType] {
		return fmt.Errorf("%s: dtype %v, want %v", what, got.DType(), want.DType)
	}
	g, w := got.Float64s(), want.floats()
	tol := tolFor(got.DType())
	if !got.DType().IsFloat() {
		tol = 0
	}
	for i := range w {
		if !closeTo(g[i], w[i], tol) {
			return fmt.Errorf("%s: element %d = %.17g, want %.17g (tol %g)", what, i, g[i], w[i], tol)
		}
	}
	return nil
}

func closeTo(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol*math.Max(math.Abs(b), 1)
}

func TestPyTorchFixtures(t *testing.T) {
	var fx struct {
		Torch string    `json:"torch"`
		Cases []*opCase `json:"cases"`
	}
	loadJSON(t, "ops.json", &fx)
	if len(fx.Cases) < 160 {
		t.Fatalf("only %d fixture cases", len(fx.Cases))
	}
	variants := map[string]bool{}
	for _, c := range fx.Cases {
		variants[c.Name[:len(c.Name)-len("/float32")]] = true
		t.Run(c.Name, func(t *testing.T) {
			fn := fixtureOps[c.Op]
			if fn == nil {
				t.Fatalf("no Tapir mapping for op %q", c.Op)
			}
			bases := make([]*tensor.Tensor, len(c.Inputs))
			in := make([]*tensor.Tensor, len(c.Inputs))
			for i, s := range c.Inputs {
				bases[i] = s.build()
				if bases[i].DType().IsFloat() {
					bases[i].SetRequiresGrad(true)
				}
				in[i] = applyView(bases[i], s.View)
			}
			outs := fn(in, c.Args)
			if len(outs) != len(c.Outputs) {
				t.Fatalf("%d outputs, want %d", len(outs), len(c.Outputs))
			}
			var loss *tensor.Tensor
			for i, o := range outs {
				if err := compare(o, c.Outputs[i], fmt.Sprintf("output %d", i)); err != nil {
					t.Fatal(err)
				}
				if cot := c.Cotangents[i]; cot != nil {
					term := o.Mul(cot.build()).Sum()
					if loss == nil {
						loss = term
					} else {
						loss = loss.Add(term)
					}
				}
			}
			if loss == nil {
				return
			}
			loss.Backward()
			for i, want := range c.Grads {
				if want == nil {
					continue
				}
				g := bases[i].Grad()
				if g == nil {
					g = tensor.ZerosLike(bases[i])
				}
				if err := compare(g, want, fmt.Sprintf("gradient of input %d", i)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if len(variants) < 80 {
		t.Errorf("fixtures cover %d op variants, want at least 80", len(variants))
	}
	t.Logf("%d cases, %d op variants, from torch %s", len(fx.Cases), len(variants), fx.Torch)
}
