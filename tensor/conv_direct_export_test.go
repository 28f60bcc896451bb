package tensor

// SetConvolver switches Conv's use of the backend's convolution kernels
// on or off (off: Unfold, MatMul and Fold) and returns the previous
// setting; for tests in tensor_test.
func SetConvolver(on bool) bool {
	old := useConvolver
	useConvolver = on
	return old
}
