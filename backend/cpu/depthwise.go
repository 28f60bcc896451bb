package cpu

// Depthwise convolutions: as many groups as input channels, one input and
// one output channel per group (MobileNet's and EfficientNet's 3×3
// layers), or a few output channels per group (a channel multiplier m:
// each input plane is padded once and serves its m output channels). As
// products, every group is a GEMM with a single row (or m rows: the
// group's K weights times its K×L column matrix), so the GEMM paths spend
// their time unfolding, packing and in edge kernels. Here each channel's
// plane is copied once into a zero-padded scratch plane, after which every
// tap of every window is in bounds and the work is whole rows:
//
//   - forward: an output row is the sum over the K taps of a row of the
//     plane, shifted by the tap, times the tap's weight (dwTaps);
//   - input gradient: the output gradient's plane is copied into a
//     zero-padded plane of its own, and each input position gathers the
//     taps that reach it from there (dwGather): the positions of one row
//     parity and column phase take the same taps, so their rows are
//     dwTaps rows again (no scatter, whose overlapping read-modify-writes
//     of the plane cost twice as much);
//   - weight gradient: a tap's gradient is the sum over images and output
//     rows of the products of an output-gradient row with the row of the
//     plane under the tap (dwDot, in running sums per lane), chunks of
//     rows summed in float64.
//
// With a column stride sx above 1, the padded plane is kept as sx planes
// of every sx-th column (phase p holds columns p, p+sx, p+2sx, …), so a
// tap's row is again a contiguous run (dwSplit2 and dwMerge2 move a
// row's columns in and out of two phases in AVX-512 permutes).
//
// Planes are independent, so the forward and the input gradient split
// them over the threads freely; the weight gradient splits the channels,
// each summed over the images in order, so it is the same for any number
// of threads.

// convDepthwise enables the depthwise path; tests switch it off to hold
// the other paths to the same cases.
var convDepthwise = true

// useDepthwise reports whether s is depthwise (one input channel per
// group, and one output channel or a few: a channel multiplier m = co)
// and the direct path is on.
func useDepthwise(s convShape) bool {
	return convDepthwise && s.ci == 1 && s.co <= dwMaxMultiplier
}

// dwMaxMultiplier is the largest channel multiplier the direct path
// takes: at 2 and 4 (3×3, [32, 64/m, 56, 56]) it beats the GEMM paths in
// every pass, by up to 13× in the weight gradient
// (BenchmarkDepthwiseMultiplier); larger ones were not measured.
const dwMaxMultiplier = 4

// dwGeom is the padded plane of a depthwise convolution: hp×wp, the
// input's h×wd at row py, column px, kept as sx phase planes of hp×wq
// (wq = ⌈wp/sx⌉; the columns past wp are zero). offs[t] is where tap t's
// run of the first output row starts in the phase planes; output row oy's
// runs start oy·sy·wq further on.
type dwGeom struct {
	s          convShape
	hp, wp, wq int
	offs       []int
}

func dwGeomOf(s convShape) dwGeom {
	g := s.g
	d := dwGeom{s: s, hp: s.h + 2*g.py, wp: s.wd + 2*g.px}
	d.wq = (d.wp + g.sx - 1) / g.sx
	d.offs = make([]int, 0, s.k)
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			c := kx * g.dx
			d.offs = append(d.offs, (c%g.sx*d.hp+ky*g.dy)*d.wq+c/g.sx)
		}
	}
	return d
}

// planeLen is the number of elements of one padded plane (all phases).
func (d dwGeom) planeLen() int { return d.s.g.sx * d.hp * d.wq }

// rowOff is where output row oy's tap runs start, relative to offs.
func (d dwGeom) rowOff(oy int) int { return oy * d.s.g.sy * d.wq }

