package tensor

// SetNearestFused switches InterpolateNearest's kernels on or off (off:
// the composed ops) and returns the previous setting; for tests in
// tensor_test.
func SetNearestFused(on bool) bool {
	old := nearestFused
	nearestFused = on
	return old
}
