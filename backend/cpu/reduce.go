package cpu

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

type accum interface{ ~float64 | ~int64 }

// Reduce implements backend.Backend.
func (*CPU) Reduce(op backend.ReduceOp, dst, src backend.View) {
	switch src.DType() {
	case backend.Float32:
		reduceT[float32, float64](op, dst, src)
	case backend.Float64:
		reduceT[float64, float64](op, dst, src)
	case backend.Int64:
		reduceT[int64, int64](op, dst, src)
	case backend.Int32:
		reduceT[int32, int64](op, dst, src)
	case backend.Uint8, backend.Bool:
		reduceT[uint8, int64](op, dst, src)
	default:
		panic(badDType("reduce "+op.String(), src.DType()))
	}
}

func identity[A accum](op backend.ReduceOp) A {
	switch op {
	case backend.ReduceProd:
		return 1
	case backend.ReduceMax:
		var z A
		if _, ok := any(z).(float64); ok {
			return A(math.Inf(-1))
		}
		lo := int64(math.MinInt64) // through a variable: the constant conversion to A does not compile on 32-bit targets
		return A(lo)
	case backend.ReduceMin:
		var z A
		if _, ok := any(z).(float64); ok {
			return A(math.Inf(1))
		}
		hi := int64(math.MaxInt64)
		return A(hi)
	}
	return 0
}

func combine[A accum](op backend.ReduceOp) func(a, b A) A {
	switch op {
	case backend.ReduceProd:
		return func(a, b A) A { return a * b }
	case backend.ReduceMax:
		return func(a, b A) A {
			if b > a || b != b {
				return b
			}
			return a
		}
	case backend.ReduceMin:
		return func(a, b A) A {
			if b < a || b != b {
				return b
			}
			return a
		}
	}
	return func(a, b A) A { return a + b }
}

func reduceT[T number, A accum](op backend.ReduceOp, dst, src backend.View) {
	nd := len(src.Shape)
	outN := dst.Numel()
	// the accumulator: contiguous over dst's shape, seen with src's shape
	// and stride 0 on the reduced dims
	accStrides := backend.ContiguousStrides(dst.Shape)
	accL := backend.Layout{Shape: src.Shape, Strides: make([]int, nd)}
	splitKept, splitRed := -1, -1
	for i := 0; i < nd; i++ {
		if dst.Shape[i] == src.Shape[i] {
			accL.Strides[i] = accStrides[i]
			if src.Shape[i] > 1 && (splitKept < 0 || src.Shape[i] > src.Shape[splitKept]) {
				splitKept = i
			}
		} else if splitRed < 0 || src.Shape[i] > src.Shape[splitRed] {
			splitRed = i
		}
	}
	acc := make([]A, outN)
	id := identity[A](op)
	for i := range acc {
		acc[i] = id
	}
	s := slice[T](src.Storage)
	total := src.Numel()
	p := NumThreads()
	switch {
	case reduceFast[T, A](op, acc, dst.Shape, src):
	case total < grain || p == 1:
		reduceSerial(op, acc, accL, s, src.Layout)
	case splitKept >= 0 && src.Shape[splitKept] >= 2:
		parts := min(p, src.Shape[splitKept])
		parallelFor(parts, 1, func(lo, hi int) {
			for part := lo; part < hi; part++ {
				a, b := narrowPart(accL, src.Layout, splitKept, part, parts)
				reduceSerial(op, acc, a, s, b)
			}
		})
	default:
		parts := min(p, src.Shape[splitRed])
		partial := make([][]A, parts)
		parallelFor(parts, 1, func(lo, hi int) {
			for part := lo; part < hi; part++ {
				mine := make([]A, outN)
				for i := range mine {
					mine[i] = id
				}
				a, b := narrowPart(accL, src.Layout, splitRed, part, parts)
				reduceSerial(op, mine, a, s, b)
				partial[part] = mine
			}
		})
		f := combine[A](op)
		for _, m := range partial {
			for i := range acc {
				acc[i] = f(acc[i], m[i])
			}
		}
	}
	// write the result
	count := 1
	if outN > 0 {
		count = total / outN
	}
	writeAcc(op, dst, acc, count)
}

// narrowPart returns the part-th of parts slices of dim d of two layouts.
func narrowPart(a, b backend.Layout, d, part, parts int) (backend.Layout, backend.Layout) {
	n := a.Shape[d]
	lo, hi := n*part/parts, n*(part+1)/parts
	cut := func(l backend.Layout) backend.Layout {
		sh := append([]int(nil), l.Shape...)
		sh[d] = hi - lo
		return backend.Layout{Shape: sh, Strides: l.Strides, Offset: l.Offset + lo*l.Strides[d]}
	}
	return cut(a), cut(b)
}