// dwPad copies the h×wd plane at src[off] (row stride rs, column stride
// cs) into p, d's padded plane in phase planes, zero around it. With sx
// above 1 it writes only the input's positions, the same ones for every
// plane of d, so the caller clears p once and the zeros around
// stay.
func dwPad[T float](d dwGeom, p []T, src []T, off, rs, cs int) {
	s, sx := d.s, d.s.g.sx
	p = p[:d.planeLen()]
	if sx == 1 {
		padPlane(p, src, off, rs, cs, s.h, s.wd, d.wp, s.g.py, s.g.px)
		return
	}
	if sx == 2 && cs == 1 {
		dwPad2(d, p, src, off, rs)
		return
	}
	for ph := 0; ph < sx; ph++ {
		x0, j0 := d.phaseStart(ph)
		for y := 0; y < s.h; y++ {
			row := p[(ph*d.hp+y+s.g.py)*d.wq+j0 : (ph*d.hp+y+s.g.py+1)*d.wq]
			o := off + y*rs + x0*cs
			row = row[:(s.wd-x0+sx-1)/sx]
			if cs == 1 {
				r := src[o : o+(len(row)-1)*sx+1]
				for j := range row {
					row[j] = r[j*sx]
				}
				continue
			}
			for j := range row {
				row[j] = src[o+j*sx*cs]
			}
		}
	}
}

// dwPad2 is dwPad's phase split for sx = 2 and contiguous rows: input
// columns 2i and 2i+1 go to column i + px/2 of phase px mod 2 and column
// i + (px+1)/2 of the other phase (p is zeroed by the caller).
func dwPad2[T float](d dwGeom, p []T, src []T, off, rs int) {
	s := d.s
	if s.h == 0 || s.wd == 0 {
		return
	}
	a, b := d.phaseRows2()
	dwSplit2(p[a:], p[b:], src[off:], s.wd, s.h, rs, d.wq)
}

// phaseRows2 returns, for sx = 2, where the first input row's even
// columns (0, 2, …) and odd columns start in the phase planes.
func (d dwGeom) phaseRows2() (a, b int) {
	px, py := d.s.g.px, d.s.g.py
	a = (px%2*d.hp+py)*d.wq + px/2
	b = ((px+1)%2*d.hp+py)*d.wq + (px+1)/2
	return a, b
}

// dwSplit2 sets a[y·qs+i] = r[y·rs+2i] and b[y·qs+i] = r[y·rs+2i+1] for
// rows rows of n values of r: each row's even and odd columns.
func dwSplit2[T float](a, b, r []T, n, rows, rs, qs int) {
	if n == 0 || rows == 0 {
		return
	}
	if r32, ok := any(r).([]float32); ok && hasDepthwiseAsm && !vecOff {
		dwSplit2Asm(any(a).([]float32), any(b).([]float32), r32, n, rows, rs, qs)
		return
	}
	dwSplit2Go(a, b, r, n, rows, rs, qs)
}

// dwSplit2Go is dwSplit2 in Go, the twin of dwSplit2AVX512.
func dwSplit2Go[T float](a, b, r []T, n, rows, rs, qs int) {
	for y := 0; y < rows; y++ {
		ra, rb, rr := a[y*qs:y*qs+(n+1)/2], b[y*qs:y*qs+n/2], r[y*rs:y*rs+n]
		for i := range rb {
			ra[i], rb[i] = rr[2*i], rr[2*i+1]
		}
		if n%2 == 1 {
			ra[len(ra)-1] = rr[n-1]
		}
	}
}

// dwMerge2 is the inverse of dwSplit2: r[y·rs+2i] = a[y·qs+i] and
// r[y·rs+2i+1] = b[y·qs+i].
func dwMerge2[T float](r, a, b []T, n, rows, rs, qs int) {
	if n == 0 || rows == 0 {
		return
	}
	if r32, ok := any(r).([]float32); ok && hasDepthwiseAsm && !vecOff {
		dwMerge2Asm(r32, any(a).([]float32), any(b).([]float32), n, rows, rs, qs)
		return
	}
	dwMerge2Go(r, a, b, n, rows, rs, qs)
}

