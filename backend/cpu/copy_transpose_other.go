//go:build !amd64 || purego

package cpu

// transpose8Kernel is nil without assembly: strips take transposeBlock's
// loop.
func transpose8Kernel() func(dst *uint32, ldd int, src *uint32, lds int, rows int) {
	return nil
}
