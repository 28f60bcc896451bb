//go:build !amd64 || purego

package cpu

// Without assembly the depthwise row kernels are the pure-Go twins of
// depthwise.go; hasDepthwiseAsm is false and the stubs below never run.
const hasDepthwiseAsm = false

func dwTapsAsm(o, x []float32, offs []int, w []float32, n, rows, xs, os int) {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}

func dwDotAsm(acc, g, p []float32, offs []int, n, rows, ps int) {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}

func dwSplit2Asm(a, b, r []float32, n, rows, rs, qs int) {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}

func dwMerge2Asm(r, a, b []float32, n, rows, rs, qs int) {
	panic("cpu: depthwise convolution: no assembly kernels in this build")
}
