package tensor

// SetReLUBackwardFused switches ReLU's one-pass backward kernel on or off
// (off: the composed mask product) and returns the previous setting; for
// tests in tensor_test.
func SetReLUBackwardFused(on bool) bool {
	old := !reluBackwardOff
	reluBackwardOff = !on
	return old
}

// SetActivationBackwardFused switches the one-pass backward kernels of
// Hardsigmoid and Hardswish on or off (off: the composed selects) and
// returns the previous setting; for tests in tensor_test.
func SetActivationBackwardFused(on bool) bool {
	old := !activationBackwardOff
	activationBackwardOff = !on
	return old
}

// SharesStorageWithGrad reports whether t's Grad shares storage with o,
// for tests of the backward engine's buffer hand-over.
func SharesStorageWithGrad(t, o *Tensor) bool {
	g := t.Grad()
	return g != nil && o != nil && g.st == o.st
}

// SetCrossEntropyFused switches FusedCrossEntropy on or off (off: it
// declines and callers compose) and returns the previous setting.
func SetCrossEntropyFused(on bool) bool {
	old := !crossEntropyOff
	crossEntropyOff = !on
	return old
}

// SetLinearFused switches Linear's one-op path on or off (off: MatMul
// and Add) and returns the previous setting.
func SetLinearFused(on bool) bool {
	old := !linearOff
	linearOff = !on
	return old
}

// LeafCopies is how many first gradients of leaves the backward engine
// has copied rather than handed over.
func LeafCopies() int64 { return leafCopies.Load() }

// SetMSELossFused switches FusedMSELoss on or off (off: it declines and
// callers compose; a node it recorded before takes the composed rule)
// and returns the previous setting.
func SetMSELossFused(on bool) bool {
	old := !mseLossOff
	mseLossOff = !on
	return old
}
