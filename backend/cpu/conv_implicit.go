package cpu

import (
	"sync/atomic"
	"unsafe"
)

// Implicit GEMM for stride-1 convolutions: the GEMM's packed panels of
// the column matrix are copied straight from the (zero-padded) image, so
// no column matrix is written at all.
//
// With stride 1, window position (oy, ox) and tap (ki, kj) of channel c
// read padded-image element (oy + ki·dy, ox + kj·dx). Number the
// positions over the padded width instead, l' = oy·wp + ox (ox < wp, the
// columns ox ≥ ow being junk), and that element sits at
//
//	c·hp·wp + (ki·dy·wp + kj·dx) + l'
//
// in the padded image P: a row of the column matrix is a contiguous run
// of P, shifted by a per-tap offset. Ordering the rows tap-major, r =
// tap·Ci + c, makes consecutive rows of one tap hp·wp apart: a block of
// them is a strided matrix the GEMM's assembly packers read directly
// (packNB for W·cols, packTB for dy·colsᵀ). The weight's columns are
// permuted to match, and the product over the padded width computes
// (wp − ow)/wp extra junk columns (3.5% for 56×56 with padding 1), which
// are dropped (forward) or multiplied by zeros (weight gradient, whose
// packed image panels have those rows zeroed too, so that an Inf or NaN
// there cannot leak in as 0·Inf).
//
// Each goroutine takes whole images (convImages), so this path runs when
// there is a SIMD kernel and at least as many images as threads; the
// weight is packed once per call and shared.

// implicitGeom is one stride-1 convolution seen over the padded image.
type implicitGeom struct {
	s          convShape
	hp, wp     int // padded image
	plane      int // hp·wp
	lext       int // positions over the padded width: (oh−1)·wp + ow
	plen       int // elements of P: c·plane plus slack for the last panel
	nr         int
	next       int   // lext rounded up to whole panels
	tapOff     []int // per tap: ki·dy·wp + kj·dx
	kb, kc     int   // k blocks of the forward product (over Ci·K)
	kbW, kcW   int   // k blocks of the weight-gradient product (over lext)
	groupWidth int   // Ci·K rounded up to whole panels (weight gradient)
}

func newImplicitGeom[T float](kn *microKernel[T], s convShape) implicitGeom {
	g := s.g
	ig := implicitGeom{s: s, hp: s.h + 2*g.py, wp: s.wd + 2*g.px, nr: kn.nr}
	ig.plane = ig.hp * ig.wp
	ig.lext = (s.oh-1)*ig.wp + s.ow
	ig.next = roundUp(ig.lext, kn.nr)
	ig.plen = s.c*ig.plane + kn.nr
	ig.tapOff = make([]int, s.k)
	for t := range ig.tapOff {
		ig.tapOff[t] = (t/g.kw)*g.dy*ig.wp + (t%g.kw)*g.dx
	}
	gr := s.groupRows()
	ig.kb = (gr + kn.kc - 1) / kn.kc
	ig.kc = (gr + ig.kb - 1) / max(ig.kb, 1)
	ig.kbW = (ig.lext + kn.kc - 1) / kn.kc
	ig.kcW = (ig.lext + ig.kbW - 1) / ig.kbW
	ig.groupWidth = roundUp(gr, kn.nr)
	return ig
}

// useImplicit reports whether the stride-1 implicit GEMM runs s.
func useImplicit[T float](s convShape) bool {
	return convImplicit && kernelFor[T]() != nil && s.g.sy == 1 && s.g.sx == 1 &&
		s.n > 0 && s.l > 0 && s.c > 0 && s.cout > 0 && (NumThreads() == 1 || s.n >= NumThreads())
}

// convImplicit turns the implicit GEMM off, for tests of the paths it
// replaces.
var convImplicit = true

