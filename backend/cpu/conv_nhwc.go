package cpu

import "sync/atomic"

// Channels-last implicit GEMM for stride-1 convolutions of one group.
//
// implicitForward packs panels of the column matrix from a padded
// channels-first image, nr positions wide, for every k block of every
// image: as many elements as the column matrix has, written and read
// again. Transposing the padded image to channels last instead, P[q, c]
// for position q over the padded width, makes the transposed column
// matrix a set of shifted row-major matrices that the rowA kernels read
// in place: output position l and tap (ki, kj) of channel c read
//
//	P[l + ki·dy·wp + kj·dx, c]
//
// so with dx = 1 the Ci channels of the kw taps of one kernel row lie
// side by side, kw·Ci consecutive elements of row l + ki·dy·wp of P. The
// product Cᵀ[l, o] = Σ P[l + off, p]·W[o, p] then runs as one rowASegs
// call per tile, one segment per kernel row, A read unpacked (rows Ci
// apart, overlapping), B the weight packed once per call. What it costs
// instead of the packs is two transposes per image, the image into P
// and the output back to channels first (with the junk columns ox ≥ ow
// dropped, as implicitForward's copy does). implicitForward and
// implicitBackWeight hand the convolutions nhwcKernel and nhwcBackKernel
// accept to nhwcForward and nhwcBackWeight.

// nhwcGeom is one stride-1, one-group convolution seen channels last.
// The product runs in bands of whole output rows, so that the band of
// Cᵀ it writes, read back by the transpose at once, stays in L2 beside P
// (a whole image's Cᵀ, 832 KB for 56×56×64, does not).
type nhwcGeom struct {
	s      convShape
	hp, wp int
	band   int // output rows per band
	bandC  int // rows of a band's Cᵀ: band·wp rounded up to whole tiles
	rows   int // rows of P: hp·wp, or what the last tile reaches
	ldc    int // output channels rounded up to whole panels of nr
	// The rowASegs call of a tile at position q: segment s reads segK
	// elements of each row of P from row q + offs[s]/Ci on, times rows
	// s·segK… of the packed weight (taps in order, so segment after
	// segment): one segment per kernel row (dilation dx = 1: the kw taps
	// side by side), or one per tap.
	segK int
	offs []int // element offsets: (ki·dy·wp + kj·dx)·Ci
}

// nhwcBandPositions is about how many positions (rows of Cᵀ) a band
// holds: 480 positions of 64 channels are 120 KB.
const nhwcBandPositions = 480

func newNHWCGeom[T float](kn *microKernel[T], s convShape) nhwcGeom {
	g := s.g
	ng := nhwcGeom{s: s, hp: s.h + 2*g.py, wp: s.wd + 2*g.px}
	ng.band = min(s.oh, max(1, nhwcBandPositions/ng.wp))
	ng.bandC = roundUp(ng.band*ng.wp, kn.mr)
	ng.ldc = roundUp(s.cout, kn.nr)
	ng.rows = ng.hp * ng.wp
	ng.segK = s.c
	if g.dx == 1 {
		ng.segK = g.kw * s.c
	}
	for ki := 0; ki < g.kh; ki++ {
		for kj := 0; kj < g.kw; kj += ng.segK / s.c {
			ng.offs = append(ng.offs, (ki*g.dy*ng.wp+kj*g.dx)*s.c)
		}
	}
	// the last band's tiles reach row end−1 of Cᵀ, and the last segment
	// reads segK elements of row end−1 + offs/Ci on
	lastStart := (s.oh - 1) / ng.band * ng.band * ng.wp
	end := lastStart + roundUp((s.oh-1)*ng.wp+s.ow-lastStart, kn.mr)
	ng.rows = max(ng.rows, ((end-1)*s.c+ng.offs[len(ng.offs)-1]+ng.segK+s.c-1)/s.c)
	return ng
}

// convNHWC turns the channels-last path off, for tests and benchmarks
// that hold it against implicitForward's.
var convNHWC = true

// nhwcMinChannels is the fewest input channels that take the
// channels-last path: each segment multiplies kw·Ci (or Ci) elements of
// A into a tile, and with few channels the transposes cost more than
// the packs they replace. Not tuned: the layers measured have 64.
const nhwcMinChannels = 16

// nhwcKernel returns the kernel the channels-last path runs s with, or
// nil where it does not (no rowASegs kernel, groups, few channels).
func nhwcKernel[T float](s convShape) *microKernel[T] {
	kn := kernelFor[T]()
	if !convNHWC || kn == nil || kn.rowASegs == nil || s.groups != 1 || s.c < nhwcMinChannels {
		return nil
	}
	return kn
}