// dwMerge2Go is dwMerge2 in Go, the twin of dwMerge2AVX512.
func dwMerge2Go[T float](r, a, b []T, n, rows, rs, qs int) {
	for y := 0; y < rows; y++ {
		ra, rb, rr := a[y*qs:y*qs+(n+1)/2], b[y*qs:y*qs+n/2], r[y*rs:y*rs+n]
		for i := range rb {
			rr[2*i], rr[2*i+1] = ra[i], rb[i]
		}
		if n%2 == 1 {
			rr[n-1] = ra[len(ra)-1]
		}
	}
}

// phaseStart returns the first input column x0 that phase ph holds and
// where in the phase's rows it lies: x0 + px ≡ ph (mod sx), at column
// (x0 + px)/sx.
func (d dwGeom) phaseStart(ph int) (x0, j0 int) {
	sx, px := d.s.g.sx, d.s.g.px
	x0 = ((ph-px)%sx + sx) % sx
	return x0, (x0 + px) / sx
}

// dwUnpad copies the interior of the padded plane q (phase planes) into
// out, h×wd contiguous.
func dwUnpad[T float](d dwGeom, out, q []T) {
	s, sx := d.s, d.s.g.sx
	if sx == 2 {
		if s.h > 0 && s.wd > 0 {
			a, b := d.phaseRows2()
			dwMerge2(out, q[a:], q[b:], s.wd, s.h, s.wd, d.wq)
		}
		return
	}
	for y := 0; y < s.h; y++ {
		yy := y + s.g.py
		row := out[y*s.wd : (y+1)*s.wd]
		if sx == 1 {
			r := yy*d.wq + s.g.px
			copy(row, q[r:r+s.wd])
			continue
		}
		for ph := 0; ph < sx; ph++ {
			x0, j0 := d.phaseStart(ph)
			qr := q[(ph*d.hp+yy)*d.wq+j0 : (ph*d.hp+yy+1)*d.wq]
			qr = qr[:(s.wd-x0+sx-1)/sx]
			r := row[x0 : x0+(len(qr)-1)*sx+1]
			for j, v := range qr {
				r[j*sx] = v
			}
		}
	}
}

// dwWeights gathers channel c's K taps of weight (strides ws0, ws1 from
// off) into w.
func dwWeights[T float](w []T, wdat []T, off, ws0, ws1, c int) {
	for t := range w {
		w[t] = wdat[off+c*ws0+t*ws1]
	}
}

// dwTaps sets o[r·os+i] = Σ_t w[t]·x[r·xs+offs[t]+i] for rows rows of n
// values (os ≥ n), the taps summed in order: rows of a forward output
// (row r's taps xs further on in the padded plane), or of one phase of an
// input gradient gathered from the padded output gradient.
func dwTaps[T float](o, x []T, offs []int, w []T, n, rows, xs, os int) {
	if n == 0 || rows == 0 {
		return
	}
	if len(offs) == 0 {
		for r := 0; r < rows; r++ {
			clear(o[r*os : r*os+n])
		}
		return
	}
	if o32, ok := any(o).([]float32); ok && hasDepthwiseAsm && !vecOff {
		dwTapsAsm(o32, any(x).([]float32), offs, any(w).([]float32), n, rows, xs, os)
		return
	}
	dwTapsGo(o, x, offs, w, n, rows, xs, os)
}

// dwTapsGo is dwTaps in Go, the twin of dwTapsAVX512.
func dwTapsGo[T float](o, x []T, offs []int, w []T, n, rows, xs, os int) {
	for r := 0; r < rows; r++ {
		or := o[r*os : r*os+n]
		clear(or)
		for t, off := range offs {
			a, xr := w[t], x[r*xs+off:r*xs+off+n]
			for i, v := range xr {
				or[i] += a * v
			}
		}
	}
}

// dwLanes is the number of running sums per tap of dwDot: one vector.
const dwLanes = 16