// padImage writes the image of c channels of h×wd at s[off:] (strides
// st[1..3]) into p as [c, hp, wp] with py rows and px columns of zeros
// before it (and the rest of hp×wp after it), and zeros p's slack.
func padImage[T float](p, s []T, off int, st [4]int, ig *implicitGeom) {
	c := ig.s.c
	for ch := 0; ch < c; ch++ {
		padPlane(p[ch*ig.plane:(ch+1)*ig.plane], s, off+ch*st[1], st[2], st[3], ig.s.h, ig.s.wd, ig.wp, ig.s.g.py, ig.s.g.px)
	}
	clear(p[c*ig.plane : ig.plen])
}

// padPlane writes the h×wd plane at s[off:] (row stride rs, column
// stride cs) into pl, in rows of wp, after py rows and px columns of
// zeros, and zeros the rest of pl. The implicit GEMMs pad whole images
// with it, the depthwise convolutions one channel at a time.
func padPlane[T float](pl, s []T, off, rs, cs, h, wd, wp, py, px int) {
	clear(pl[:py*wp])
	clear(pl[(py+h)*wp:])
	for y := 0; y < h; y++ {
		row := pl[(py+y)*wp : (py+y+1)*wp]
		zeroShort(row[:px])
		zeroShort(row[px+wd:])
		in := row[px : px+wd]
		q := off + y*rs
		if cs == 1 {
			copy(in, s[q:q+wd])
			continue
		}
		for x := range in {
			in[x] = s[q]
			q += cs
		}
	}
}

// implicitGemm sets (accum false) or adds to (accum true) C, m×n with
// rows ldc apart, the product of A, whose packed panels for k block b
// are ap[b], with B, whose block (pc, kc, jc, nc) packB packs into bp.
// n and ldc are whole panels of B, so every kernel call but those of a
// last partial row panel without an edge kernel writes C in place.
func implicitGemm[T float](kn *microKernel[T], c []T, ldc, m, n, k, kc int, ap [][]T, bp, tile []T, accum bool, packB func(bp []T, pc, kc, jc, nc int)) {
	mr, nr := kn.mr, kn.nr
	ncMax := implicitNC(kn, kc)
	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		for b, pc := 0, 0; pc < k; b, pc = b+1, pc+kc {
			kcc := min(kc, k-pc)
			packB(bp, pc, kcc, jc, nc)
			acc := accum || pc > 0
			for i := 0; i < m; i += mr {
				h := min(mr, m-i)
				a := &ap[b][i*kcc]
				fn := kn.fn
				if h < mr && kn.edge != nil {
					fn = kn.edge[h]
				}
				for jr := 0; jr < nc; jr += nr {
					bb := &bp[jr*kcc]
					if h == mr || kn.edge != nil {
						fn(kcc, a, bb, &c[i*ldc+jc+jr], ldc, acc)
						continue
					}
					fn(kcc, a, bb, &tile[0], nr, false)
					for ii := 0; ii < h; ii++ {
						row := c[(i+ii)*ldc+jc+jr : (i+ii)*ldc+jc+jr+nr]
						t := tile[ii*nr : ii*nr+nr]
						if acc {
							for j, v := range t {
								row[j] += v
							}
						} else {
							copy(row, t)
						}
					}
				}
			}
		}
	}
}

// implicitBlockBytes bounds the packed block of B, kc×nc, that the
// implicit GEMMs multiply by every panel of A in turn. Their M is small
// (64 channels: 6 or 8 panels of A), so each block of B is read that many
// times and should stay in the core's L2 (1 MB on Zen 4) beside A; at
// the GEMM's nc of 1024 it took 1.2 MB (forward, kc 288) to 1.9 MB
// (weight gradient, kc 464). With 256 KB each pass of a [32, 64, 56, 56]
// 3×3 layer took 1–6% less CPU time on one thread (BenchmarkConvResNet,
// the variants alternating call by call, medians of 10–15 rounds, in 5
// runs); 512 KB came out between the two.
var implicitBlockBytes = 1 << 18

// implicitNC is the column block of the implicit GEMMs for k blocks of
// kc: kn.nc, or fewer whole panels so that the block of B takes at most
// implicitBlockBytes.
func implicitNC[T float](kn *microKernel[T], kc int) int {
	nc := implicitBlockBytes / max(kc*sizeOf[T](), 1) / kn.nr * kn.nr
	return min(roundUp(kn.nc, kn.nr), max(nc, kn.nr))
}

