package cpu

import "sync/atomic"

// The weight gradient of a stride-1 convolution whose groups have few
// rows, Ci·K (a first layer: one input channel and a 3×3 window, 9 rows).
//
// implicitBackWeight computes dW = dy·colsᵀ with the columns' Ci·K rows
// as the GEMM's N, rounded up to whole panels of nr (32 for AVX-512): at 9
// rows, 72% of its work multiplies zeros, and its transposing packer falls
// back to a scalar loop that fills each panel. Here the product is turned
// around, dWᵀ = cols·dyᵀ: the Ci·K rows are M (one mr = 12 row panel for
// 9 rows, computed by the 9-row edge kernel), the output channels are N
// (whole panels for 32, 64, … channels) and the window positions are K,
// only the valid ones (no junk columns of the padded width). The A panels
// are gathered from the padded image, mr values per position, and B's
// panels are dy's rows transposed by the assembly packer. Each goroutine
// sums a fixed share of the images, in order, into its own small
// accumulator, and those are added in a fixed order at the end, so the
// sums are the same from run to run.

// convBackWeightSmall turns this path off, for tests and benchmarks of the
// path it replaces.
var convBackWeightSmall = true

// useBackWeightSmall reports whether backWeightSmall runs s: a stride-1
// convolution with a SIMD kernel whose group's Ci·K rows would fill at
// most half a panel of B in implicitBackWeight, and whose product here,
// Ci·K rows by Co rounded up to whole panels, is the cheaper one (not so
// for a depthwise convolution's few channels per group). With
// fewer images than threads it runs on one goroutine per image.
func useBackWeightSmall[T float](s convShape) bool {
	kn := kernelFor[T]()
	if !convBackWeightSmall || !convImplicit || kn == nil || s.g.sy != 1 || s.g.sx != 1 ||
		s.n == 0 || s.l == 0 || s.c == 0 || s.cout == 0 {
		return false
	}
	gr := s.groupRows()
	// (implicitBackWeight's product counts twice: its packer for B
	// panels wider than the rows fills them in a scalar loop)
	return 2*gr <= kn.nr && gr*roundUp(s.co, kn.nr) < 2*s.co*roundUp(gr, kn.nr)
}

// backWeightSmall sets dw, [Cout, Ci·K] contiguous, to the weight
// gradient of the stride-1 convolution s for the output gradient dy
// (yd[yoff + n·ys0 + o·ys1 + l·ys2]) and the input images image(i).
func backWeightSmall[T float](kn *microKernel[T], dw []T, s convShape, image func(i int) ([]T, int, [4]int), yd []T, yoff, ys0, ys1, ys2 int) {
	ig := newImplicitGeom(kn, s)
	gr := s.groupRows()
	mr, nr := kn.mr, kn.nr
	ldc := roundUp(s.co, nr)
	mp := roundUp(gr, mr)
	kb := (s.l + kn.kc - 1) / kn.kc
	kc := (s.l + kb - 1) / kb
	nc := min(roundUp(kn.nc, nr), ldc)
	workers := min(NumThreads(), s.n)
	acc := make([][]T, workers)
	var id atomic.Int64
	work := func() {
		wk := int(id.Add(1) - 1)
		cacc := make([]T, s.groups*gr*ldc) // [group][row r][channel o]
		acc[wk] = cacc
		buf := getConvBuf[T](ig.plen + mp*s.l + kc*nc + mr*nr + 32)
		defer putConvBuf(buf)
		p := buf[:ig.plen]
		apAll := buf[ig.plen : ig.plen+mp*s.l]
		clear(apAll) // the rows past gr stay zero
		ap := make([][]T, kb)
		for b, pc := 0, 0; pc < s.l; b, pc = b+1, pc+kc {
			ap[b] = apAll[mp*pc : mp*(pc+min(kc, s.l-pc))]
		}
		bp := align64(buf[ig.plen+mp*s.l:])[:kc*nc]
		tile := buf[len(buf)-mr*nr:]
		first := true
		for i := s.n * wk / workers; i < s.n*(wk+1)/workers; i++ {
			sd, off, st := image(i)
			padImage(p, sd, off, st, &ig)
			for g := 0; g < s.groups; g++ {
				packSmallA(kn, ap, p, &ig, g, kc)
				ybase := yoff + i*ys0 + g*s.co*ys1
				implicitGemm(kn, cacc[g*gr*ldc:], ldc, gr, ldc, s.l, kc, ap, bp, tile, !first,
					func(bp []T, pc, kc, jc, nc int) { packSmallB(kn, bp, yd, ybase, ys1, ys2, s.co, pc, kc, jc, nc) })
			}
			first = false
		}
	}
	runWorkers(workers, work)
	// dw[g·Co + o, r] is the sum of the accumulators at [g][r][o]
	for g := 0; g < s.groups; g++ {
		for o := 0; o < s.co; o++ {
			row := dw[(g*s.co+o)*gr : (g*s.co+o+1)*gr]
			for r := range row {
				var v T
				for _, a := range acc {
					if a != nil {
						v += a[(g*gr+r)*ldc+o]
					}
				}
				row[r] = v
			}
		}
	}
}

