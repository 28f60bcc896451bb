package onnx

import (
	F "github.com/tapir-ml/tapir/nn/functional"
	"math"
	"sort"
	"strings"

	"github.com/tapir-ml/tapir/tensor"
)

// Einsum, signal windows, quantization, detection helpers and sampling.

func init() {
	register(opEinsum, "Einsum")
	register(windowOp("hann"), "HannWindow")
	register(windowOp("hamming"), "HammingWindow")
	register(windowOp("blackman"), "BlackmanWindow")
	register(opQuantizeLinear, "QuantizeLinear")
	register(opDequantizeLinear, "DequantizeLinear")
	register(opDynamicQuantizeLinear, "DynamicQuantizeLinear")
	register(opMatMulInteger, "MatMulInteger")
	register(opConvInteger, "ConvInteger")
	register(opQLinearMatMul, "QLinearMatMul")
	register(opQLinearConv, "QLinearConv")
	register(opNonMaxSuppression, "NonMaxSuppression")
	register(opMaxUnpool, "MaxUnpool")
	register(opGridSample, "GridSample")
}

// opEinsum evaluates an Einstein summation by broadcasting: each operand
// is permuted and unsqueezed onto the common list of letters, the
// operands are multiplied, and the letters that are not in the output are
// summed. Repeated letters in one operand take its diagonal. An ellipsis
// stands for the leading dims that the letters do not name.
func opEinsum(c *opCtx) []*tensor.Tensor {
	eq := strings.ReplaceAll(c.str("equation", ""), " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(c.in) {
		c.fail("equation %q has %d operands, the node %d inputs", eq, len(terms), len(c.in))
	}
	// Expand each ellipsis to capital letters, right-aligned.
	ellRank := 0
	for i, term := range terms {
		if strings.Contains(term, "...") {
			ellRank = max(ellRank, c.x(i).Dim()-(len(term)-3))
		}
	}
	ell := ""
	for i := 0; i < ellRank; i++ {
		ell += string(rune('A' + i))
	}
	ops := make([]*tensor.Tensor, len(terms))
	for i, term := range terms {
		x := c.x(i)
		if strings.Contains(term, "...") {
			n := x.Dim() - (len(term) - 3)
			if n < 0 {
				c.fail("operand %d of shape %v does not fit %q", i, x.Shape(), term)
			}
			term = strings.Replace(term, "...", ell[ellRank-n:], 1)
		}
		if len(term) != x.Dim() {
			c.fail("operand %d of shape %v does not fit %q", i, x.Shape(), term)
		}
		// Diagonals of repeated letters.
		for {
			j, k := repeated(term)
			if j < 0 {
				break
			}
			n := x.Size(j)
			if x.Size(k) != n {
				c.fail("dims %d and %d of operand %d differ", j, k, i)
			}
			eye := c.dev(tensor.Eye(n)).To(x.DType())
			sh := make([]int, x.Dim())
			for d := range sh {
				sh[d] = 1
			}
			sh[j], sh[k] = n, n
			x = x.Mul(eye.Reshape(sh...)).Sum(k)
			term = term[:k] + term[k+1:]
		}
		terms[i] = term
		ops[i] = x
	}
	if !explicit {
		count := map[rune]int{}
		for _, t := range terms {
			for _, r := range t {
				count[r]++
			}
		}
		var letters []string
		for r, n := range count {
			if n == 1 && !(r >= 'A' && r <= 'Z') {
				letters = append(letters, string(r))
			}
		}
		sort.Strings(letters)
		rhs = ell + strings.Join(letters, "")
	} else {
		rhs = strings.Replace(rhs, "...", ell, 1)
	}
	// All letters: the output's first, then the summed ones.
	all := rhs
	for _, t := range terms {
		for _, r := range t {
			if !strings.ContainsRune(all, r) {
				all += string(r)
			}
		}
	}
	var prodT *tensor.Tensor
	for i, x := range ops {
		term := terms[i]
		perm := []int{}
		for _, r := range all {
			if k := strings.IndexRune(term, r); k >= 0 {
				perm = append(perm, k)
			}
		}
		x = x.Permute(perm...)
		sh := make([]int, 0, len(all))
		pos := 0
		for _, r := range all {
			if strings.ContainsRune(term, r) {
				sh = append(sh, x.Size(pos))
				pos++
			} else {
				sh = append(sh, 1)
			}
		}
		x = x.Reshape(sh...)
		if prodT == nil {
			prodT = x
		} else {
			prodT = prodT.Mul(x)
		}
	}
	if len(all) > len(rhs) {
		dims := make([]int, 0, len(all)-len(rhs))
		for d := len(rhs); d < len(all); d++ {
			dims = append(dims, d)
		}
		prodT = prodT.Sum(dims...)
	}
	return one(prodT)
}