// packAllA packs the co×width matrix at a[off:] (rows lda apart) for
// every k block of size kc into ap[b], returned.
func packAllA[T float](kn *microKernel[T], ap [][]T, a []T, off, lda, co, width, kc int) [][]T {
	for b, pc := 0, 0; pc < width; b, pc = b+1, pc+kc {
		kcc := min(kc, width-pc)
		if len(ap[b]) < roundUp(co, kn.mr)*kcc {
			ap[b] = make([]T, roundUp(co, kn.mr)*kcc)
		}
		packPanelsA(kn, ap[b], mat[T]{a, off, co, width, lda, 1}, 0, co, pc, kcc)
	}
	return ap
}

// implicitForward sets y, [N, Cout, L] contiguous, to the convolution of
// the images image(i) gives (data, offset, strides) with the weight
// wdat[woff + o·ws0 + (c·K + t)·ws1]. Where the channels-last product
// runs s (nhwcKernel), it does, and kn is not used.
func implicitForward[T float](kn *microKernel[T], y []T, s convShape, image func(i int) ([]T, int, [4]int), wdat []T, woff, ws0, ws1 int) {
	if kr := nhwcKernel[T](s); kr != nil {
		nhwcForward(kr, y, s, image, wdat, woff, ws0, ws1)
		return
	}
	ig := newImplicitGeom(kn, s)
	gr := s.groupRows()
	// the weight with tap-major columns, packed once per group
	wperm := make([]T, s.cout*gr)
	for o := 0; o < s.cout; o++ {
		for c := 0; c < s.ci; c++ {
			for t := 0; t < s.k; t++ {
				wperm[o*gr+t*s.ci+c] = wdat[woff+o*ws0+(c*s.k+t)*ws1]
			}
		}
	}
	aps := make([][][]T, s.groups)
	for g := range aps {
		aps[g] = packAllA(kn, make([][]T, ig.kb), wperm, g*s.co*gr, gr, s.co, gr, ig.kc)
	}
	ncMax := roundUp(kn.nc, kn.nr)
	var next atomic.Int64
	work := func() {
		buf := getConvBuf[T](ig.plen + s.cout*ig.next + ig.kc*ncMax + kn.mr*kn.nr + 32)
		defer putConvBuf(buf)
		p := buf[:ig.plen]
		cext := buf[ig.plen : ig.plen+s.cout*ig.next]
		bp := align64(buf[ig.plen+s.cout*ig.next:])[:ig.kc*ncMax]
		tile := buf[len(buf)-kn.mr*kn.nr:]
		for {
			i := int(next.Add(1) - 1)
			if i >= s.n {
				return
			}
			sd, off, st := image(i)
			padImage(p, sd, off, st, &ig)
			for g := 0; g < s.groups; g++ {
				implicitGemm(kn, cext[g*s.co*ig.next:], ig.next, s.co, ig.next, gr, ig.kc, aps[g], bp, tile, false,
					func(bp []T, pc, kc, jc, nc int) { packImplicitB(kn, bp, p, &ig, g, pc, kc, jc, nc) })
			}
			// keep the positions with ox < ow
			out := y[i*s.cout*s.l : (i+1)*s.cout*s.l]
			for o := 0; o < s.cout; o++ {
				for oy := 0; oy < s.oh; oy++ {
					copy(out[o*s.l+oy*s.ow:o*s.l+(oy+1)*s.ow], cext[o*ig.next+oy*ig.wp:])
				}
			}
		}
	}
	runWorkers(min(NumThreads(), s.n), work)
}

// runWorkers runs work on p goroutines (the caller's one included).
func runWorkers(p int, work func()) {
	if p > 1 {
		parallelFor(p, 1, func(lo, hi int) {
			for range hi - lo {
				work()
			}
		})
		return
	}
	work()
}