// packSmallA packs group g's column matrix, rows r = c·K + t (c < Ci),
// columns the valid window positions l < L, into ap[b] for each k block of
// kc positions: panels of mr rows, k-major, gathered from the padded image
// p (position l = oy·ow + ox reads p at oy·wp + ox past the row's tap).
// Rows past Ci·K are left as they are (zeros).
func packSmallA[T float](kn *microKernel[T], ap [][]T, p []T, ig *implicitGeom, g, kc int) {
	s := &ig.s
	mr, gr := kn.mr, s.groupRows()
	for b, pc := 0, 0; pc < s.l; b, pc = b+1, pc+kc {
		kcc := min(kc, s.l-pc)
		for r := 0; r < gr; r++ {
			dst := ap[b][(r/mr)*mr*kcc+r%mr:]
			src := p[(g*s.ci+r/s.k)*ig.plane+ig.tapOff[r%s.k]:]
			q := 0
			for l := pc; l < pc+kcc; {
				oy, ox := l/s.ow, l%s.ow
				run := min(s.ow-ox, pc+kcc-l)
				seg := src[oy*ig.wp+ox : oy*ig.wp+ox+run]
				d := dst[q*mr : (q+run-1)*mr+1]
				for x, v := range seg {
					d[x*mr] = v
				}
				q += run
				l += run
			}
		}
	}
}

// packSmallB packs rows pc…pc+kc (window positions) and columns jc…jc+nc
// (output channels of one group, co of them; zeros past co) of dyᵀ, where
// dy[o, l] is yd[base + o·ys1 + l·ys2], into panels of nr columns, k-major.
func packSmallB[T float](kn *microKernel[T], bp, yd []T, base, ys1, ys2, co, pc, kc, jc, nc int) {
	nr := kn.nr
	for jr := 0; jr < nc; jr += nr {
		dst := bp[jr*kc : (jr+nr)*kc]
		o0 := jc + jr
		w := min(nr, co-o0)
		src := base + o0*ys1 + pc*ys2
		if w == nr && ys2 == 1 && ys1 >= 0 && kn.packTB != nil {
			_ = yd[src+(nr-1)*ys1+kc-1] // the block's far corner, bounds-checked here
			kn.packTB(&dst[0], &yd[src], ys1, kc)
			continue
		}
		for j := 0; j < nr; j++ {
			if j >= w {
				for q := 0; q < kc; q++ {
					dst[q*nr+j] = 0
				}
				continue
			}
			q0 := src + j*ys1
			for q := 0; q < kc; q++ {
				dst[q*nr+j] = yd[q0+q*ys2]
			}
		}
	}
}

// convSmallForward sends the forward product of convolutions with few
// rows per group to the unfold-and-GEMM path; off, they take the implicit
// GEMM like the others (for tests and benchmarks).
var convSmallForward = true

// smallRowsForward reports whether the forward product of s, a
// convolution whose group's Ci·K rows fill at most half a panel of B,
// should unfold its columns rather than run the implicit GEMM. With so
// few rows the implicit GEMM's product over the padded width costs less
// than what follows it: copying every output row (ow of wp columns) out
// of its product, Cout·oh short copies per image (832 for 32 channels of
// 26×26, about half of that layer's time). Unfolding the compact columns
// is Ci·K·oh copies (234), and the GEMM writes the output in place.
// Only without groups: a grouped (depthwise) convolution keeps the
// implicit GEMM.
func smallRowsForward[T float](s convShape) bool {
	kn := kernelFor[T]()
	return convSmallForward && kn != nil && s.groups == 1 && 2*s.groupRows() <= kn.nr
}
