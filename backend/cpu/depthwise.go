package cpu

// Depthwise convolutions: as many groups as input channels, one input and
// one output channel per group (MobileNet's and EfficientNet's 3×3
// layers). As products, every group is a GEMM with a single row (the
// group's K weights times its K×L column matrix), so the GEMM paths spend
// their time unfolding, packing and in edge kernels. Here each channel's
// plane is copied once into a zero-padded scratch plane, after which every
// tap of every window is in bounds and the work is whole rows:
//
//   - forward: an output row is the sum over the K taps of a row of the
//     plane, shifted by the tap, times the tap's weight (dwTaps);
//   - input gradient: each output-gradient row is added, times each tap's
//     weight, into a zeroed padded plane at the tap (dwAxpy), and the
//     plane's interior is the gradient;
//   - weight gradient: a tap's gradient is the sum over images and output
//     rows of the dot product of an output-gradient row with the row of the
//     plane under the tap (dwDot), summed in float64.
//
// With a column stride sx above 1, the padded plane is kept as sx planes
// of every sx-th column (phase p holds columns p, p+sx, p+2sx, …), so a
// tap's row is again a contiguous run.
//
// Planes are independent, so the forward and the input gradient split
// them over the threads freely; the weight gradient splits the channels,
// each summed over the images in order, so it is the same for any number
// of threads.

// convDepthwise enables the depthwise path; tests switch it off to hold
// the other paths to the same cases.
var convDepthwise = true