// nhwcForward is implicitForward through the channels-last product: it
// sets y, [N, Cout, L] contiguous, to the convolution of the images
// image(i) gives with the weight wdat[woff + o·ws0 + (c·K + t)·ws1].
func nhwcForward[T float](kn *microKernel[T], y []T, s convShape, image func(i int) ([]T, int, [4]int), wdat []T, woff, ws0, ws1 int) {
	ng := newNHWCGeom(kn, s)
	mr, nr, ci := kn.mr, kn.nr, s.c
	krows := s.k * ci
	// the weight packed in panels of nr output channels: panel jp holds
	// rows r = t·Ci + c (tap-major, as the segments read P), nr wide,
	// zeros past Cout
	bp := make([]T, ng.ldc*krows)
	for o := 0; o < s.cout; o++ {
		panel := bp[o/nr*krows*nr:]
		for c := 0; c < ci; c++ {
			for t := 0; t < s.k; t++ {
				panel[(t*ci+c)*nr+o%nr] = wdat[woff+o*ws0+(c*s.k+t)*ws1]
			}
		}
	}
	var next atomic.Int64
	work := func() {
		buf := getConvBuf[T](ng.rows*ci + ng.bandC*ng.ldc + s.cout*ng.band*s.ow)
		defer putConvBuf(buf)
		// P's padding rows and columns are never written below: zero
		// them once
		p := buf[:ng.rows*ci]
		clear(p)
		cn := buf[ng.rows*ci : ng.rows*ci+ng.bandC*ng.ldc]
		t := buf[ng.rows*ci+ng.bandC*ng.ldc:]
		for {
			i := int(next.Add(1) - 1)
			if i >= s.n {
				return
			}
			sd, off, st := image(i)
			nhwcPad(p, sd, off, st, &ng)
			out := y[i*s.cout*s.l : (i+1)*s.cout*s.l]
			for oy0 := 0; oy0 < s.oh; oy0 += ng.band {
				oy1 := min(oy0+ng.band, s.oh)
				// positions b0… of the band's rows, in whole tiles
				b0 := oy0 * ng.wp
				nb := roundUp((oy1-1)*ng.wp+s.ow-b0, mr)
				// the far corner of what the band's last tile reads
				_ = p[(b0+nb-1)*ci+ng.offs[len(ng.offs)-1]+ng.segK-1]
				for jp := 0; jp < ng.ldc; jp += nr {
					panel := bp[jp*krows:]
					for i0 := 0; i0 < nb; i0 += mr {
						kn.rowASegs(ng.segK, &p[(b0+i0)*ci], ci, &ng.offs[0], len(ng.offs), &panel[0], &cn[i0*ng.ldc+jp], ng.ldc, false)
					}
				}
				// y[o, oy·ow + ox] = Cᵀ[oy·wp + ox, o], through the band's
				// channels-first tile t[o, (oy−oy0)·ow + ox] in L2: the
				// transpose's 32-byte stores straight into the output, 64
				// rows 12.5 KB apart that are not in cache, took 8 ms a
				// pass (56×56×64, N=32, one thread); into t and then
				// copied out row by row, 2–4 ms
				bw := (oy1 - oy0) * s.ow
				for oy := oy0; oy < oy1; oy++ {
					transposeBlockLD(t, cn, (oy-oy0)*s.ow, bw, (oy-oy0)*ng.wp*ng.ldc, 0, s.cout, s.ow, ng.ldc)
				}
				for o := 0; o < s.cout; o++ {
					copy(out[o*s.l+oy0*s.ow:o*s.l+oy1*s.ow], t[o*bw:(o+1)*bw])
				}
			}
		}
	}
	runWorkers(min(NumThreads(), s.n), work)
}

// nhwcPad writes the image of c channels of h×wd at s[off:] (strides
// st[1..3]) into the interior of p, [rows, c] channels last, row
// (py + y)·wp + px + x for pixel (y, x). The rest of p stays as it is
// (zeros).
func nhwcPad[T float](p, s []T, off int, st [4]int, ng *nhwcGeom) {
	sh := ng.s
	c := sh.c
	for y := 0; y < sh.h; y++ {
		do := ((sh.g.py+y)*ng.wp + sh.g.px) * c
		so := off + y*st[2]
		if st[3] == 1 {
			transposeBlockLD(p, s, do, c, so, 0, sh.wd, c, st[1])
			continue
		}
		for x := 0; x < sh.wd; x++ {
			row := p[do+x*c : do+(x+1)*c]
			q := so + x*st[3]
			for ch := range row {
				row[ch] = s[q]
				q += st[1]
			}
		}
	}
}

