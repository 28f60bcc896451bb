//go:build !amd64 || purego

package cpu

// Without assembly the depthwise row kernels are the pure-Go twins of
// depthwise.go; hasDepthwiseAsm is false and the stubs below never run.
const hasDepthwiseAsm = false

func dwTapsAsm(o, x []float32, offs []int, w []float32) {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}

func dwAxpyAsm(o, x []float32, a float32) {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}

func dwDotAsm(x, y []float32) float32 {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}