// dwDot adds g[r·n+i]·p[r·ps+offs[t]+i] to acc[dwLanes·t + i mod dwLanes]
// for rows rows of n values of g: the weight gradient's sums, tap t's in
// dwLanes running sums, row by row, tap by tap, in order of i.
func dwDot[T float](acc, g, p []T, offs []int, n, rows, ps int) {
	if n == 0 || rows == 0 {
		return
	}
	if a32, ok := any(acc).([]float32); ok && hasDepthwiseAsm && !vecOff {
		dwDotAsm(a32, any(g).([]float32), any(p).([]float32), offs, n, rows, ps)
		return
	}
	dwDotGo(acc, g, p, offs, n, rows, ps)
}

// dwDotGo is dwDot in Go, the twin of dwDotAVX512.
func dwDotGo[T float](acc, g, p []T, offs []int, n, rows, ps int) {
	acc = acc[:dwLanes*len(offs)]
	for r := 0; r < rows; r++ {
		gr := g[r*n : (r+1)*n]
		for t, off := range offs {
			a, pr := acc[dwLanes*t:dwLanes*(t+1)], p[r*ps+off:r*ps+off+n]
			for i, v := range gr {
				a[i%dwLanes] += v * pr[i]
			}
		}
	}
}

// dwDyPlane returns the output gradient of image i, channel c as a
// contiguous oh×ow slice: in place where its last dim is contiguous,
// else copied into buf.
func dwDyPlane[T float](s convShape, yd []T, yoff int, ys [3]int, i, c int, buf []T) []T {
	o := yoff + i*ys[0] + c*ys[1]
	if ys[2] == 1 {
		return yd[o : o+s.l]
	}
	buf = buf[:s.l]
	for j := range buf {
		buf[j] = yd[o+j*ys[2]]
	}
	return buf
}

// depthwiseForward is convForward for a depthwise s: d holds the output
// [N, C, L] (contiguous), image returns the input's storage, offset and
// strides for image i.
func depthwiseForward[T float](d []T, s convShape, image func(i int) ([]T, int, [4]int), wdat []T, woff, ws0, ws1 int) {
	dg, m := dwGeomOf(s), s.co
	parallelFor(s.n*s.c, 1, func(lo, hi int) {
		buf := getConvBuf[T](dg.planeLen() + s.k)
		p, w := buf[:dg.planeLen()], buf[dg.planeLen():]
		clear(p) // dwPad's zeros
		for pl := lo; pl < hi; pl++ {
			i, c := pl/s.c, pl%s.c
			src, off, st := image(i)
			dwPad(dg, p, src, off+c*st[1], st[2], st[3])
			for j := 0; j < m; j++ {
				// output channel c·m + j, plane pl·m + j of d
				o := (pl*m + j) * s.l
				dwWeights(w, wdat, woff, ws0, ws1, c*m+j)
				dwTaps(d[o:o+s.l], p, dg.offs, w, s.ow, s.oh, dg.rowOff(1), s.ow)
			}
		}
		putConvBuf(buf)
	})
}