// packImplicitB packs rows pc…pc+kc (tap-major: r = t·Ci + c) and
// columns jc…jc+nc (positions over the padded width) of group g's column
// matrix from the padded image p, in panels of nr columns, k-major.
func packImplicitB[T float](kn *microKernel[T], bp, p []T, ig *implicitGeom, g, pc, kc, jc, nc int) {
	ci, nr := ig.s.ci, kn.nr
	for jr := 0; jr < nc; jr += nr {
		dst := bp[jr*kc : (jr+nr)*kc]
		for r := pc; r < pc+kc; {
			t, c0 := r/ci, r%ci
			run := min(ci-c0, pc+kc-r)
			src := (g*ci+c0)*ig.plane + ig.tapOff[t] + jc + jr
			d := dst[(r-pc)*nr : (r-pc+run)*nr]
			_ = p[src+(run-1)*ig.plane+nr-1] // the block's far corner, bounds-checked here
			if kn.packNB != nil {
				kn.packNB(&d[0], &p[src], ig.plane, run)
			} else {
				for q := 0; q < run; q++ {
					copy(d[q*nr:(q+1)*nr], p[src+q*ig.plane:])
				}
			}
			r += run
		}
	}
}

// packImplicitBT packs rows pc…pc+kc (positions over the padded width)
// and columns jc…jc+nc (tap-major rows of the column matrix, r = t·Ci +
// c, up to Ci·K) of group g's transposed column matrix from p, in panels
// of nr columns, k-major; columns past Ci·K are zeros.
func packImplicitBT[T float](kn *microKernel[T], bp, p []T, ig *implicitGeom, g, pc, kc, jc, nc int) {
	ci, nr := ig.s.ci, kn.nr
	gr := ig.s.groupRows()
	part, run := packTBRun(kn)
	for jr := 0; jr < nc; jr += nr {
		dst := bp[jr*kc : (jr+nr)*kc]
		r0 := jc + jr
		w := min(nr, gr-r0)
		if w == nr && r0%ci+nr <= ci && kn.packTB != nil {
			src := (g*ci+r0%ci)*ig.plane + ig.tapOff[r0/ci] + pc
			_ = p[src+(nr-1)*ig.plane+kc-1] // the block's far corner, bounds-checked here
			kn.packTB(&dst[0], &p[src], ig.plane, kc)
			clearJunkRows(dst, nr, pc, kc, ig)
			continue
		}
		if w == nr && part != nil && ci%run == 0 && r0%run == 0 {
			// runs of run rows, each inside one tap's Ci channels
			for j := 0; j < nr; j += run {
				r := r0 + j
				src := (g*ci+r%ci)*ig.plane + ig.tapOff[r/ci] + pc
				_ = p[src+(run-1)*ig.plane+kc-1] // the run's far corner, bounds-checked here
				_ = dst[(kc-1)*nr+j+run-1]
				part(&dst[j], &p[src], ig.plane, kc)
			}
			clearJunkRows(dst, nr, pc, kc, ig)
			continue
		}
		for j := 0; j < nr; j++ {
			if j >= w {
				for q := 0; q < kc; q++ {
					dst[q*nr+j] = 0
				}
				continue
			}
			r := r0 + j
			src := p[(g*ci+r%ci)*ig.plane+ig.tapOff[r/ci]+pc:]
			src = src[:kc]
			for q, v := range src {
				dst[q*nr+j] = v
			}
		}
		clearJunkRows(dst, nr, pc, kc, ig)
	}
}

// clearJunkRows zeros the rows of a packed panel of the transposed column
// matrix (rows pc…pc+kc, positions over the padded width, nr wide) that
// are junk positions, ox ≥ ow. Their dy is zero, but the image values
// they hold need not be finite, and 0·Inf or 0·NaN would be a NaN in a
// weight gradient that no real window has. Zeroing them (2 rows of every
// 58 for 56×56 with padding 1) costs less than scanning every image for
// non-finite values, and keeps one path for all data.
func clearJunkRows[T float](dst []T, nr, pc, kc int, ig *implicitGeom) {
	ow, wp := ig.s.ow, ig.wp
	for q := pc - pc%wp + ow; q < pc+kc; q += wp {
		for r := max(q, pc); r < min(q+wp-ow, pc+kc); r++ {
			clear(dst[(r-pc)*nr : (r-pc+1)*nr])
		}
	}
}

