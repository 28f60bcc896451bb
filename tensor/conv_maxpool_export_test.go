package tensor

// SetMaxPoolBackwarder switches MaxPool's gradient between the backend's
// one-pass kernel (on) and the composed zeros-and-ScatterAdd (off) and
// returns the previous setting; for tests in tensor_test.
func SetMaxPoolBackwarder(on bool) bool {
	old := useMaxPoolBackwarder
	useMaxPoolBackwarder = on
	return old
}
