// Package nninit fills tensors in place with the initial values that
// torch.nn.init gives: uniform, normal, constant, Xavier/Glorot,
// Kaiming/He, orthogonal and truncated normal. The directory is nn/init,
// but init cannot be a Go package name that is imported, so the package is
// nninit:
//
//	import nninit "github.com/tapir-ml/tapir/nn/init"
//
//	lin := nn.NewLinear(128, 64)
//	nninit.XavierUniform(lin.Weight.Tensor, nninit.CalculateGain("tanh"))
//	nninit.Zeros(lin.Bias.Tensor)
//
// Every function writes into its tensor in place with recording switched
// off for the calling goroutine (torch's init functions run under
// torch.no_grad), so it may be used on parameters that require grad. The
// random ones draw from the generator given as their last argument, or
// from tensor.DefaultGenerator() (seeded by tensor.ManualSeed) when none
// is given. They return the tensor they filled. Programmer errors (too few
// dims for a fan, an unknown nonlinearity or mode) panic with a
// *tensor.Error.
//
// The layers of package nn initialize themselves with these functions, as
// torch's reset_parameters do; this package does not import nn.
package nninit

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

func fail(op string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: "nninit." + op, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

func generator(gen []*tensor.Generator) *tensor.Generator {
	if len(gen) > 0 && gen[0] != nil {
		return gen[0]
	}
	return tensor.DefaultGenerator()
}

// drawType is the dtype random draws are made in for t: t's own when the
// generator can draw it, else Float32 (converted on copy).
func drawType(t *tensor.Tensor) tensor.DType {
	if t.DType() == tensor.Float64 {
		return tensor.Float64
	}
	return tensor.Float32
}

func checkFloat(op string, t *tensor.Tensor) {
	if t == nil {
		fail(op, tensor.ErrShape, "nil tensor")
	}
	if !t.DType().IsFloat() {
		fail(op, tensor.ErrDType, "tensor of dtype %v is not floating point", t.DType())
	}
}

// fill copies src into t with grad recording off and returns t.
func fill(t, src *tensor.Tensor) *tensor.Tensor {
	tensor.WithGradEnabled(false, func() { t.CopyIn(src) })
	return t
}

// Uniform fills t with samples from U(a, b) (torch.nn.init.uniform_;
// torch's defaults are a = 0, b = 1).
func Uniform(t *tensor.Tensor, a, b float64, gen ...*tensor.Generator) *tensor.Tensor {
	checkFloat("uniform", t)
	if !(a <= b) {
		fail("uniform", tensor.ErrShape, "lower bound %v is above upper bound %v", a, b)
	}
	return fill(t, generator(gen).Uniform(drawType(t), a, b, t.Shape()...))
}

// Normal fills t with samples from N(mean, std²) (torch.nn.init.normal_;
// torch's defaults are mean = 0, std = 1).
func Normal(t *tensor.Tensor, mean, std float64, gen ...*tensor.Generator) *tensor.Tensor {
	checkFloat("normal", t)
	if !(std >= 0) {
		fail("normal", tensor.ErrShape, "standard deviation %v is negative", std)
	}
	return fill(t, generator(gen).Normal(drawType(t), mean, std, t.Shape()...))
}

// Constant fills t with v (torch.nn.init.constant_).
func Constant(t *tensor.Tensor, v float64) *tensor.Tensor {
	if t == nil {
		fail("constant", tensor.ErrShape, "nil tensor")
	}
	tensor.WithGradEnabled(false, func() { t.FillIn(v) })
	return t
}

// Zeros fills t with 0 (torch.nn.init.zeros_).
func Zeros(t *tensor.Tensor) *tensor.Tensor { return Constant(t, 0) }

// Ones fills t with 1 (torch.nn.init.ones_).
func Ones(t *tensor.Tensor) *tensor.Tensor { return Constant(t, 1) }

// Eye fills the 2-d tensor t with the identity matrix: ones on the main
// diagonal, zeros elsewhere (torch.nn.init.eye_).
func Eye(t *tensor.Tensor) *tensor.Tensor {
	if t == nil || t.Dim() != 2 {
		fail("eye", tensor.ErrShape, "tensor must be 2-d, not %v", shapeOf(t))
	}
	r, c := t.Size(0), t.Size(1)
	v := make([]float64, r*c)
	for i := range min(r, c) {
		v[i*c+i] = 1
	}
	return fill(t, tensor.FromSlice(v, r, c))
}

func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

// CalculateGain returns the recommended gain for a nonlinearity
// (torch.nn.init.calculate_gain): 1 for "linear", "sigmoid"
// and the "conv*" names, 5/3 for "tanh", √2 for "relu", 3/4 for "selu",
// and √(2/(1+slope²)) for "leaky_relu", whose negative slope is param[0]
// (0.01 when not given).
func CalculateGain(nonlinearity string, param ...float64) float64 {
	switch nonlinearity {
	case "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid":
		return 1
	case "tanh":
		return 5.0 / 3
	case "relu":
		return math.Sqrt(2)
	case "leaky_relu":
		slope := 0.01
		if len(param) > 0 {
			slope = param[0]
		}
		return math.Sqrt(2 / (1 + slope*slope))
	case "selu":
		return 3.0 / 4
	}
	fail("calculate_gain", tensor.ErrShape, "unsupported nonlinearity %q", nonlinearity)
	return 0
}

// FanInAndFanOut returns the fans torch's initializers scale by: for a
// weight of shape [out, in, k…] (Linear's [out, in], a convolution's
// [out, in/groups, kH, kW]), fan_in = in·∏k and fan_out = out·∏k
// (torch.nn.init._calculate_fan_in_and_fan_out). t needs at least 2 dims.
func FanInAndFanOut(t *tensor.Tensor) (fanIn, fanOut int) {
	if t == nil || t.Dim() < 2 {
		fail("fan", tensor.ErrShape, "fan in and fan out need a tensor of at least 2 dims, not %v", shapeOf(t))
	}
	receptive := 1
	for _, s := range t.Shape()[2:] {
		receptive *= s
	}
	return t.Size(1) * receptive, t.Size(0) * receptive
}

// XavierUniform fills t with samples from U(−a, a), a =
// gain·√(6/(fan_in + fan_out)) (Glorot & Bengio 2010;
// torch.nn.init.xavier_uniform_, whose default gain is 1).
func XavierUniform(t *tensor.Tensor, gain float64, gen ...*tensor.Generator) *tensor.Tensor {
	checkFloat("xavier_uniform", t)
	in, out := FanInAndFanOut(t)
	a := gain * math.Sqrt(6/float64(in+out))
	return Uniform(t, -a, a, gen...)
}

// XavierNormal fills t with samples from N(0, std²), std =
// gain·√(2/(fan_in + fan_out)) (torch.nn.init.xavier_normal_, default
// gain 1).
func XavierNormal(t *tensor.Tensor, gain float64, gen ...*tensor.Generator) *tensor.Tensor {
	checkFloat("xavier_normal", t)
	in, out := FanInAndFanOut(t)
	return Normal(t, 0, gain*math.Sqrt(2/float64(in+out)), gen...)
}

// kaimingStd is gain/√fan with fan chosen by mode and gain by
// nonlinearity and a.
func kaimingStd(op string, t *tensor.Tensor, a float64, mode, nonlinearity string) float64 {
	checkFloat(op, t)
	in, out := FanInAndFanOut(t)
	var fan int
	switch mode {
	case "", "fan_in":
		fan = in
	case "fan_out":
		fan = out
	default:
		fail(op, tensor.ErrShape, "mode must be \"fan_in\" or \"fan_out\", not %q", mode)
	}
	if fan == 0 {
		fail(op, tensor.ErrShape, "cannot initialize a tensor of shape %v: its fan is zero", t.Shape())
	}
	if nonlinearity == "" {
		nonlinearity = "leaky_relu"
	}
	return CalculateGain(nonlinearity, a) / math.Sqrt(float64(fan))
}

// KaimingUniform fills t with samples from U(−bound, bound), bound =
// gain·√(3/fan) (He et al. 2015; torch.nn.init.kaiming_uniform_). a is
// the negative slope of the rectifier that follows (used when
// nonlinearity is "leaky_relu"), mode is "fan_in" (the default, for ""),
// which keeps the forward pass's variance, or "fan_out", which keeps the
// backward pass's; nonlinearity "" means torch's default "leaky_relu".
// With a = √5 and fan_in this is the bound 1/√fan_in that torch's Linear
// and Conv layers start from.
func KaimingUniform(t *tensor.Tensor, a float64, mode, nonlinearity string, gen ...*tensor.Generator) *tensor.Tensor {
	bound := math.Sqrt(3) * kaimingStd("kaiming_uniform", t, a, mode, nonlinearity)
	return Uniform(t, -bound, bound, gen...)
}

// KaimingNormal fills t with samples from N(0, std²), std = gain/√fan
// (torch.nn.init.kaiming_normal_); the arguments are KaimingUniform's.
func KaimingNormal(t *tensor.Tensor, a float64, mode, nonlinearity string, gen ...*tensor.Generator) *tensor.Tensor {
	return Normal(t, 0, kaimingStd("kaiming_normal", t, a, mode, nonlinearity), gen...)
}

// TruncNormal fills t with samples from N(mean, std²) truncated to
// [a, b], by inverting the normal CDF on uniform draws as
// torch.nn.init.trunc_normal_ does (torch's defaults: mean 0, std 1,
// a = −2, b = 2).
func TruncNormal(t *tensor.Tensor, mean, std, a, b float64, gen ...*tensor.Generator) *tensor.Tensor {
	checkFloat("trunc_normal", t)
	if !(std > 0) || !(a < b) {
		fail("trunc_normal", tensor.ErrShape, "need std > 0 and a < b, got std %v, [%v, %v]", std, a, b)
	}
	cdf := func(x float64) float64 { return (1 + math.Erf(x/math.Sqrt2)) / 2 }
	l, u := cdf((a-mean)/std), cdf((b-mean)/std)
	v := generator(gen).Uniform(tensor.Float64, 2*l-1, 2*u-1, t.Shape()...).Float64s()
	for i, p := range v {
		x := math.Erfinv(p)*std*math.Sqrt2 + mean
		v[i] = min(max(x, a), b)
	}
	return fill(t, tensor.FromSlice(v, t.Shape()...))
}

// Orthogonal fills t (at least 2-d, viewed as [rows, cols] with rows =
// t.Size(0)) with a random (semi-)orthogonal matrix times gain
// (Saxe et al. 2013; torch.nn.init.orthogonal_, default gain 1): the Q
// of the QR decomposition of a standard normal matrix, with R's diagonal
// made positive so that Q is uniformly (Haar) distributed. When rows ≥
// cols the columns are orthonormal, otherwise the rows are.
func Orthogonal(t *tensor.Tensor, gain float64, gen ...*tensor.Generator) *tensor.Tensor {
	checkFloat("orthogonal", t)
	if t.Dim() < 2 {
		fail("orthogonal", tensor.ErrShape, "only tensors with 2 or more dims are supported, not %v", t.Shape())
	}
	rows := t.Size(0)
	if rows == 0 || t.Numel() == 0 {
		return t
	}
	cols := t.Numel() / rows
	a := generator(gen).Normal(tensor.Float64, 0, 1, rows, cols).Float64s()
	// Work on the tall orientation m×n (m ≥ n), column-major in cols.
	m, n := rows, cols
	at := func(i, j int) float64 { return a[i*cols+j] }
	if rows < cols {
		m, n = cols, rows
		at = func(i, j int) float64 { return a[j*cols+i] }
	}
	q := make([][]float64, n) // q[j] is column j, length m
	for j := range n {
		c := make([]float64, m)
		for i := range m {
			c[i] = at(i, j)
		}
		q[j] = c
	}
	// Modified Gram-Schmidt, run twice for orthogonality to rounding
	// ("twice is enough"). The diagonal of R it implies is positive, which
	// is the sign convention torch enforces on its QR.
	for j := range n {
		for pass := 0; pass < 2; pass++ {
			for k := range j {
				d := dot(q[k], q[j])
				for i := range m {
					q[j][i] -= d * q[k][i]
				}
			}
		}
		nrm := math.Sqrt(dot(q[j], q[j]))
		for i := range m {
			q[j][i] /= nrm
		}
	}
	out := make([]float64, rows*cols)
	for j := range n {
		for i := range m {
			if rows >= cols {
				out[i*cols+j] = gain * q[j][i]
			} else {
				out[j*cols+i] = gain * q[j][i]
			}
		}
	}
	return fill(t, tensor.FromSlice(out, t.Shape()...))
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