// repeated finds a letter that appears twice in term.
func repeated(term string) (int, int) {
	for j := 0; j < len(term); j++ {
		if k := strings.IndexByte(term[j+1:], term[j]); k >= 0 {
			return j, j + 1 + k
		}
	}
	return -1, -1
}

// windowOp builds HannWindow, HammingWindow or BlackmanWindow (opset 17).
func windowOp(kind string) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		nv := c.hostInts(c.x(0))
		if len(nv) != 1 || nv[0] < 0 {
			c.fail("size must be a non-negative scalar")
		}
		n := int(nv[0])
		c.checkSize([]int{n})
		dt, err := dtypeOf(int32(c.int("output_datatype", tFloat)))
		if err != nil {
			c.fail("%v", err)
		}
		den := float64(n)
		if c.int("periodic", 1) == 0 {
			den = float64(n - 1)
		}
		v := make([]float64, n)
		for i := range v {
			a := 2 * math.Pi * float64(i) / den
			switch kind {
			case "hann":
				v[i] = 0.5 - 0.5*math.Cos(a)
			case "hamming":
				v[i] = 25.0/46 - (1-25.0/46)*math.Cos(a)
			default:
				v[i] = 0.42 - 0.5*math.Cos(a) + 0.08*math.Cos(2*a)
			}
		}
		return one(c.dev(tensor.FromSlice(v)).To(dt))
	}
}

// perAxis reshapes a scale or zero point (a scalar or a 1-d tensor along
// axis) to broadcast over x.
func (c *opCtx) perAxis(v *tensor.Tensor, x *tensor.Tensor) *tensor.Tensor {
	if v.Numel() == 1 {
		return v.Reshape()
	}
	a := c.axis(c.int("axis", 1), x.Dim())
	sh := make([]int, x.Dim())
	for i := range sh {
		sh[i] = 1
	}
	sh[a] = v.Numel()
	return v.Reshape(sh...)
}

// saturate rounds half to even and clamps to the range of the quantized
// type: Uint8 is uint8; Int32, the widened type of INT8, is int8.
func saturate(x *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	lo, hi := 0.0, 255.0
	if dt != tensor.Uint8 {
		lo, hi = -128, 127
	}
	return x.Round().Clamp(lo, hi).To(dt)
}

func opQuantizeLinear(c *opCtx) []*tensor.Tensor {
	x, scale, zp := c.x(0), c.x(1), c.opt(2)
	// The division is in x's type, as the reference does: x/scale can
	// round to a tie (25.5) in float32 that float64 would not see.
	dt := tensor.Uint8
	xf := floatOf(x)
	y := xf.Div(c.perAxis(scale, x).To(xf.DType())).Round().To(tensor.Float64)
	if zp != nil {
		dt = zp.DType()
		y = y.Add(c.perAxis(zp, x).To(tensor.Float64))
	}
	return one(saturate(y, dt))
}

func opDequantizeLinear(c *opCtx) []*tensor.Tensor {
	x, scale, zp := c.x(0), c.x(1), c.opt(2)
	y := x.To(tensor.Float32)
	if zp != nil {
		y = y.Sub(c.perAxis(zp, x).To(tensor.Float32))
	}
	return one(y.Mul(c.perAxis(scale, x).To(tensor.Float32)))
}

