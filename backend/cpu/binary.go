package cpu

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// Binary implements backend.Backend.
func (*CPU) Binary(op backend.BinaryOp, dst, a, b backend.View) {
	switch a.DType() {
	case backend.Float32:
		binaryT[float32](op, dst, a, b)
	case backend.Float64:
		binaryT[float64](op, dst, a, b)
	case backend.Int64:
		binaryT[int64](op, dst, a, b)
	case backend.Int32:
		binaryT[int32](op, dst, a, b)
	case backend.Uint8, backend.Bool:
		binaryT[uint8](op, dst, a, b)
	default:
		panic(badDType("binary "+op.String(), a.DType()))
	}
}

func binaryT[T number](op backend.BinaryOp, dst, a, b backend.View) {
	if !vecOff {
		// contiguous runs go to the kernels of vec.go
		if op.IsComparison() {
			if compareVec[T](op, dst, a, b) {
				return
			}
		} else {
			var z T
			switch any(z).(type) {
			case float32:
				if binaryVec[float32](op, dst, a, b) {
					return
				}
			case float64:
				if binaryVec[float64](op, dst, a, b) {
					return
				}
			}
		}
	}
	x, y := slice[T](a.Storage), slice[T](b.Storage)
	it := newIter(dst.Shape, dst.Layout, a.Layout, b.Layout)
	_, st := it.inner()
	ds, as, bs := st[0], st[1], st[2]
	if op.IsComparison() {
		d := u8(dst.Storage)
		cmp := compareFunc[T](op)
		it.each(grain/2, func(off *[maxOps]int, n int) {
			for i, o, p, q := 0, off[0], off[1], off[2]; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
				if cmp(x[p], y[q]) {
					d[o] = 1
				} else {
					d[o] = 0
				}
			}
		})
		return
	}
	d := slice[T](dst.Storage)
	switch op {
	case backend.Add:
		it.each(grain, func(off *[maxOps]int, n int) {
			for i, o, p, q := 0, off[0], off[1], off[2]; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
				d[o] = x[p] + y[q]
			}
		})
	case backend.Sub:
		it.each(grain, func(off *[maxOps]int, n int) {
			for i, o, p, q := 0, off[0], off[1], off[2]; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
				d[o] = x[p] - y[q]
			}
		})
	case backend.Mul:
		it.each(grain, func(off *[maxOps]int, n int) {
			for i, o, p, q := 0, off[0], off[1], off[2]; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
				d[o] = x[p] * y[q]
			}
		})
	default:
		f := binaryFunc[T](op)
		it.each(grain/4, func(off *[maxOps]int, n int) {
			for i, o, p, q := 0, off[0], off[1], off[2]; i < n; i, o, p, q = i+1, o+ds, p+as, q+bs {
				d[o] = f(x[p], y[q])
			}
		})
	}
}

func binaryFunc[T number](op backend.BinaryOp) func(a, b T) T {
	switch op {
	case backend.Div:
		var z T
		if _, ok := any(z).(float32); !ok {
			if _, ok := any(z).(float64); !ok {
				panic("cpu: div on an integer tensor")
			}
		}
		return func(a, b T) T { return a / b }
	case backend.Pow:
		var z T
		switch any(z).(type) {
		case float32, float64:
			return func(a, b T) T { return T(math.Pow(float64(a), float64(b))) }
		}
		return func(a, b T) T { return T(intPow(int64(a), int64(b))) }
	case backend.Maximum:
		return func(a, b T) T {
			if a > b || a != a {
				return a
			}
			return b
		}
	case backend.Minimum:
		return func(a, b T) T {
			if a < b || a != a {
				return a
			}
			return b
		}
	}
	panic("cpu: binary: unknown op " + op.String())
}

// intPow is exponentiation by squaring in int64 (narrower types wrap the
// same way); a negative exponent gives 0 except for bases 1 and -1, as
// repeated integer division would.
func intPow(a, b int64) int64 {
	if b < 0 {
		switch a {
		case 1:
			return 1
		case -1:
			if b%2 == 0 {
				return 1
			}
			return -1
		}
		return 0
	}
	r := int64(1)
	for ; b > 0; b >>= 1 {
		if b&1 == 1 {
			r *= a
		}
		a *= a
	}
	return r
}

func compareFunc[T number](op backend.BinaryOp) func(a, b T) bool {
	switch op {
	case backend.Eq:
		return func(a, b T) bool { return a == b }
	case backend.Ne:
		return func(a, b T) bool { return a != b }
	case backend.Lt:
		return func(a, b T) bool { return a < b }
	case backend.Le:
		return func(a, b T) bool { return a <= b }
	case backend.Gt:
		return func(a, b T) bool { return a > b }
	case backend.Ge:
		return func(a, b T) bool { return a >= b }
	}
	panic("cpu: not a comparison: " + op.String())
}

// Where implements backend.Backend.
func (*CPU) Where(dst, cond, a, b backend.View) {
	switch a.DType().Size() {
	case 1:
		whereT[uint8](dst, cond, a, b)
	case 2:
		whereT[uint16](dst, cond, a, b)
	case 4:
		whereT[uint32](dst, cond, a, b)
	case 8:
		whereT[uint64](dst, cond, a, b)
	}
}

