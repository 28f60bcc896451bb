package tensor

// SetAvgPoolFused switches AvgPool's and AdaptiveAvgPool's kernels on or
// off (off: the composed ops) and returns the previous setting; for tests
// in tensor_test.
func SetAvgPoolFused(on bool) bool {
	old := avgPoolFused
	avgPoolFused = on
	return old
}