func opDynamicQuantizeLinear(c *opCtx) []*tensor.Tensor {
	x := c.x(0).To(tensor.Float32)
	lo := math.Min(0, x.Amin().Item())
	hi := math.Max(0, x.Amax().Item())
	scale := float64(float32((hi - lo) / 255))
	if scale == 0 {
		scale = 1
	}
	zp := math.Min(math.Max(math.RoundToEven(float64(float32(-lo)/float32(scale))), 0), 255)
	// In float32, as the reference (see QuantizeLinear).
	q := x.Div(c.full(tensor.Float32, scale)).Round().To(tensor.Float64)
	y := saturate(q.AddScalar(zp), tensor.Uint8)
	return []*tensor.Tensor{y, c.full(tensor.Float32, scale), c.full(tensor.Uint8, zp)}
}

// centered converts a quantized tensor to Float64 minus its zero point.
func centered(c *opCtx, x, zp *tensor.Tensor, perAxis func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	y := x.To(tensor.Float64)
	if zp != nil {
		y = y.Sub(perAxis(zp.To(tensor.Float64)))
	}
	return y
}

func opMatMulInteger(c *opCtx) []*tensor.Tensor {
	a, b := c.x(0), c.x(1)
	// a's zero point is per row (last-but-one dim), b's per column.
	ac := centered(c, a, c.opt(2), func(z *tensor.Tensor) *tensor.Tensor {
		if z.Numel() == 1 {
			return z.Reshape()
		}
		return z.Reshape(-1, 1)
	})
	bc := centered(c, b, c.opt(3), func(z *tensor.Tensor) *tensor.Tensor { return z.Reshape(-1) })
	return one(ac.MatMul(bc).Round().To(tensor.Int32))
}

// intConv runs Conv on Float64 copies of integer operands.
func intConv(c *opCtx, x, w *tensor.Tensor) *tensor.Tensor {
	in := append([]*tensor.Tensor{}, c.in...)
	c.in = []*tensor.Tensor{x, w}
	defer func() { c.in = in }()
	return opConv(c)[0]
}

func opConvInteger(c *opCtx) []*tensor.Tensor {
	x, w := c.x(0), c.x(1)
	xc := centered(c, x, c.opt(2), func(z *tensor.Tensor) *tensor.Tensor { return z.Reshape() })
	wc := centered(c, w, c.opt(3), func(z *tensor.Tensor) *tensor.Tensor {
		if z.Numel() == 1 {
			return z.Reshape()
		}
		return channelView(z, w.Dim()).Transpose(0, 1)
	})
	return one(intConv(c, xc, wc).Round().To(tensor.Int32))
}

func opQLinearMatMul(c *opCtx) []*tensor.Tensor {
	a, as, azp, b, bs, bzp, ys, yzp := c.x(0), c.x(1), c.x(2), c.x(3), c.x(4), c.x(5), c.x(6), c.x(7)
	ac := a.To(tensor.Float64).Sub(azp.To(tensor.Float64).Reshape(-1, 1)).Mul(as.To(tensor.Float64).Reshape(-1, 1))
	bc := b.To(tensor.Float64).Sub(bzp.To(tensor.Float64).Reshape(-1)).Mul(bs.To(tensor.Float64).Reshape(-1))
	if azp.Numel() == 1 {
		ac = a.To(tensor.Float64).Sub(azp.To(tensor.Float64).Reshape()).Mul(as.To(tensor.Float64).Reshape())
	}
	if bzp.Numel() == 1 {
		bc = b.To(tensor.Float64).Sub(bzp.To(tensor.Float64).Reshape()).Mul(bs.To(tensor.Float64).Reshape())
	}
	y := ac.MatMul(bc).Div(ys.To(tensor.Float64).Reshape()).Round().Add(yzp.To(tensor.Float64).Reshape())
	return one(saturate(y, yzp.DType()))
}