// depthwiseBackInput is convBackwardInput for a depthwise s: d holds the
// input gradient [N, C, H, W] (contiguous), the output gradient dy is
// yd from yoff with strides ys. Each plane of dy is copied into a
// zero-padded plane, and the input gradient gathered from it by dwTaps,
// one call per part of dwGatherOf; with a column stride above 1 the
// parts are phase planes, merged by dwUnpad. With m output channels per
// input channel, their m padded planes lie one after another and each
// part's taps are repeated for each, so one dwTaps call sums them all.
func depthwiseBackInput[T float](d []T, s convShape, yd []T, yoff int, ys [3]int, wdat []T, woff, ws0, ws1 int) {
	if s.l == 0 {
		clear(d[:s.n*s.c*s.h*s.wd])
		return
	}
	dg, gg, m := dwGeomOf(s), dwGatherOf(s), s.co
	hw, sx, np := s.h*s.wd, s.g.sx, gg.ohp*gg.wdp
	// parts' taps and offsets over the m planes: plane j's tap t is
	// weight j·K + t, its runs np·j further on.
	taps, offs := make([][]int, len(gg.parts)), make([][]int, len(gg.parts))
	for k, pt := range gg.parts {
		for j := 0; j < m; j++ {
			for x, t := range pt.taps {
				taps[k] = append(taps[k], j*s.k+t)
				offs[k] = append(offs[k], pt.offs[x]+j*np)
			}
		}
	}
	parallelFor(s.n*s.c, 1, func(lo, hi int) {
		nq := 0
		if sx > 1 {
			nq = dg.planeLen()
		}
		buf := getConvBuf[T](nq + m*np + 2*m*s.k)
		q, yp, w := buf[:nq], buf[nq:nq+m*np], buf[nq+m*np:nq+m*np+m*s.k]
		wt := buf[nq+m*np+m*s.k:]
		for pl := lo; pl < hi; pl++ {
			i, c := pl/s.c, pl%s.c
			for j := 0; j < m; j++ {
				oc := c*m + j
				dwWeights(w[j*s.k:(j+1)*s.k], wdat, woff, ws0, ws1, oc)
				padPlane(yp[j*np:(j+1)*np], yd, yoff+i*ys[0]+oc*ys[1], s.ow*ys[2], ys[2], s.oh, s.ow, gg.wdp, gg.mt, gg.ml)
			}
			out := d[pl*hw : (pl+1)*hw]
			if sx > 1 {
				out = q
			}
			for k, pt := range gg.parts {
				for x, t := range taps[k] {
					wt[x] = w[t]
				}
				dwTaps(out[pt.o0:], yp, offs[k], wt, pt.n, pt.rows, gg.wdp, pt.os)
			}
			if sx > 1 {
				dwUnpad(dg, d[pl*hw:(pl+1)*hw], q)
			}
		}
		putConvBuf(buf)
	})
}

// dwGather is the input gradient of a depthwise s as a gather: input
// position (y, x) is Σ w[ky,kx]·dy[oy, ox] over the taps with
// y + py = oy·sy + ky·dy and x + px = ox·sx + kx·dx. The positions with
// y + py ≡ r (mod sy) and x + px ≡ ph (mod sx) take the same taps, dy's
// row and column shifted by a constant per tap: a part, whose rows are
// dwTaps rows over dy's plane copied, with zero margins mt above and ml
// to the left, into an ohp×wdp plane.
type dwGather struct {
	ohp, wdp, mt, ml int
	parts            []dwPart
}

// dwPart is one (row class, column phase) of dwGather: the taps' indices
// and their runs' offsets in the padded dy plane for the part's first
// row; its rows × n values start at o0 and lie os apart, in the input
// gradient's plane for sx = 1, else in dwGeom's phase planes.
type dwPart struct {
	taps, offs      []int
	o0, os, n, rows int
}

