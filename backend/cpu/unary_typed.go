package cpu

import "github.com/tapir-ml/tapir/backend"

// Unary ops without a vec.go kernel (every integer op; PowScalar's
// special exponents on floats) used to call an element function per element through the
// iterator: an integer neg ran at 3 ns per element,
// thirty times torch's. Here each op is a typed loop over a segment
// (intUnSeg, floatUnSeg), run once over contiguous operands, per tile of
// the strided path (strided.go) for transposed and stepped sources, and
// per run otherwise. The element arithmetic is that of the old loops, so
// results are unchanged bit for bit.

// intUnSeg is an integer unary op over one segment: d[i] = op(x[i]).
// The scalars are already converted as unaryInt does (wrapped, or
// saturated for Clamp).
type intUnSeg[T integer] struct {
	op   backend.UnaryOp
	a, b T
}

func (k intUnSeg[T]) seg(d, x []T) {
	x = x[:len(d)]
	a, b := k.a, k.b
	switch k.op {
	case backend.Neg:
		for i, v := range x {
			d[i] = -v
		}
	case backend.Abs:
		for i, v := range x {
			d[i] = intAbs(v)
		}
	case backend.Sign:
		for i, v := range x {
			d[i] = intSign(v)
		}
	case backend.Square:
		for i, v := range x {
			d[i] = v * v
		}
	case backend.ReLU:
		for i, v := range x {
			d[i] = max(v, 0)
		}
	case backend.AddScalar:
		for i, v := range x {
			d[i] = v + a
		}
	case backend.MulScalar:
		for i, v := range x {
			d[i] = v * a
		}
	case backend.RSubScalar:
		for i, v := range x {
			d[i] = a - v
		}
	case backend.Clamp:
		for i, v := range x {
			d[i] = min(max(v, a), b)
		}
	default:
		panic("cpu: unary " + k.op.String() + " on an integer tensor")
	}
}

// intAbs is |x|, wrapping for the most negative value as torch does.
func intAbs[T integer](x T) T {
	if x < 0 {
		return -x
	}
	return x
}

// intSign is −1, 0 or 1 (−1 as all ones, which uint8 never yields since
// it has no negatives).
func intSign[T integer](x T) T {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return ^T(0)
	}
	return 0
}

// intUnaryOK reports whether op is one intUnSeg runs.
func intUnaryOK(op backend.UnaryOp) bool {
	switch op {
	case backend.Neg, backend.Abs, backend.Sign, backend.Square, backend.ReLU,
		backend.AddScalar, backend.MulScalar, backend.RSubScalar, backend.Clamp:
		return true
	}
	return false
}

// floatUnSeg is a float op without a vec kernel over one segment:
// d[i] = T(f(float64(x[i]))), f being floatFunc's function. Since
// floor, ceil, round, log1p, sin, cos, softplus and the powers got
// kernels, that is PowScalar with the exponent 0, 1, ±Inf or NaN.
type floatUnSeg[T float] struct {
	op backend.UnaryOp
	f  func(float64) float64
}

func (k floatUnSeg[T]) seg(d, x []T) {
	x = x[:len(d)]
	f := k.f
	for i, v := range x {
		d[i] = T(f(float64(v)))
	}
}

// floatUnChunk is the parallel grain of floatUnSeg's op: math.Pow costs
// tens of adds (its special exponents less, but they are rare).
func floatUnChunk(backend.UnaryOp) int { return grain / 16 }

// unarySegs runs kernel k over dst and src: once over contiguous
// operands (in chunks across threads), by tiles when src is strided
// along dst's rows, else by runs contiguous in dst and contiguous or
// broadcast in src. It reports whether it did; the rest (a dst with no
// stride-1 dim, negative strides) is left to the element loop.
func unarySegs[T any, K unSeg[T, T]](k K, chunk int, dst, src backend.View) bool {
	d, s := slice[T](dst.Storage), slice[T](src.Storage)
	if dst.IsContiguous() && src.IsContiguous() {
		n := dst.Numel()
		d, s = d[dst.Offset:dst.Offset+n], s[src.Offset:src.Offset+n]
		if n < 2*chunk || NumThreads() == 1 {
			k.seg(d, s)
			return true
		}
		parallelFor(n, chunk, func(lo, hi int) { k.seg(d[lo:hi], s[lo:hi]) })
		return true
	}
	if stridedCandidate(dst, src) {
		if it, ok := stridedIterOut(true, dst, src); ok {
			_, st := it.inner()
			eachBlock[T](it, chunk, unTile[T, T, K]{k: k, d: d, x: s, st: st})
			return true
		}
	}
	it := newIter(dst.Shape, dst.Layout, src.Layout)
	_, st := it.inner()
	if it.nd == 0 || st[0] != 1 || st[1] != 1 && st[1] != 0 {
		return false
	}
	eachR(&it, chunk, segRun[T, K]{k: k, d: d, s: s, bcast: st[1] == 0})
	return true
}

// segRun is unarySegs' body over runs contiguous in d: s contiguous too,
// or one value (bcast) repeated along the run.
type segRun[T any, K unSeg[T, T]] struct {
	k     K
	d, s  []T
	bcast bool
}

func (r segRun[T, K]) run(off [maxOps]int, n int) {
	o, p := off[0], off[1]
	if !r.bcast {
		r.k.seg(r.d[o:o+n], r.s[p:p+n])
		return
	}
	r.k.seg(r.d[o:o+1], r.s[p:p+1])
	fillSlice(r.d[o+1:o+n], r.d[o])
}