func opQLinearConv(c *opCtx) []*tensor.Tensor {
	x, xs, xzp, w, ws, wzp, ys, yzp, b := c.x(0), c.x(1), c.x(2), c.x(3), c.x(4), c.x(5), c.x(6), c.x(7), c.opt(8)
	xf := x.To(tensor.Float64).Sub(xzp.To(tensor.Float64).Reshape())
	wv := func(v *tensor.Tensor) *tensor.Tensor {
		if v.Numel() == 1 {
			return v.To(tensor.Float64).Reshape()
		}
		return channelView(v.To(tensor.Float64), w.Dim()).Transpose(0, 1)
	}
	wf := w.To(tensor.Float64).Sub(wv(wzp))
	acc := intConv(c, xf, wf)
	if b != nil {
		acc = acc.Add(channelView(b.To(tensor.Float64), acc.Dim()))
	}
	scale := xs.To(tensor.Float64).Reshape().Mul(channelView(ws.To(tensor.Float64).Reshape(-1), acc.Dim())).Div(ys.To(tensor.Float64).Reshape())
	y := acc.Mul(scale).Round().Add(yzp.To(tensor.Float64).Reshape())
	return one(saturate(y, yzp.DType()))
}

// opNonMaxSuppression selects boxes greedily by score, per batch and
// class, on the host.
func opNonMaxSuppression(c *opCtx) []*tensor.Tensor {
	boxes, scores := c.x(0), c.x(1)
	if boxes.Dim() != 3 || boxes.Size(2) != 4 || scores.Dim() != 3 || scores.Size(0) != boxes.Size(0) || scores.Size(2) != boxes.Size(1) {
		c.fail("boxes %v and scores %v do not fit", boxes.Shape(), scores.Shape())
	}
	maxOut := int64(0)
	if v, ok := c.optInts(2); ok && len(v) > 0 {
		maxOut = v[0]
	}
	iouTh, scoreTh := 0.0, math.Inf(-1)
	if t := c.opt(3); t != nil && t.Numel() > 0 {
		iouTh = t.Float64s()[0]
	}
	if t := c.opt(4); t != nil && t.Numel() > 0 {
		scoreTh = t.Float64s()[0]
	}
	center := c.int("center_point_box", 0) == 1
	bv, sv := boxes.Contiguous().Float64s(), scores.Contiguous().Float64s()
	N, C, S := scores.Size(0), scores.Size(1), scores.Size(2)
	corners := func(n, i int) (y1, x1, y2, x2 float64) {
		b := bv[(n*S+i)*4:]
		if center {
			xc, yc, w, h := b[0], b[1], b[2], b[3]
			return yc - h/2, xc - w/2, yc + h/2, xc + w/2
		}
		return math.Min(b[0], b[2]), math.Min(b[1], b[3]), math.Max(b[0], b[2]), math.Max(b[1], b[3])
	}
	iou := func(n, i, j int) float64 {
		ay1, ax1, ay2, ax2 := corners(n, i)
		by1, bx1, by2, bx2 := corners(n, j)
		ih := math.Max(0, math.Min(ay2, by2)-math.Max(ay1, by1))
		iw := math.Max(0, math.Min(ax2, bx2)-math.Max(ax1, bx1))
		inter := ih * iw
		union := (ay2-ay1)*(ax2-ax1) + (by2-by1)*(bx2-bx1) - inter
		if union <= 0 {
			return 0
		}
		return inter / union
	}
	var sel []int64
	for n := 0; n < N; n++ {
		for cl := 0; cl < C; cl++ {
			sc := sv[(n*C+cl)*S : (n*C+cl+1)*S]
			var cand []int
			for i, s := range sc {
				if s > scoreTh {
					cand = append(cand, i)
				}
			}
			sort.SliceStable(cand, func(a, b int) bool { return sc[cand[a]] > sc[cand[b]] })
			var kept []int
			for _, i := range cand {
				if int64(len(kept)) >= maxOut {
					break
				}
				ok := true
				for _, k := range kept {
					if iou(n, i, k) > iouTh {
						ok = false
						break
					}
				}
				if ok {
					kept = append(kept, i)
					sel = append(sel, int64(n), int64(cl), int64(i))
				}
			}
		}
	}
	return one(c.intTensor(sel, len(sel)/3, 3))
}

