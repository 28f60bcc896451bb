//go:build !amd64 || purego

package cpu

// Without assembly the fused optimizer steps are the Go loops of
// optim.go: optCandidates lists no kernels, so adamAsm and sgdAsm, which
// stand in for the generated dispatchers, are never called.

func optCandidates() []*optVecKernels { return nil }

func adamAsm(isa, variant int, p, grad, m, v, vmax *float32, n int, k *float32) {
	panic("cpu: no optimizer assembly")
}

func sgdAsm(isa, variant int, p, grad, buf *float32, n int, k *float32) {
	panic("cpu: no optimizer assembly")
}
