package tensor

// SetInterpFused switches InterpolateLinear's kernels on or off (off: the
// composed ops) and returns the previous setting; for tests in
// tensor_test.
func SetInterpFused(on bool) bool {
	old := interpFused
	interpFused = on
	return old
}