func reduceSerial[T number, A accum](op backend.ReduceOp, acc []A, accL backend.Layout, s []T, srcL backend.Layout) {
	it := newIter(srcL.Shape, accL, srcL)
	it.reorder(1)
	_, st := it.inner()
	as, ss := st[0], st[1]
	f := combine[A](op)
	id := identity[A](op)
	it.run(0, it.numel, func(off [maxOps]int, n int) {
		o, q := off[0], off[1]
		if as == 0 {
			r := id
			switch op {
			case backend.ReduceSum, backend.ReduceMean:
				for i := 0; i < n; i, q = i+1, q+ss {
					r += A(s[q])
				}
			default:
				for i := 0; i < n; i, q = i+1, q+ss {
					r = f(r, A(s[q]))
				}
			}
			acc[o] = f(acc[o], r)
			return
		}
		switch op {
		case backend.ReduceSum, backend.ReduceMean:
			for i := 0; i < n; i, o, q = i+1, o+as, q+ss {
				acc[o] += A(s[q])
			}
		default:
			for i := 0; i < n; i, o, q = i+1, o+as, q+ss {
				acc[o] = f(acc[o], A(s[q]))
			}
		}
	})
}

func writeAcc[A accum](op backend.ReduceOp, dst backend.View, acc []A, count int) {
	it := newIter(dst.Shape, dst.Layout, backend.Contiguous(dst.Shape))
	_, st := it.inner()
	conv := func(fn func(o, q, n int)) {
		it.run(0, it.numel, func(off [maxOps]int, n int) { fn(off[0], off[1], n) })
	}
	mean := op == backend.ReduceMean
	switch dst.DType() {
	case backend.Float32:
		d := slice[float32](dst.Storage)
		conv(func(o, q, n int) {
			for i := 0; i < n; i, o, q = i+1, o+st[0], q+st[1] {
				v := float64(acc[q])
				if mean {
					v /= float64(count)
				}
				d[o] = float32(v)
			}
		})
	case backend.Float64:
		d := slice[float64](dst.Storage)
		conv(func(o, q, n int) {
			for i := 0; i < n; i, o, q = i+1, o+st[0], q+st[1] {
				v := float64(acc[q])
				if mean {
					v /= float64(count)
				}
				d[o] = v
			}
		})
	case backend.Int64:
		d := slice[int64](dst.Storage)
		conv(func(o, q, n int) {
			for i := 0; i < n; i, o, q = i+1, o+st[0], q+st[1] {
				d[o] = int64(acc[q])
			}
		})
	case backend.Int32:
		d := slice[int32](dst.Storage)
		conv(func(o, q, n int) {
			for i := 0; i < n; i, o, q = i+1, o+st[0], q+st[1] {
				d[o] = int32(acc[q])
			}
		})
	case backend.Uint8, backend.Bool:
		d := slice[uint8](dst.Storage)
		conv(func(o, q, n int) {
			for i := 0; i < n; i, o, q = i+1, o+st[0], q+st[1] {
				d[o] = uint8(acc[q])
			}
		})
	default:
		panic(badDType("reduce", dst.DType()))
	}
}

// ArgReduce implements backend.Backend.
func (*CPU) ArgReduce(op backend.ArgOp, values, indices, src backend.View, dim int) {
	switch src.DType() {
	case backend.Float32:
		argT[float32](op, values, indices, src, dim)
	case backend.Float64:
		argT[float64](op, values, indices, src, dim)
	case backend.Int64:
		argT[int64](op, values, indices, src, dim)
	case backend.Int32:
		argT[int32](op, values, indices, src, dim)
	case backend.Uint8, backend.Bool:
		argT[uint8](op, values, indices, src, dim)
	default:
		panic(badDType("argreduce", src.DType()))
	}
}