// useDepthwise reports whether s is depthwise (one input and one output
// channel per group) and the direct path is on.
func useDepthwise(s convShape) bool {
	return convDepthwise && s.ci == 1 && s.co == 1
}

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
// cs) into p, d's padded plane in phase planes, zero around it.
func dwPad[T float](d dwGeom, p []T, src []T, off, rs, cs int) {
	s, sx := d.s, d.s.g.sx
	p = p[:d.planeLen()]
	if sx == 1 {
		padPlane(p, src, off, rs, cs, s.h, s.wd, d.wp, s.g.py, s.g.px)
		return
	}
	clear(p)
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
	s, px := d.s, d.s.g.px
	for y := 0; y < s.h; y++ {
		yy := y + s.g.py
		r := src[off+y*rs : off+y*rs+s.wd]
		a := p[(px%2*d.hp+yy)*d.wq+px/2 : (px%2*d.hp+yy+1)*d.wq]
		b := p[((px+1)%2*d.hp+yy)*d.wq+(px+1)/2 : ((px+1)%2*d.hp+yy+1)*d.wq]
		a, b = a[:(s.wd+1)/2], b[:s.wd/2]
		for i := range b {
			a[i], b[i] = r[2*i], r[2*i+1]
		}
		if s.wd%2 == 1 {
			a[len(a)-1] = r[s.wd-1]
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
	for y := 0; y < s.h; y++ {
		yy := y + s.g.py
		row := out[y*s.wd : (y+1)*s.wd]
		if sx == 1 {
			r := yy*d.wq + s.g.px
			copy(row, q[r:r+s.wd])
			continue
		}
		if sx == 2 {
			px := s.g.px
			a := q[(px%2*d.hp+yy)*d.wq+px/2 : (px%2*d.hp+yy+1)*d.wq]
			b := q[((px+1)%2*d.hp+yy)*d.wq+(px+1)/2 : ((px+1)%2*d.hp+yy+1)*d.wq]
			a, b = a[:(s.wd+1)/2], b[:s.wd/2]
			for i := range b {
				row[2*i], row[2*i+1] = a[i], b[i]
			}
			if s.wd%2 == 1 {
				row[s.wd-1] = a[len(a)-1]
			}
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

// dwTaps sets o[i] = Σ_t w[t]·x[offs[t]+i], the taps summed in order.
func dwTaps[T float](o, x []T, offs []int, w []T) {
	if len(o) == 0 {
		return
	}
	if o32, ok := any(o).([]float32); ok && hasDepthwiseAsm && !vecOff {
		dwTapsAsm(o32, any(x).([]float32), offs, any(w).([]float32))
		return
	}
	dwTapsGo(o, x, offs, w)
}

// dwTapsGo is dwTaps in Go, the twin of dwTapsAVX512.
func dwTapsGo[T float](o, x []T, offs []int, w []T) {
	clear(o)
	for t, off := range offs {
		a, xs := w[t], x[off:off+len(o)]
		for i, v := range xs {
			o[i] += a * v
		}
	}
}

// dwAxpy adds a·x[i] to o[i] for every i of o.
func dwAxpy[T float](o, x []T, a T) {
	if len(o) == 0 {
		return
	}
	if o32, ok := any(o).([]float32); ok && hasDepthwiseAsm && !vecOff {
		dwAxpyAsm(o32, any(x).([]float32), float32(a))
		return
	}
	dwAxpyGo(o, x, a)
}

// dwAxpyGo is dwAxpy in Go, the twin of dwAxpyAVX512.
func dwAxpyGo[T float](o, x []T, a T) {
	x = x[:len(o)]
	for i, v := range x {
		o[i] += a * v
	}
}

// dwDot is Σ x[i]·y[i] over i of x.
func dwDot[T float](x, y []T) T {
	if len(x) == 0 {
		return 0
	}
	if x32, ok := any(x).([]float32); ok && hasDepthwiseAsm && !vecOff {
		return T(dwDotAsm(x32, any(y).([]float32)))
	}
	return dwDotGo(x, y)
}

// dwDotGo is dwDot in Go, the twin of dwDotAVX512: 64 running sums (four
// vectors of 16 lanes), added as the kernel adds them.
func dwDotGo[T float](x, y []T) T {
	var s [4][16]T
	y = y[:len(x)]
	for i, v := range x {
		s[i/16%4][i%16] += v * y[i]
	}
	var l [16]T
	for j := range l {
		l[j] = (s[0][j] + s[1][j]) + (s[2][j] + s[3][j])
	}
	for w := 8; w >= 1; w /= 2 {
		for j := 0; j < w; j++ {
			l[j] += l[j+w]
		}
	}
	return l[0]
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
	dg := dwGeomOf(s)
	parallelFor(s.n*s.c, 1, func(lo, hi int) {
		buf := getConvBuf[T](dg.planeLen() + s.k)
		p, w := buf[:dg.planeLen()], buf[dg.planeLen():]
		for pl := lo; pl < hi; pl++ {
			i, c := pl/s.c, pl%s.c
			src, off, st := image(i)
			dwPad(dg, p, src, off+c*st[1], st[2], st[3])
			dwWeights(w, wdat, woff, ws0, ws1, c)
			out := d[pl*s.l : (pl+1)*s.l]
			for oy := 0; oy < s.oh; oy++ {
				dwTaps(out[oy*s.ow:(oy+1)*s.ow], p[dg.rowOff(oy):], dg.offs, w)
			}
		}
		putConvBuf(buf)
	})
}

// depthwiseBackInput is convBackwardInput for a depthwise s: d holds the
// input gradient [N, C, H, W] (contiguous), the output gradient dy is
// yd from yoff with strides ys.
func depthwiseBackInput[T float](d []T, s convShape, yd []T, yoff int, ys [3]int, wdat []T, woff, ws0, ws1 int) {
	dg := dwGeomOf(s)
	hw := s.h * s.wd
	parallelFor(s.n*s.c, 1, func(lo, hi int) {
		n := dg.planeLen()
		buf := getConvBuf[T](n + s.k + s.l)
		q, w, yb := buf[:n], buf[n:n+s.k], buf[n+s.k:]
		for pl := lo; pl < hi; pl++ {
			i, c := pl/s.c, pl%s.c
			dwWeights(w, wdat, woff, ws0, ws1, c)
			gy := dwDyPlane(s, yd, yoff, ys, i, c, yb)
			clear(q)
			for oy := 0; oy < s.oh; oy++ {
				row, qr := gy[oy*s.ow:(oy+1)*s.ow], q[dg.rowOff(oy):]
				for t, off := range dg.offs {
					dwAxpy(qr[off:off+s.ow], row, w[t])
				}
			}
			dwUnpad(dg, d[pl*hw:(pl+1)*hw], q)
		}
		putConvBuf(buf)
	})
}

// depthwiseBackWeight is convBackwardWeight for a depthwise s: d is the
// weight gradient [C, K] (contiguous), each channel's taps summed in
// float64 over images in order.
func depthwiseBackWeight[T float](d []T, s convShape, image func(i int) ([]T, int, [4]int), yd []T, yoff int, ys [3]int) {
	dg := dwGeomOf(s)
	parallelFor(s.c, 1, func(lo, hi int) {
		n := dg.planeLen()
		buf := getConvBuf[T](n + s.l)
		p, yb := buf[:n], buf[n:]
		acc := make([]float64, s.k)
		for c := lo; c < hi; c++ {
			clear(acc)
			for i := 0; i < s.n; i++ {
				src, off, st := image(i)
				dwPad(dg, p, src, off+c*st[1], st[2], st[3])
				gy := dwDyPlane(s, yd, yoff, ys, i, c, yb)
				for oy := 0; oy < s.oh; oy++ {
					row, pr := gy[oy*s.ow:(oy+1)*s.ow], p[dg.rowOff(oy):]
					for t, off := range dg.offs {
						acc[t] += float64(dwDot(row, pr[off:off+s.ow]))
					}
				}
			}
			for t, v := range acc {
				d[c*s.k+t] = T(v)
			}
		}
		putConvBuf(buf)
	})
}