// The weight gradient channels last. For tap group s (a kernel row, or
// one tap under dilation dx > 1: the forward's segments) the gradient is
//
//	dW_s[o, j] = Σ_l dy[o, l]·P[l + off_s, j]    (j < segK)
//
// over the valid output positions l only: dy's rows, contiguous, are A
// (packed once per block of output rows, a few hundred elements a row),
// and the rows of P, Ci apart, are B, read in place by the rowBSegs
// kernels: one segment per output row, since the next row's positions
// start wp rather than ow further on in P. The junk columns of the
// packed path never enter the sums, so there is nothing to zero.

// nhwcBackRows is how many output rows make one k block of the weight
// gradient: 4 rows of 56 positions read 4·56 rows of P, 57 KB of lines
// for a panel of B that every panel of A then reads from L1.
const nhwcBackRows = 4

// nhwcBackKernel returns the kernel the channels-last weight gradient
// runs s with, or nil where it does not.
func nhwcBackKernel[T float](s convShape) *microKernel[T] {
	kn := nhwcKernel[T](s)
	if kn == nil || kn.rowBSegs == nil || kn.rowBSegsEdge == nil {
		return nil
	}
	return kn
}

// nhwcBackWeight is implicitBackWeight through the channels-last
// product: it sets dw, [Cout, Ci·K] contiguous, to the weight gradient
// of the stride-1 convolution s for the output gradient dy
// (yd[yoff + n·ys0 + o·ys1 + l·ys2]) and the input images image(i).
func nhwcBackWeight[T float](kn *microKernel[T], dw []T, s convShape, image func(i int) ([]T, int, [4]int), yd []T, yoff, ys0, ys1, ys2 int) {
	ng := newNHWCGeom(kn, s)
	mr, nr, ci := kn.mr, kn.nr, s.c
	wseg := roundUp(ng.segK, nr) // accumulator columns per tap group
	width := len(ng.offs) * wseg
	// the last element B is read at: the last valid position, the last
	// tap group, its last whole panel of columns
	last := ((s.oh-1)*ng.wp+s.ow-1)*ci + ng.offs[len(ng.offs)-1] + wseg - 1
	rows := max(ng.rows, last/ci+1)
	rowOffs := make([]int, nhwcBackRows)
	for r := range rowOffs {
		rowOffs[r] = r * ng.wp * ci
	}
	kk := nhwcBackRows * s.ow
	workers := min(NumThreads(), s.n)
	acc := make([][]T, workers)
	var id atomic.Int64
	work := func() {
		wk := int(id.Add(1) - 1)
		cacc := make([]T, roundUp(s.cout, mr)*width)
		acc[wk] = cacc
		buf := getConvBuf[T](rows*ci + roundUp(s.cout, mr)*kk)
		defer putConvBuf(buf)
		p := buf[:rows*ci]
		clear(p)
		ap := buf[rows*ci : rows*ci+roundUp(s.cout, mr)*kk]
		// a fixed share of the images, in order, so that the sums are the
		// same from run to run
		for i := s.n * wk / workers; i < s.n*(wk+1)/workers; i++ {
			sd, off, st := image(i)
			nhwcPad(p, sd, off, st, &ng)
			_ = p[last]
			for oy0 := 0; oy0 < s.oh; oy0 += nhwcBackRows {
				rr := min(nhwcBackRows, s.oh-oy0)
				k := rr * s.ow
				packPanelsA(kn, ap, mat[T]{yd, yoff + i*ys0 + oy0*s.ow*ys2, s.cout, k, ys1, ys2}, 0, s.cout, 0, k)
				for sg, so := range ng.offs {
					for jp := 0; jp < wseg; jp += nr {
						b := &p[oy0*ng.wp*ci+so+jp]
						for ip := 0; ip < s.cout; ip += mr {
							fn := kn.rowBSegs
							if h := s.cout - ip; h < mr {
								fn = kn.rowBSegsEdge[h]
							}
							fn(s.ow, &ap[ip*k], b, ci, &rowOffs[0], rr, &cacc[ip*width+sg*wseg+jp], width, true)
						}
					}
				}
			}
		}
	}
	runWorkers(workers, work)
	// dw[o, c·K + t] is the sum of the accumulators at [o, s·wseg + col]
	// for tap t = s·(segK/Ci) + col/Ci, c = col mod Ci
	gr := s.groupRows()
	per := ng.segK / ci
	for o := 0; o < s.cout; o++ {
		for sg := range ng.offs {
			for col := 0; col < ng.segK; col++ {
				var v T
				for _, a := range acc {
					if a != nil {
						v += a[o*width+sg*wseg+col]
					}
				}
				dw[o*gr+(col%ci)*s.k+sg*per+col/ci] = v
			}
		}
	}
}