// opMaxUnpool scatters values to the positions MaxPool's indices name.
func opMaxUnpool(c *opCtx) []*tensor.Tensor {
	x, idx := c.x(0), c.x(1)
	sp := spatial(c, x)
	w := c.windowAttrs(sp, nil)
	// The indices count in the default output shape; an output_shape
	// input keeps each value at the same coordinates in a larger tensor.
	dflt := append([]int{}, x.Shape()[:2]...)
	for i, s := range sp {
		dflt = append(dflt, (s-1)*w.strides[i]+w.kernel[i]-w.padBegin[i]-w.padEnd[i])
	}
	out := dflt
	if t := c.opt(2); t != nil {
		out = c.toInts(c.hostInts(t))
		if len(out) != x.Dim() {
			c.fail("output_shape %v for rank %d", out, x.Dim())
		}
	}
	c.checkSize(out)
	iv := c.hostInts(idx.Contiguous())
	for k, v := range iv {
		lin, rem := int64(0), v
		coords := make([]int64, len(dflt))
		for d := len(dflt) - 1; d >= 0; d-- {
			coords[d] = rem % int64(max(dflt[d], 1))
			rem /= int64(max(dflt[d], 1))
		}
		for d := range out {
			lin = lin*int64(out[d]) + coords[d]
		}
		iv[k] = lin
	}
	y := c.full(x.DType(), 0, prod(out)).ScatterAdd(0, c.intTensor(iv), x.Reshape(-1))
	return one(y.Reshape(out...))
}

