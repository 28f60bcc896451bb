package cpu

import (
	"sync/atomic"

	"github.com/tapir-ml/tapir/backend"
)

// The input gradient of a stride-1 convolution as a product and a fold
// over the padded width, for windows with little or no padding.
//
// convBackInputFlipped runs the input gradient as a forward convolution
// of dy padded by k−1−p. With no padding (a LeNet layer: 32→64 channels,
// 3×3 on 13×13) that convolution multiplies a border of zeros as wide as
// the window: 13×15 positions of work per channel for 11×11 of dy, and
// its M, the input channels, ends in a partial panel (32 = 12+12+8).
//
// Here cols = Wᵀ·dy, with Wᵀ the group's [Ci·K, Co] weight transposed
// (M = Ci·K: 288 rows, 24 whole panels, packed once per call) and dy laid
// over the padded width of the input, l' = oy·wp + ox with zeros in the
// columns ox ≥ ow (N). Over that width the fold is contiguous: row r =
// c·K + t of cols adds to the padded input gradient of channel c at
// tapOff[t] + l', a run of lext elements, one vector add per row (the
// zero columns add zeros). The padded gradient is cropped into dx. The
// product does Ci·K·Co·lext multiply-adds (images go side by side in
// the columns where that rounds fewer of them up to whole panels) against the flipped
// convolution's Ci·Co·K·lext' (lext' over the input's height and dy's
// padded width): fewer when the padding is below k−1, the same with
// "same" padding, where the flipped convolution, which has no fold,
// stays. Images are independent: goroutines take them as they come.

// convFoldChunkBytes bounds the block of columns of the product that
// one goroutine holds at once (tests lower it to get several blocks).
var convFoldChunkBytes = 1 << 18

// foldImagesMax is the most images one product takes side by side.
var foldImagesMax = 4

// foldImages is how many of n images, lext columns each, one product
// takes side by side: the fewest that round the fewest columns per image
// up to whole panels of nr.
func foldImages(lext, nr, n int) int {
	imgs := 1
	for q := 2; q <= foldImagesMax && q <= n; q++ {
		if roundUp(q*lext, nr)*imgs < roundUp(imgs*lext, nr)*q {
			imgs = q
		}
	}
	return imgs
}

// convFoldInput turns this path off, for tests and benchmarks of the path
// it replaces.
var convFoldInput = true

// useFoldInput reports whether foldBackInput runs the input gradient of
// s: a stride-1 convolution with a SIMD kernel whose product here takes
// at most 0.85 of the multiply-adds of the flipped convolution's.
func useFoldInput[T float](s convShape) bool {
	kn := kernelFor[T]()
	g := s.g
	if !convFoldInput || !convImplicit || kn == nil || g.sy != 1 || g.sx != 1 || s.n == 0 || s.l == 0 || s.c == 0 || s.cout == 0 {
		return false
	}
	if NumThreads() > 1 && s.n < NumThreads() {
		return false // whole images per goroutine: leave few images to the split GEMMs
	}
	wp := s.wd + 2*g.px
	lext := (s.oh-1)*wp + s.ow
	fold := s.groupRows() * s.co * roundUp(lext, kn.nr)
	// the flipped convolution: Ci rows, Co·K deep, over the input's
	// height and dy's width padded by d·(k−1) − p
	fw := s.ow + 2*(g.dx*(g.kw-1)-g.px)
	flipped := roundUp(s.ci, kn.mr) * s.co * s.k * roundUp((s.h-1)*fw+s.wd, kn.nr)
	return 100*fold <= 85*flipped
}

