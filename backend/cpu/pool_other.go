//go:build !amd64 || purego

package cpu

// Without assembly the 2×2 max-pool kernels are the pure-Go twins of
// pool_max.go; hasPoolAsm is false and the stubs below never run.
const hasPoolAsm = false

func maxPool2x2AsmF32(vo []float32, io []int64, s []float32, base, rs, wd, oh, ow int) {
	panic("cpu: max_pool: no assembly kernels in this build")
}

func maxPool2x2GradAsmF32(d, g []float32, idx []int64, wd, oh, ow int) bool {
	panic("cpu: max_pool: no assembly kernels in this build")
}
