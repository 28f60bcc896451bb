package cpu

import (
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// A copy whose source has its last two dims swapped relative to the
// destination's (x.T().Contiguous(), a [.., R, C] view with strides
// [.., 1, sc]) reads one element per source line for every element it
// writes when it walks the destination in order: a row of the
// destination is a column of the source, and the R·64 bytes of source
// lines one destination row touches fall out of L1 before the next row
// would reuse them. copyTransposed walks the destination in strips of
// transposeLines columns instead: along a strip the source is
// transposeLines sequential streams (one per source line), each line
// consumed by consecutive rows, and the strip's destination lines stay in
// L1 for the strips to their right.
//
// The strips are narrow because a source of 1024 float32 columns puts its
// lines 4 KiB apart, all in one set of the 12-way L1 (Zen 4): 16 or more
// live lines evict one another. Measured at 1 thread (best of 15, pure-Go
// loops, ns per element, [512, 784] / [1024, 1024] destinations):
// element by element 1.40 / 3.64; strips of 4, 8, 16 columns 0.92 / 1.07,
// 0.73 / 0.78, 0.67 / 1.67; square tiles of 16×16 and 32×32 up to
// 12 at [1024, 1024].

// transposeLines is the destination columns of a strip.
const transposeLines = 8

// transpose8 is the kernel of an 8-column strip of 4-byte elements, 8
// rows at a time (copy_transpose_amd64.go), or nil; tests set it to nil
// to run the loop alone.
var transpose8 = transpose8Kernel()

// transposeOff (tests and benchmarks only) sends such copies, and those
// of copyRows (copy.go), down the generic iterator instead.
var transposeOff bool

// copyTransposed copies src into the contiguous dst when src's last two
// dims are swapped (stride 1 on dim −2, not on dim −1), with any strides
// on the leading dims, and reports whether it did.
func copyTransposed[T any](d, s []T, dst, src backend.View) bool {
	nd := len(dst.Shape)
	if transposeOff || nd < 2 || !dst.IsContiguous() {
		return false
	}
	r, c := dst.Shape[nd-2], dst.Shape[nd-1]
	ss := src.Strides
	if ss[nd-2] != 1 || ss[nd-1] == 1 || r < 8 || c < 8 || r*c < 1024 {
		return false
	}
	sc := ss[nd-1]
	lead, ls := dst.Shape[:nd-2], ss[:nd-2]
	nb := 1
	for _, e := range lead {
		nb *= e
	}
	if nb == 0 {
		return true
	}
	mr := nb * r // destination rows over all matrices
	parallelFor(mr, max(1, grain/c), func(lo, hi int) {
		for lo < hi {
			m, i0 := lo/r, lo%r
			i1 := min(r, i0+hi-lo)
			// the source offset of matrix m, from its leading index
			so := src.Offset
			for k, q := len(lead)-1, m; k >= 0; k-- {
				so += q % lead[k] * ls[k]
				q /= lead[k]
			}
			transposeBlock(d, s, dst.Offset+m*r*c, so, i0, i1, c, sc)
			lo += i1 - i0
		}
	})
	return true
}

// transposeBlock sets d[do + i·c + j] = s[so + i + j·sc] for i0 ≤ i < i1,
// j < c, a strip of transposeLines columns at a time.
func transposeBlock[T any](d, s []T, do, so, i0, i1, c, sc int) {
	transposeBlockLD(d, s, do, c, so, i0, i1, c, sc)
}

// transposeBlockLD is transposeBlock into rows ldd ≥ c apart:
// d[do + i·ldd + j] = s[so + i + j·sc].
func transposeBlockLD[T any](d, s []T, do, ldd, so, i0, i1, c, sc int) {
	const b = transposeLines
	var z T
	k := transpose8
	if unsafe.Sizeof(z) != 4 {
		k = nil
	}
	for j0 := 0; j0 < c; j0 += b {
		j1 := min(j0+b, c)
		i := i0
		if k != nil && j1-j0 == 8 {
			if m := (i1 - i0) &^ 7; m > 0 {
				// the last element either side reaches, checked
				_ = d[do+(i0+m-1)*ldd+j1-1]
				_, _ = s[so+i0+j0*sc], s[so+i0+m-1+j0*sc]
				_, _ = s[so+i0+(j1-1)*sc], s[so+i0+m-1+(j1-1)*sc]
				k((*uint32)(unsafe.Pointer(&d[do+i0*ldd+j0])), ldd, (*uint32)(unsafe.Pointer(&s[so+i0+j0*sc])), sc, m)
				i += m
			}
		}
		for ; i < i1; i++ {
			row := d[do+i*ldd+j0 : do+i*ldd+j1]
			p := so + i + j0*sc
			for j := range row {
				row[j] = s[p]
				p += sc
			}
		}
	}
}