func dwGatherOf(s convShape) dwGather {
	g, dg := s.g, dwGeomOf(s)
	var gg dwGather
	type run struct{ oy, ox int }
	var runs [][]run
	minY, maxY, minX, maxX := 0, s.oh-1, 0, s.ow-1
	for r := 0; r < g.sy; r++ {
		y0 := g.py + ((r-g.py)%g.sy+g.sy)%g.sy
		if y0 >= g.py+s.h {
			continue
		}
		rows := (g.py+s.h-1-y0)/g.sy + 1
		for ph := 0; ph < g.sx; ph++ {
			x0, j0 := dg.phaseStart(ph)
			if x0 >= s.wd {
				continue
			}
			pt := dwPart{n: (s.wd - x0 + g.sx - 1) / g.sx, rows: rows}
			if g.sx == 1 {
				pt.o0, pt.os = (y0-g.py)*s.wd, g.sy*s.wd
			} else {
				pt.o0, pt.os = (ph*dg.hp+y0)*dg.wq+j0, g.sy*dg.wq
			}
			var rs []run
			for ky := 0; ky < g.kh; ky++ {
				for kx := 0; kx < g.kw; kx++ {
					ry, rx := y0-ky*g.dy, ph-kx*g.dx
					if ry%g.sy != 0 || rx%g.sx != 0 {
						continue
					}
					ru := run{ry / g.sy, j0 + rx/g.sx}
					minY, maxY = min(minY, ru.oy), max(maxY, ru.oy+rows-1)
					minX, maxX = min(minX, ru.ox), max(maxX, ru.ox+pt.n-1)
					pt.taps = append(pt.taps, ky*g.kw+kx)
					rs = append(rs, ru)
				}
			}
			gg.parts = append(gg.parts, pt)
			runs = append(runs, rs)
		}
	}
	gg.mt, gg.ml = -minY, -minX
	gg.ohp, gg.wdp = maxY-minY+1, maxX-minX+1
	for i, rs := range runs {
		for _, ru := range rs {
			gg.parts[i].offs = append(gg.parts[i].offs, (ru.oy+gg.mt)*gg.wdp+ru.ox+gg.ml)
		}
	}
	return gg
}

// depthwiseBackWeight is convBackwardWeight for a depthwise s: d is the
// weight gradient [C, K] (contiguous). Each channel's taps are summed by
// dwDot in float32 running sums over a chunk of rows (dwChunkRows), and
// the chunks' sums in float64 over the images in order, so the result is
// the same for any number of threads. The images are the outer loop and
// a goroutine's channels the inner one, so that the planes are read in
// the order they lie in memory (an image's channels are adjacent), not
// an image's size apart.
func depthwiseBackWeight[T float](d []T, s convShape, image func(i int) ([]T, int, [4]int), yd []T, yoff int, ys [3]int) {
	dg, m := dwGeomOf(s), s.co
	chunk := dwChunkRows(s.ow)
	parallelFor(s.c, 1, func(lo, hi int) {
		n := dg.planeLen()
		buf := getConvBuf[T](n + s.l + dwLanes*s.k)
		p, yb, a32 := buf[:n], buf[n:n+s.l], buf[n+s.l:]
		clear(p) // dwPad's zeros
		// output channels lo·m … hi·m, rows of d
		acc := make([]float64, (hi-lo)*m*s.k)
		for i := 0; i < s.n; i++ {
			src, off, st := image(i)
			for c := lo; c < hi; c++ {
				dwPad(dg, p, src, off+c*st[1], st[2], st[3])
				for j := 0; j < m; j++ {
					oc := c*m + j
					gy := dwDyPlane(s, yd, yoff, ys, i, oc, yb)
					ac := acc[(oc-lo*m)*s.k : (oc-lo*m+1)*s.k]
					for oy := 0; oy < s.oh; oy += chunk {
						rows := min(chunk, s.oh-oy)
						clear(a32)
						dwDot(a32, gy[oy*s.ow:], p[dg.rowOff(oy):], dg.offs, s.ow, rows, dg.rowOff(1))
						for t := range ac {
							ac[t] += dwLaneSum(a32[dwLanes*t : dwLanes*(t+1)])
						}
					}
				}
			}
		}
		for j, v := range acc {
			d[lo*m*s.k+j] = T(v)
		}
		putConvBuf(buf)
	})
}

// dwChunkRows is how many output rows of n values dwDot sums into its
// float32 running sums before they are added into float64: about 64
// terms per running sum, so that a large plane's rounding stays that of
// a short sum.
func dwChunkRows(n int) int {
	return max(1, 64/max(1, (n+dwLanes-1)/dwLanes))
}

// dwLaneSum is the sum of a tap's running sums, in float64.
func dwLaneSum[T float](a []T) float64 {
	var s float64
	for _, v := range a {
		s += float64(v)
	}
	return s
}
