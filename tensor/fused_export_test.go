package tensor

// SetLSTMFused switches FusedLSTM's kernels on or off (off: the composed
// ops) and returns the previous setting; for tests in tensor_test.
func SetLSTMFused(on bool) bool {
	old := lstmFused
	lstmFused = on
	return old
}

// SetSoftmaxFused switches the fused softmax backward on or off (off:
// the composed rule) and returns the previous setting.
func SetSoftmaxFused(on bool) bool {
	old := softmaxFused
	softmaxFused = on
	return old
}

// SetLayerNormFused switches LayerNorm's and GroupNorm's kernels on or
// off (off: the composed ops) and returns the previous setting.
func SetLayerNormFused(on bool) bool {
	old := layerNormFused
	layerNormFused = on
	return old
}