// opGridSample samples x ([N, C, H, W]) at the grid's points ([N, Ho, Wo,
// 2], x then y in [−1, 1]). Positions and weights are computed on the host
// from the grid; gradients flow to x, not to the grid.
func opGridSample(c *opCtx) []*tensor.Tensor {
	x, grid := c.x(0), c.x(1)
	if x.Dim() != 4 || grid.Dim() != 4 || grid.Size(3) != 2 || grid.Size(0) != x.Size(0) {
		c.fail("input %v and grid %v do not fit", x.Shape(), grid.Shape())
	}
	mode := c.str("mode", "bilinear")
	pad := c.str("padding_mode", "zeros")
	align := c.int("align_corners", 0) == 1
	N, C, H, W := x.Size(0), x.Size(1), x.Size(2), x.Size(3)
	Ho, Wo := grid.Size(1), grid.Size(2)
	g := grid.Contiguous().Float64s()
	unnorm := func(v float64, n int) float64 {
		if align {
			return (v + 1) / 2 * float64(n-1)
		}
		return ((v+1)*float64(n) - 1) / 2
	}
	reflect := func(v, lo, hi float64) float64 {
		if lo == hi {
			return lo
		}
		span := hi - lo
		v = math.Abs(v - lo)
		k := math.Floor(v / span)
		r := v - k*span
		if int(k)%2 == 0 {
			return lo + r
		}
		return hi - r
	}
	// clean applies the padding mode to a coordinate for taps.
	clean := func(v float64, n int) float64 {
		switch pad {
		case "border":
			return math.Min(math.Max(v, 0), float64(n-1))
		case "reflection":
			if align {
				v = reflect(v, 0, float64(n-1))
			} else {
				v = reflect(v, -0.5, float64(n)-0.5)
			}
			return math.Min(math.Max(v, 0), float64(n-1))
		}
		return v
	}
	type tap struct {
		dy, dx int
	}
	var taps []tap
	switch mode {
	case "nearest":
		taps = []tap{{0, 0}}
	case "bilinear":
		taps = []tap{{0, 0}, {0, 1}, {1, 0}, {1, 1}}
	case "bicubic":
		for dy := -1; dy <= 2; dy++ {
			for dx := -1; dx <= 2; dx++ {
				taps = append(taps, tap{dy, dx})
			}
		}
	default:
		c.fail("unknown mode %q", mode)
	}
	if pad != "zeros" && pad != "border" && pad != "reflection" {
		c.fail("unknown padding_mode %q", pad)
	}
	L := Ho * Wo
	idx := make([][]int64, len(taps))
	wts := make([][]float64, len(taps))
	for k := range taps {
		idx[k] = make([]int64, N*L)
		wts[k] = make([]float64, N*L)
	}
	cubic := func(t float64) [4]float64 {
		const a = -0.75
		w := [4]float64{}
		for j := 0; j < 4; j++ {
			d := math.Abs(t - float64(j-1))
			switch {
			case d <= 1:
				w[j] = ((a+2)*d-(a+3))*d*d + 1
			case d < 2:
				w[j] = ((a*d-5*a)*d+8*a)*d - 4*a
			}
		}
		return w
	}
	for n := 0; n < N; n++ {
		for l := 0; l < L; l++ {
			gx, gy := g[(n*L+l)*2], g[(n*L+l)*2+1]
			px, py := unnorm(gx, W), unnorm(gy, H)
			if mode != "bicubic" {
				px, py = clean(px, W), clean(py, H)
			}
			var x0, y0 int
			var fx, fy float64
			switch mode {
			case "nearest":
				x0, y0 = int(math.RoundToEven(px)), int(math.RoundToEven(py))
			default:
				x0, y0 = int(math.Floor(px)), int(math.Floor(py))
				fx, fy = px-float64(x0), py-float64(y0)
			}
			var cx, cy [4]float64
			if mode == "bicubic" {
				cx, cy = cubic(fx), cubic(fy)
			}
			for k, t := range taps {
				yy, xx := y0+t.dy, x0+t.dx
				var wgt float64
				switch mode {
				case "nearest":
					wgt = 1
				case "bilinear":
					wx, wy := 1-fx, 1-fy
					if t.dx == 1 {
						wx = fx
					}
					if t.dy == 1 {
						wy = fy
					}
					wgt = wx * wy
				default:
					wgt = cx[t.dx+1] * cy[t.dy+1]
				}
				if mode == "bicubic" && pad != "zeros" {
					yy = int(clean(float64(yy), H))
					xx = int(clean(float64(xx), W))
				}
				if yy < 0 || yy >= H || xx < 0 || xx >= W {
					wgt, yy, xx = 0, 0, 0
				}
				idx[k][n*L+l] = int64(yy*W + xx)
				wts[k][n*L+l] = wgt
			}
		}
	}
	flat := x.Reshape(N, C, H*W)
	var y *tensor.Tensor
	for k := range taps {
		it := c.intTensor(idx[k], N, 1, L).Expand(N, C, L)
		term := flat.Gather(2, it).Mul(c.dev(tensor.FromSlice(wts[k], N, 1, L)).To(x.DType()))
		if y == nil {
			y = term
		} else {
			y = y.Add(term)
		}
	}
	return one(y.Reshape(N, C, Ho, Wo))
}

func init() {
	register(opDFT, "DFT")
	register(opSTFT, "STFT")
}