// foldBackInput sets d, [N, C, H, W] contiguous, to the input gradient of
// the stride-1 convolution s for the output gradient dy and the weight
// wdat[woff + o·ws0 + r·ws1].
func foldBackInput[T float](kn *microKernel[T], d []T, s convShape, yd []T, dy backend.View, wdat []T, woff, ws0, ws1 int) {
	ig := newImplicitGeom(kn, s)
	gr := s.groupRows()
	mr, nr := kn.mr, kn.nr
	// imgs images side by side in the product's columns, each lext wide,
	// so that fewer columns are rounded up to whole panels (two of 141
	// take 288 columns, not 2·160)
	imgs := foldImages(ig.lext, nr, s.n)
	ldy := roundUp(imgs*ig.lext, nr) // dy rows over the padded width, whole panels
	ys := dy.Strides
	// column chunks of C of about convFoldChunkBytes
	chunk := min(ldy, max(nr, convFoldChunkBytes/(gr*sizeOf[T]())/nr*nr))
	kb := (s.co + kn.kc - 1) / kn.kc
	kc := (s.co + kb - 1) / kb
	// Wᵀ per group, packed once: aps[g][b] holds k block b
	aps := make([][][]T, s.groups)
	for g := range aps {
		aps[g] = make([][]T, kb)
		A := mat[T]{wdat, woff + g*s.co*ws0, gr, s.co, ws1, ws0}
		for b, pc := 0, 0; pc < s.co; b, pc = b+1, pc+kc {
			kcc := min(kc, s.co-pc)
			aps[g][b] = make([]T, roundUp(gr, mr)*kcc)
			packPanelsA(kn, aps[g][b], A, 0, gr, pc, kcc)
		}
	}
	var add func(dst, x, y []T)
	if !vecOff && fastKernels {
		add = vecFor[T]().bin[vbAdd]
	}
	ncMax := roundUp(kn.nc, nr)
	plane := s.c * s.h * s.wd
	pimg := s.c * ig.plane // one padded input gradient
	var next atomic.Int64
	work := func() {
		nbp := kc*min(ncMax, chunk) + 16
		buf := getConvBuf[T](imgs*pimg + s.cout*ldy + gr*chunk + nbp + mr*nr)
		defer putConvBuf(buf)
		dxp := buf[:imgs*pimg]
		dyx := buf[imgs*pimg : imgs*pimg+s.cout*ldy]
		cb := buf[imgs*pimg+s.cout*ldy : imgs*pimg+s.cout*ldy+gr*chunk]
		bp := align64(buf[imgs*pimg+s.cout*ldy+gr*chunk:])[:kc*min(ncMax, chunk)]
		tile := buf[len(buf)-mr*nr:]
		for {
			i0 := int(next.Add(1)-1) * imgs
			if i0 >= s.n {
				return
			}
			cnt := min(imgs, s.n-i0)
			// dy over the padded width, image q at column q·lext: zeros in
			// the junk columns and past the last image
			for o := 0; o < s.cout; o++ {
				row := dyx[o*ldy : (o+1)*ldy]
				for q := 0; q < cnt; q++ {
					img := row[q*ig.lext : (q+1)*ig.lext]
					for oy := 0; oy < s.oh; oy++ {
						seg := img[oy*ig.wp : oy*ig.wp+s.ow]
						src := dy.Offset + (i0+q)*ys[0] + o*ys[1] + oy*s.ow*ys[2]
						if ys[2] == 1 {
							copy(seg, yd[src:src+s.ow])
						} else {
							for x := range seg {
								seg[x] = yd[src]
								src += ys[2]
							}
						}
						if oy < s.oh-1 {
							zeroShort(img[oy*ig.wp+s.ow : (oy+1)*ig.wp])
						}
					}
				}
				clear(row[cnt*ig.lext:])
			}
			clear(dxp)
			for g := 0; g < s.groups; g++ {
				yb := g * s.co * ldy
				for j0 := 0; j0 < ldy; j0 += chunk {
					w := min(chunk, ldy-j0)
					implicitGemm(kn, cb, chunk, gr, w, s.co, kc, aps[g], bp, tile, false,
						func(bp []T, pc, kc, jc, nc int) {
							for jr := 0; jr < nc; jr += nr {
								dst := bp[jr*kc : (jr+nr)*kc]
								src := yb + pc*ldy + j0 + jc + jr
								_ = dyx[src+(kc-1)*ldy+nr-1] // the block's far corner, bounds-checked here
								if kn.packNB != nil {
									kn.packNB(&dst[0], &dyx[src], ldy, kc)
									continue
								}
								for q := 0; q < kc; q++ {
									copy(dst[q*nr:(q+1)*nr], dyx[src+q*ldy:])
								}
							}
						})
					// the fold: row r = c·K + t of image q's columns adds to
					// its channel c at tapOff[t]
					for q := 0; q < cnt; q++ {
						lo, hi := max(j0, q*ig.lext), min(j0+w, (q+1)*ig.lext)
						if lo >= hi {
							continue
						}
						for r := 0; r < gr; r++ {
							o := q*pimg + (g*s.ci+r/s.k)*ig.plane + ig.tapOff[r%s.k] + lo - q*ig.lext
							dst, src := dxp[o:o+hi-lo], cb[r*chunk+lo-j0:r*chunk+hi-j0]
							if add != nil {
								add(dst, dst, src)
								continue
							}
							for x, v := range src {
								dst[x] += v
							}
						}
					}
				}
			}
			// crop the padding
			for q := 0; q < cnt; q++ {
				out := d[(i0+q)*plane : (i0+q+1)*plane]
				for c := 0; c < s.c; c++ {
					for y := 0; y < s.h; y++ {
						src := q*pimg + c*ig.plane + (y+s.g.py)*ig.wp + s.g.px
						copy(out[(c*s.h+y)*s.wd:(c*s.h+y+1)*s.wd], dxp[src:src+s.wd])
					}
				}
			}
		}
	}
	runWorkers(min(NumThreads(), (s.n+imgs-1)/imgs), work)
}
