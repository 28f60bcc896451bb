package autograd

import "github.com/tapir-ml/tapir/tensor"

// GradOptions tune Grad; the zero value is torch's default.
type GradOptions struct {
	// RetainGraph keeps the graph's saved tensors so it can be
	// differentiated again.
	RetainGraph bool
	// CreateGraph records the backward pass so its results can be
	// differentiated again (gradients of gradients); implies RetainGraph.
	CreateGraph bool
	// AllowUnused returns nil for inputs the outputs do not depend on
	// instead of panicking.
	AllowUnused bool
}

// Grad returns the gradients of outputs with respect to inputs, like
// torch.autograd.grad: gradOutputs holds one gradient per output (the
// vector of a vector–Jacobian product), or is nil for one-element outputs.
// The inputs' Grad fields are not touched. Misuse (an output that does not
// require grad, an unused input without AllowUnused, a gradient of the
// wrong shape) panics with a *tensor.Error; see tensor.Try.
func Grad(outputs, inputs, gradOutputs []*tensor.Tensor, opt GradOptions) []*tensor.Tensor {
	if len(inputs) == 0 {
		panic(&tensor.Error{Op: "grad", Kind: tensor.ErrAutograd, Msg: "no inputs to differentiate with respect to"})
	}
	return tensor.RunBackward(outputs, gradOutputs, inputs, tensor.BackwardOptions{
		RetainGraph: opt.RetainGraph, CreateGraph: opt.CreateGraph, AllowUnused: opt.AllowUnused,
	})
}

// Backward accumulates the gradients of outputs into the Grad of every
// leaf they depend on, like torch.autograd.backward; gradOutputs as in Grad.
func Backward(outputs, gradOutputs []*tensor.Tensor, opt GradOptions) {
	tensor.RunBackward(outputs, gradOutputs, nil, tensor.BackwardOptions{
		RetainGraph: opt.RetainGraph, CreateGraph: opt.CreateGraph,
	})
}

// NoGrad runs f with recording off for the calling goroutine, as a
// `with torch.no_grad():` block: results of ops in f do not require grad,
// and in-place updates of leaves that require grad (optimizer steps) are
// allowed. Other goroutines keep recording; see the package doc.
func NoGrad(f func()) { tensor.WithGradEnabled(false, f) }

// EnableGrad runs f with recording on for the calling goroutine, even
// inside a NoGrad scope (torch.enable_grad).
func EnableGrad(f func()) { tensor.WithGradEnabled(true, f) }

// IsGradEnabled reports whether ops on the calling goroutine record.
func IsGradEnabled() bool { return tensor.GradEnabled() }

// DetectAnomaly switches anomaly detection on or off for the whole
// process (torch.autograd.set_detect_anomaly): while on, the first NaN or
// Inf that a backward op produces panics with a *tensor.Error of kind
// tensor.ErrAnomaly that names the op and the stack of the forward call
// that recorded it. Recording keeps a stack per op, so it is slow; use it
// to find where a NaN comes from.
func DetectAnomaly(on bool) { tensor.SetAnomalyDetection(on) }