func argT[T number](op backend.ArgOp, values, indices, src backend.View, dim int) {
	s := slice[T](src.Storage)
	idx := slice[int64](indices.Storage)
	var val []T
	valL := indices.Layout
	if values.Storage != nil {
		val = slice[T](values.Storage)
		valL = values.Layout
	}
	n, stride := src.Shape[dim], src.Strides[dim]
	it := lanes(dim, indices.Layout, valL, src.Layout)
	_, st := it.inner()
	better := func(x, best T) bool { return x > best || (x != x && best == best) }
	if op == backend.ArgMin {
		better = func(x, best T) bool { return x < best || (x != x && best == best) }
	}
	if n == 0 {
		panic("cpu: argreduce over an empty dim")
	}
	if fastKernels {
		isMax := op == backend.ArgMax
		it.each(max(1, grain/max(n, 1)), func(off [maxOps]int, m int) {
			oi, ov, os := off[0], off[1], off[2]
			for k := 0; k < m; k, oi, ov, os = k+1, oi+st[0], ov+st[1], os+st[2] {
				best, at := argRow(isMax, s, os, n, stride)
				idx[oi] = int64(at)
				if val != nil {
					val[ov] = best
				}
			}
		})
		return
	}
	it.each(max(1, grain/max(n, 1)), func(off [maxOps]int, m int) {
		oi, ov, os := off[0], off[1], off[2]
		for k := 0; k < m; k, oi, ov, os = k+1, oi+st[0], ov+st[1], os+st[2] {
			best, at := s[os], 0
			for j, q := 1, os+stride; j < n; j, q = j+1, q+stride {
				if better(s[q], best) {
					best, at = s[q], j
				}
			}
			idx[oi] = int64(at)
			if val != nil {
				val[ov] = best
			}
		}
	})
}

// CumSum implements backend.Backend.
func (*CPU) CumSum(dst, src backend.View, dim int) {
	switch src.DType() {
	case backend.Float32:
		cumsumT[float32, float64](dst, src, dim)
	case backend.Float64:
		cumsumT[float64, float64](dst, src, dim)
	case backend.Int64:
		cumsumT[int64, int64](dst, src, dim)
	default:
		panic(badDType("cumsum", src.DType()))
	}
}

func cumsumT[T number, A accum](dst, src backend.View, dim int) {
	d, s := slice[T](dst.Storage), slice[T](src.Storage)
	n := src.Shape[dim]
	ds, ss := dst.Strides[dim], src.Strides[dim]
	it := lanes(dim, dst.Layout, src.Layout)
	_, st := it.inner()
	it.each(max(1, grain/max(n, 1)), func(off [maxOps]int, m int) {
		od, os := off[0], off[1]
		k := 0
		if n > 0 {
			for ; k+4 <= m; k, od, os = k+4, od+4*st[0], os+4*st[1] {
				cumsum4[T, A](d, s, od, os, st[0], st[1], n, ds, ss)
			}
		}
		for ; k < m; k, od, os = k+1, od+st[0], os+st[1] {
			var acc A
			for j, q, o := 0, os, od; j < n; j, q, o = j+1, q+ss, o+ds {
				acc += A(s[q])
				d[o] = T(acc)
			}
		}
	})
}

// cumsum4 is cumsumT's scan of n ≥ 1 elements along four lanes at once,
// whose offsets in d and s start at od and os and step by dl and sl: four
// independent chains of additions instead of one, so that the adds'
// latency overlaps, each lane still summed in order.
func cumsum4[T number, A accum](d, s []T, od, os, dl, sl, n, ds, ss int) {
	if ds == 1 && ss == 1 { // rows: slices the compiler checks once
		x0, x1, x2, x3 := s[os:os+n], s[os+sl:os+sl+n], s[os+2*sl:os+2*sl+n], s[os+3*sl:os+3*sl+n]
		y0, y1, y2, y3 := d[od:od+n], d[od+dl:od+dl+n], d[od+2*dl:od+2*dl+n], d[od+3*dl:od+3*dl+n]
		x1, x2, x3 = x1[:len(x0)], x2[:len(x0)], x3[:len(x0)]
		y0, y1, y2, y3 = y0[:len(x0)], y1[:len(x0)], y2[:len(x0)], y3[:len(x0)]
		var a0, a1, a2, a3 A
		for j, v := range x0 {
			a0 += A(v)
			a1 += A(x1[j])
			a2 += A(x2[j])
			a3 += A(x3[j])
			y0[j] = T(a0)
			y1[j] = T(a1)
			y2[j] = T(a2)
			y3[j] = T(a3)
		}
		return
	}
	// the last element of each lane, bounds-checked here
	_, _ = d[od+3*dl+(n-1)*ds], s[os+3*sl+(n-1)*ss]
	_, _ = d[od+(n-1)*ds], s[os+(n-1)*ss]
	var a0, a1, a2, a3 A
	for j := 0; j < n; j++ {
		q, o := os+j*ss, od+j*ds
		a0 += A(s[q])
		a1 += A(s[q+sl])
		a2 += A(s[q+2*sl])
		a3 += A(s[q+3*sl])
		d[o] = T(a0)
		d[o+dl] = T(a1)
		d[o+2*dl] = T(a2)
		d[o+3*dl] = T(a3)
	}
}
