package autograd

import "github.com/tapir-ml/tapir/tensor"

// Function is a user-defined differentiable op, like a subclass of
// torch.autograd.Function: Forward computes the outputs (with recording
// off, so whatever it does inside is opaque to autograd) and Backward maps
// the gradients of the outputs to gradients of the inputs. Backward is
// written with tensor ops, so it can itself be differentiated when a
// backward pass runs with CreateGraph.
type Function struct {
	// Name labels the node, e.g. "MyExp" (its grad_fn prints as
	// <MyExpBackward0>).
	Name string
	// Forward returns the outputs for in. Tensors Backward needs go
	// through ctx.SaveForBackward.
	Forward func(ctx *Context, in []*tensor.Tensor) []*tensor.Tensor
	// Backward returns one gradient per input (nil where an input needs
	// none; see ctx.NeedsInputGrad) from one gradient per output.
	Backward func(ctx *Context, gradOutputs []*tensor.Tensor) []*tensor.Tensor
}

// Context carries state from Forward to Backward.
type Context struct {
	saved  []*tensor.Tensor
	live   []*tensor.Tensor // saved, as unpacked for the running backward
	needs  []bool
	values map[string]any
}

// SaveForBackward keeps tensors for Backward. Backward checks they were
// not modified in place in between.
func (c *Context) SaveForBackward(ts ...*tensor.Tensor) { c.saved = append(c.saved, ts...) }

// SavedTensors returns what SaveForBackward kept.
func (c *Context) SavedTensors() []*tensor.Tensor {
	if c.live != nil {
		return c.live
	}
	return c.saved
}

// NeedsInputGrad reports whether input i requires a gradient.
func (c *Context) NeedsInputGrad(i int) bool { return i < len(c.needs) && c.needs[i] }

// Set stores a non-tensor value for Backward.
func (c *Context) Set(key string, v any) {
	if c.values == nil {
		c.values = map[string]any{}
	}
	c.values[key] = v
}

// Get returns a value stored with Set.
func (c *Context) Get(key string) any { return c.values[key] }

// Apply runs the function on in and returns its outputs, recorded as one
// node when some input requires grad.
func (f *Function) Apply(in ...*tensor.Tensor) []*tensor.Tensor {
	ctx := &Context{needs: make([]bool, len(in))}
	for i, t := range in {
		ctx.needs[i] = t.RequiresGrad()
	}
	var outs []*tensor.Tensor
	tensor.WithGradEnabled(false, func() { outs = f.Forward(ctx, in) })
	name := f.Name
	if name == "" {
		name = "Function"
	}
	return tensor.RecordFunction(name, in, outs, ctx.saved, func(saved, gouts []*tensor.Tensor) []*tensor.Tensor {
		ctx.live = saved
		defer func() { ctx.live = nil }()
		return f.Backward(ctx, gouts)
	})
}
