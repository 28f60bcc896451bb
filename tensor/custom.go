package tensor

// customOp is the backward of a user-defined op (autograd.Function).
type customOp struct {
	name     string
	backward func(saved, gradOutputs []*Tensor) []*Tensor
}

func (c *customOp) backwardFor(n *Node, gs []*Tensor, create bool) []*Tensor {
	sv := n.saves()
	saved := make([]*Tensor, len(sv))
	for i := range sv {
		saved[i] = sv[i].unpack(n, create)
	}
	return c.backward(saved, gs)
}

// RecordFunction is the hook behind autograd.Function: when gradients
// are enabled and some input requires grad, it returns new tensors that
// share the outputs' storage and are attached to a node named name whose
// backward is the given function. backward receives the saved tensors
// (checked against in-place changes, and attached to the graph when the
// backward pass is itself recorded) and one gradient per output (zeros
// for outputs that received none), and returns one gradient per input
// (nil for none). Otherwise it returns outputs unchanged.
func RecordFunction(name string, inputs, outputs, saved []*Tensor, backward func(saved, gradOutputs []*Tensor) []*Tensor) []*Tensor {
	if !needsGrad(inputs...) {
		return outputs
	}
	outs := make([]*Tensor, len(outputs))
	for i, o := range outputs {
		outs[i] = o.Detach()
	}
	n := recordNode(nodeRoom{}, true, 3, opCustom, nil, inputs, outs, saved)
	n.extra().custom = customOp{name: name, backward: backward}
	return outs
}