func whereT[T any](dst, cond, a, b backend.View) {
	d, c, x, y := slice[T](dst.Storage), u8(cond.Storage), slice[T](a.Storage), slice[T](b.Storage)
	if !vecOff && allContiguous(dst, cond, a, b) {
		n := dst.Numel()
		d, c, x, y = d[dst.Offset:dst.Offset+n], c[cond.Offset:cond.Offset+n], x[a.Offset:a.Offset+n], y[b.Offset:b.Offset+n]
		if n < 2*grain || NumThreads() == 1 {
			whereRun(d, c, x, y)
			return
		}
		parallelFor(n, grain, func(lo, hi int) { whereRun(d[lo:hi], c[lo:hi], x[lo:hi], y[lo:hi]) })
		return
	}
	it := newIter(dst.Shape, dst.Layout, cond.Layout, a.Layout, b.Layout)
	_, st := it.inner()
	it.each(grain, func(off *[maxOps]int, n int) {
		o, k, p, q := off[0], off[1], off[2], off[3]
		if !vecOff && st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1 {
			whereRun(d[o:o+n], c[k:k+n], x[p:p+n], y[q:q+n])
			return
		}
		for i := 0; i < n; i++ {
			if c[k] != 0 {
				d[o] = x[p]
			} else {
				d[o] = y[q]
			}
			o, k, p, q = o+st[0], k+st[1], p+st[2], q+st[3]
		}
	})
}

// whereRun is the contiguous Where: d[i] = c[i] ? x[i] : y[i].
func whereRun[T any](d []T, c []uint8, x, y []T) {
	c, x, y = c[:len(d)], x[:len(d)], y[:len(d)]
	for i := range d {
		v := y[i]
		if c[i] != 0 {
			v = x[i]
		}
		d[i] = v
	}
}

// compareVec runs comparison op over dst, x and y when every innermost
// run is contiguous in dst and contiguous or broadcast in x and y, and
// reports whether it did.
func compareVec[T number](op backend.BinaryOp, dst, x, y backend.View) bool {
	d, p, q := u8(dst.Storage), slice[T](x.Storage), slice[T](y.Storage)
	n := dst.Numel()
	if allContiguous(dst, x, y) {
		d, p, q = d[dst.Offset:dst.Offset+n], p[x.Offset:x.Offset+n], q[y.Offset:y.Offset+n]
		if n < 2*grain || NumThreads() == 1 {
			cmpVV(op, d, p, q)
			return true
		}
		parallelFor(n, grain, func(lo, hi int) { cmpVV(op, d[lo:hi], p[lo:hi], q[lo:hi]) })
		return true
	}
	it := newIter(dst.Shape, dst.Layout, x.Layout, y.Layout)
	_, st := it.inner()
	if len(it.shape) == 0 || st[0] != 1 || st[1] > 1 || st[2] > 1 || st[1] < 0 || st[2] < 0 {
		return false
	}
	it.each(grain, func(off *[maxOps]int, m int) {
		o, i, j := off[0], off[1], off[2]
		switch {
		case st[1] == 1 && st[2] == 1:
			cmpVV(op, d[o:o+m], p[i:i+m], q[j:j+m])
		case st[1] == 1:
			cmpVS(op, d[o:o+m], p[i:i+m], q[j])
		case st[2] == 1:
			cmpVS(flipCmp(op), d[o:o+m], q[j:j+m], p[i])
		default:
			cmpVS(op, d[o:o+1], p[i:i+1], q[j])
			fillSlice(d[o+1:o+m], d[o])
		}
	})
	return true
}

// flipCmp is the comparison with its operands swapped: a < b ⇔ b > a.
func flipCmp(op backend.BinaryOp) backend.BinaryOp {
	switch op {
	case backend.Lt:
		return backend.Gt
	case backend.Gt:
		return backend.Lt
	case backend.Le:
		return backend.Ge
	case backend.Ge:
		return backend.Le
	}
	return op
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// cmpVV sets d[i] = x[i] op y[i].
func cmpVV[T number](op backend.BinaryOp, d []uint8, x, y []T) {
	x, y = x[:len(d)], y[:len(d)]
	{
		switch op {
		case backend.Eq:
			for i := range d {
				d[i] = b2u(x[i] == y[i])
			}
		case backend.Ne:
			for i := range d {
				d[i] = b2u(x[i] != y[i])
			}
		case backend.Lt:
			for i := range d {
				d[i] = b2u(x[i] < y[i])
			}
		case backend.Le:
			for i := range d {
				d[i] = b2u(x[i] <= y[i])
			}
		case backend.Gt:
			for i := range d {
				d[i] = b2u(x[i] > y[i])
			}
		case backend.Ge:
			for i := range d {
				d[i] = b2u(x[i] >= y[i])
			}
		}
	}
}

// cmpVS sets d[i] = x[i] op v.
func cmpVS[T number](op backend.BinaryOp, d []uint8, x []T, v T) {
	x = x[:len(d)]
	switch op {
	case backend.Eq:
		for i := range d {
			d[i] = b2u(x[i] == v)
		}
	case backend.Ne:
		for i := range d {
			d[i] = b2u(x[i] != v)
		}
	case backend.Lt:
		for i := range d {
			d[i] = b2u(x[i] < v)
		}
	case backend.Le:
		for i := range d {
			d[i] = b2u(x[i] <= v)
		}
	case backend.Gt:
		for i := range d {
			d[i] = b2u(x[i] > v)
		}
	case backend.Ge:
		for i := range d {
			d[i] = b2u(x[i] >= v)
		}
	}
}