// dft is the discrete Fourier transform along axis a of x ([…, 1 or 2]:
// real, or real and imaginary parts in the last dim) with n points (the
// signal is zero-padded or truncated to n), returning [… K …, 2] with K =
// n, or n/2+1 when onesided. It multiplies by cosine and sine matrices, so
// it is differentiable.
func dft(c *opCtx, x *tensor.Tensor, a, n int, inverse, onesided bool) *tensor.Tensor {
	if x.Dim() < 2 || (x.Size(-1) != 1 && x.Size(-1) != 2) {
		c.fail("input of shape %v must end in a dim of 1 (real) or 2 (complex)", x.Shape())
	}
	if a == x.Dim()-1 {
		c.fail("axis %d is the complex dim", a)
	}
	if n < 1 {
		c.fail("DFT length %d", n)
	}
	dt := x.DType()
	xf := x.To(tensor.Float64)
	// The signal dim last: [… , N] for each of the real and imaginary parts.
	re := xf.Select(-1, 0).Transpose(a, x.Dim()-2)
	var im *tensor.Tensor
	if x.Size(-1) == 2 {
		im = xf.Select(-1, 1).Transpose(a, x.Dim()-2)
	}
	fit := func(t *tensor.Tensor) *tensor.Tensor {
		if t == nil {
			return nil
		}
		if m := t.Size(-1); m > n {
			return t.Narrow(-1, 0, n)
		} else if m < n {
			return F.Pad(t, []int{0, n - m}, "constant", 0)
		}
		return t
	}
	re, im = fit(re), fit(im)
	k := n
	if onesided {
		k = n/2 + 1
	}
	c.checkSize([]int{n, k})
	cos, sin := make([]float64, n*k), make([]float64, n*k)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			ang := 2 * math.Pi * float64((i*j)%n) / float64(n)
			cos[i*k+j], sin[i*k+j] = math.Cos(ang), math.Sin(ang)
		}
	}
	C := c.dev(tensor.FromSlice(cos, n, k))
	S := c.dev(tensor.FromSlice(sin, n, k))
	// Forward: X = Σ x·e^(−iθ); inverse: Σ x·e^(+iθ) / n.
	sign := -1.0
	if inverse {
		sign = 1
	}
	yr := re.MatMul(C)
	yi := re.MatMul(S).MulScalar(sign)
	if im != nil {
		yr = yr.Sub(im.MatMul(S).MulScalar(sign))
		yi = yi.Add(im.MatMul(C))
	}
	if inverse {
		yr, yi = yr.DivScalar(float64(n)), yi.DivScalar(float64(n))
	}
	yr = yr.Transpose(a, x.Dim()-2)
	yi = yi.Transpose(a, x.Dim()-2)
	return tensor.Stack([]*tensor.Tensor{yr, yi}, -1).To(dt)
}

func opDFT(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	a := c.axis(c.int("axis", 1), x.Dim())
	n := x.Size(a)
	if v, ok := c.optInts(1); ok {
		if len(v) != 1 {
			c.fail("dft_length must be a scalar")
		}
		n = c.toInts(v)[0]
	}
	return one(dft(c, x, a, n, c.int("inverse", 0) == 1, c.int("onesided", 0) == 1))
}

// opSTFT is the short-time Fourier transform of signal ([batch, length,
// 1 or 2]) in frames of frame_length every frame_step, each multiplied by
// the window.
func opSTFT(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	if x.Dim() != 3 {
		c.fail("signal must be [batch, length, 1 or 2], has shape %v", x.Shape())
	}
	step := c.hostInts(c.x(1))
	if len(step) != 1 || step[0] < 1 {
		c.fail("frame_step must be a positive scalar")
	}
	win := c.opt(2)
	flen := -1
	if v, ok := c.optInts(3); ok {
		flen = c.toInts(v)[0]
	}
	if win != nil {
		if flen >= 0 && flen != win.Numel() {
			c.fail("frame_length %d differs from the window's %d", flen, win.Numel())
		}
		flen = win.Numel()
	}
	L := x.Size(1)
	if flen < 1 || flen > L {
		c.fail("frame length %d for a signal of %d", flen, L)
	}
	s := int(min(step[0], int64(L)))
	frames := 1 + (L-flen)/s
	idx := make([]int64, frames*flen)
	for f := 0; f < frames; f++ {
		for j := 0; j < flen; j++ {
			idx[f*flen+j] = int64(f*s + j)
		}
	}
	fr := x.IndexSelect(1, c.intTensor(idx)).Reshape(x.Size(0), frames, flen, x.Size(2))
	if win != nil {
		fr = fr.Mul(win.To(x.DType()).Reshape(1, 1, flen, 1))
	}
	return one(dft(c, fr, 2, flen, false, c.int("onesided", 1) == 1))
}
