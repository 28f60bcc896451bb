package functional

import (
	"fmt"

	"github.com/tapir-ml/tapir/tensor"
)

// panicOp panics with a *tensor.Error for op, so that tensor.Try recovers
// it like any other programmer error raised by an op.
func panicOp(op string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// ReLU is max(x, 0) (torch.nn.functional.relu).
func ReLU(x *tensor.Tensor) *tensor.Tensor { return x.ReLU() }

// ReLU6 is min(max(x, 0), 6) (torch.nn.functional.relu6). As in torch,
// the gradient is 0 at 0 and at 6.
func ReLU6(x *tensor.Tensor) *tensor.Tensor { return clampOpen(x, 0, 6) }

// clampOpen is x.Clamp(lo, hi) with torch's hardtanh gradient: 1 strictly
// inside (lo, hi) and 0 elsewhere, the bounds included (Clamp's own passes
// the gradient at the bounds).
func clampOpen(x *tensor.Tensor, lo, hi float64) *tensor.Tensor {
	if !x.RequiresGrad() || !tensor.GradEnabled() {
		return x.Clamp(lo, hi) // the same values, in one pass
	}
	inside := x.GtScalar(lo).LogicalAnd(x.LtScalar(hi))
	return tensor.Where(inside, x, x.Detach().Clamp(lo, hi))
}

// LeakyReLU is x where x > 0 and slope·x elsewhere
// (torch.nn.functional.leaky_relu; torch's default slope is 0.01).
func LeakyReLU(x *tensor.Tensor, slope float64) *tensor.Tensor { return x.LeakyReLU(slope) }

// ELU is x where x > 0 and alpha·(exp(x) − 1) elsewhere
// (torch.nn.functional.elu; torch's default alpha is 1).
func ELU(x *tensor.Tensor, alpha float64) *tensor.Tensor { return x.ELU(alpha, 1) }

// The constants of SELU (Klambauer et al., 2017), as torch uses them.
const (
	seluAlpha = 1.6732632423543772848170429916717
	seluScale = 1.0507009873554804934193349852946
)

// SELU is scale·ELU(x, alpha) with the self-normalizing constants
// alpha ≈ 1.6733 and scale ≈ 1.0507 (torch.nn.functional.selu).
func SELU(x *tensor.Tensor) *tensor.Tensor { return x.ELU(seluAlpha, seluScale) }

// GELU is x·Φ(x) with Φ the standard normal CDF
// (torch.nn.functional.gelu). approximate is "" or "none" for the exact
// form, or "tanh" for 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
// (x.GELUTanh(), one pass forward and backward).
func GELU(x *tensor.Tensor, approximate string) *tensor.Tensor {
	switch approximate {
	case "", "none":
		return x.GELU()
	case "tanh":
		return x.GELUTanh()
	}
	panicOp("gelu", tensor.ErrShape, "approximate must be \"none\" or \"tanh\", not %q", approximate)
	return nil
}

// SiLU is x·σ(x), also called swish (torch.nn.functional.silu).
func SiLU(x *tensor.Tensor) *tensor.Tensor { return x.SiLU() }

// Mish is x·tanh(softplus(x)) (torch.nn.functional.mish).
func Mish(x *tensor.Tensor) *tensor.Tensor { return x.Mul(x.Softplus().Tanh()) }

// Sigmoid is 1/(1 + exp(−x)) (torch.sigmoid).
func Sigmoid(x *tensor.Tensor) *tensor.Tensor { return x.Sigmoid() }

// Tanh is the hyperbolic tangent (torch.tanh).
func Tanh(x *tensor.Tensor) *tensor.Tensor { return x.Tanh() }

// Softplus is log(1 + exp(beta·x))/beta, and x itself where
// beta·x > threshold (torch.nn.functional.softplus; torch's defaults are
// beta 1 and threshold 20).
func Softplus(x *tensor.Tensor, beta, threshold float64) *tensor.Tensor {
	return x.SoftplusWith(beta, threshold)
}

// LogSigmoid is log σ(x) = −softplus(−x), computed without overflow
// (torch.nn.functional.logsigmoid).
func LogSigmoid(x *tensor.Tensor) *tensor.Tensor { return softplusExact(x.Neg()).Neg() }

// softplusExact is log(1 + exp(x)) to full float64 precision for any x:
// above 50 the correction exp(−x) is below float64's resolution.
func softplusExact(x *tensor.Tensor) *tensor.Tensor { return x.SoftplusWith(1, 50) }

// Hardtanh clamps x to [min, max] (torch.nn.functional.hardtanh; torch's
// defaults are −1 and 1). As in torch, the gradient is 0 at the bounds.
func Hardtanh(x *tensor.Tensor, min, max float64) *tensor.Tensor {
	if min > max {
		panicOp("hardtanh", tensor.ErrShape, "min %v is greater than max %v", min, max)
	}
	return clampOpen(x, min, max)
}

// Hardsigmoid is ReLU6(x + 3)/6 (torch.nn.functional.hardsigmoid); its
// gradient is 0 at ±3, as torch's.
func Hardsigmoid(x *tensor.Tensor) *tensor.Tensor { return x.Hardsigmoid() }

// Hardswish is x·ReLU6(x + 3)/6 (torch.nn.functional.hardswish). Its
// gradient at ±3 is torch's: x/3 + 1/2.
func Hardswish(x *tensor.Tensor) *tensor.Tensor { return x.Hardswish() }

// Softmax is exp(x)/Σexp(x) along dim (torch.nn.functional.softmax).
func Softmax(x *tensor.Tensor, dim int) *tensor.Tensor { return x.Softmax(dim) }

// LogSoftmax is log(Softmax(x, dim)), computed stably
// (torch.nn.functional.log_softmax).
func LogSoftmax(x *tensor.Tensor, dim int) *tensor.Tensor { return x.LogSoftmax(dim) }