// implicitBackWeight sets dw, [Cout, Ci·K] contiguous, to the weight
// gradient of the stride-1 convolution s for the output gradient dy
// (yd[yoff + n·ys0 + o·ys1 + l·ys2]) and the input images image(i).
// Where the channels-last product runs s (nhwcBackKernel), it does, and
// kn is not used.
func implicitBackWeight[T float](kn *microKernel[T], dw []T, s convShape, image func(i int) ([]T, int, [4]int), yd []T, yoff, ys0, ys1, ys2 int) {
	if kr := nhwcBackKernel[T](s); kr != nil {
		nhwcBackWeight(kr, dw, s, image, yd, yoff, ys0, ys1, ys2)
		return
	}
	ig := newImplicitGeom(kn, s)
	gr := s.groupRows()
	width := ig.groupWidth
	workers := min(NumThreads(), s.n)
	acc := make([][]T, workers)
	ncMax := roundUp(kn.nc, kn.nr)
	var id atomic.Int64
	work := func() {
		wk := int(id.Add(1) - 1)
		cacc := make([]T, s.cout*width)
		acc[wk] = cacc
		buf := getConvBuf[T](ig.plen + s.cout*ig.lext + ig.kcW*ncMax + kn.mr*kn.nr + 32)
		defer putConvBuf(buf)
		p := buf[:ig.plen]
		dyx := buf[ig.plen : ig.plen+s.cout*ig.lext]
		bp := align64(buf[ig.plen+s.cout*ig.lext:])[:ig.kcW*ncMax]
		tile := buf[len(buf)-kn.mr*kn.nr:]
		ap := make([][]T, ig.kbW)
		// a fixed share of the images, in order, so that the sums are the
		// same from run to run
		first := true
		for i := s.n * wk / workers; i < s.n*(wk+1)/workers; i++ {
			sd, off, st := image(i)
			padImage(p, sd, off, st, &ig)
			// dy over the padded width, zeros in the junk columns
			for o := 0; o < s.cout; o++ {
				row := dyx[o*ig.lext : (o+1)*ig.lext]
				for oy := 0; oy < s.oh; oy++ {
					seg := row[oy*ig.wp : oy*ig.wp+s.ow]
					q := yoff + i*ys0 + o*ys1 + oy*s.ow*ys2
					if ys2 == 1 {
						copy(seg, yd[q:q+s.ow])
					} else {
						for x := range seg {
							seg[x] = yd[q]
							q += ys2
						}
					}
					if oy < s.oh-1 {
						zeroShort(row[oy*ig.wp+s.ow : (oy+1)*ig.wp])
					}
				}
			}
			for g := 0; g < s.groups; g++ {
				packAllA(kn, ap, dyx, g*s.co*ig.lext, ig.lext, s.co, ig.lext, ig.kcW)
				implicitGemm(kn, cacc[g*s.co*width:], width, s.co, width, ig.lext, ig.kcW, ap, bp, tile, !first,
					func(bp []T, pc, kc, jc, nc int) { packImplicitBT(kn, bp, p, &ig, g, pc, kc, jc, nc) })
			}
			first = false
		}
	}
	runWorkers(workers, work)
	// dw[o, c·K + t] is the sum of the accumulators at [o, t·Ci + c]
	for o := 0; o < s.cout; o++ {
		for c := 0; c < s.ci; c++ {
			for t := 0; t < s.k; t++ {
				var v T
				for _, a := range acc {
					if a != nil {
						v += a[o*width+t*s.ci+c]
					}
				}
				dw[o*gr+c*s.k+t] = v
			}
		}
	}
}

// align64 returns s from its first element on a 64-byte boundary (s must
// have 64 bytes to spare), so packed panels are read with aligned loads.
func align64[T float](s []T) []T {
	sz := uintptr(sizeOf[T]())
	off := (64 - uintptr(unsafe.Pointer(unsafe.SliceData(s)))%64) % 64 / sz
	return s[off:]
}
