package cpu

import "github.com/tapir-ml/tapir/backend"

// fastKernels switches on the specialized paths of Reduce, ArgReduce,
// MaxPool, Unfold, Fold and ScatterAdd for their common layouts. Tests
// (and benchmarks, to measure what the fast paths buy) turn it off to run
// the generic loops the fast paths must agree with; nothing else does, so
// a program's kernels do not depend on its environment.
var fastKernels = true

// Fast paths of Reduce for a contiguous src whose reduced dims, once
// size-1 dims are dropped, form at most a leading and a trailing block
// around the kept ones: src seen as [R1, K, R2], reduced over R1 and R2.
// That covers reducing the last dims ([K, R2]: layer norm, losses), the
// leading dims ([R1, K]: a bias gradient, sum over the batch), all but
// one middle block ([R1, K, R2]: batch-norm statistics over N, H, W) and
// full reductions ([R2]).
//
// Sums run along R2 with independent accumulators (of the documented
// type: float64 for float32 src) and along R1 as row adds into the
// accumulator row, so the float result differs from the generic loop's
// only by the reordering of float64 additions. Max and min keep one
// accumulator per output and the generic order (first of equal values
// wins, NaN sticks), so their results are identical. Prod takes the
// generic path. Float32 src goes to the kernels of reduce_vec.go
// (assembly on amd64): widening sums along R2, column sums along R1 (in
// the generic order), and the extremes of runs along R2, where a run
// whose extreme is NaN or a zero is redone by the generic rule.

// reducePattern sees src (reduced to dst's shape) as [r1, k, r2].
func reducePattern(dstShape, srcShape []int) (r1, k, r2 int, ok bool) {
	r1, k, r2 = 1, 1, 1
	state := 0 // 0: in the leading reduced block, 1: kept, 2: trailing reduced
	for i, n := range srcShape {
		if n == 1 {
			continue
		}
		kept := dstShape[i] == n
		switch {
		case !kept && state == 0:
			r1 *= n
		case kept && state <= 1:
			state = 1
			k *= n
		case !kept:
			state = 2
			r2 *= n
		default:
			return 0, 0, 0, false
		}
	}
	return r1, k, r2, true
}

// reduceFast runs the fast path if src's layout allows it and reports
// whether it did; acc (contiguous over dst's shape) holds the identity on
// entry.
func reduceFast[T number, A accum](op backend.ReduceOp, acc []A, dstShape []int, src backend.View) bool {
	if !fastKernels || op == backend.ReduceProd || src.Numel() == 0 || !src.IsContiguous() {
		return false
	}
	r1, k, r2, ok := reducePattern(dstShape, src.Shape)
	if !ok {
		return false
	}
	if k == 1 {
		// a full reduction: one long run
		r1, r2 = 1, r1*r2
	}
	s := slice[T](src.Storage)[src.Offset:]
	s = s[:r1*k*r2]
	total := len(s)
	p := NumThreads()
	switch {
	case p == 1 || total < 2*grain:
		reduceBlock(op, acc, s, 0, r1, 0, k, k, 0, r2, r2)
	case k >= p:
		parallelFor(k, max(1, grain/(r1*r2)), func(lo, hi int) {
			reduceBlock(op, acc, s, 0, r1, lo, hi, k, 0, r2, r2)
		})
	default:
		// split R1 (or, when it is too short, R2) into parts with their
		// own partial results, combined in order
		splitR1 := r1 >= p
		parts := p
		partial := make([][]A, parts)
		id := identity[A](op)
		parallelFor(parts, 1, func(lo, hi int) {
			for part := lo; part < hi; part++ {
				mine := make([]A, k)
				for i := range mine {
					mine[i] = id
				}
				if splitR1 {
					reduceBlock(op, mine, s, r1*part/parts, r1*(part+1)/parts, 0, k, k, 0, r2, r2)
				} else {
					reduceBlock(op, mine, s, 0, r1, 0, k, k, r2*part/parts, r2*(part+1)/parts, r2)
				}
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
	return true
}

// reduceBlock reduces s, seen as [r1, k, r2], over rows [a0, a1) of R1 and
// [c0, c1) of R2 into acc[b0:b1], for kept positions [b0, b1).
func reduceBlock[T number, A accum](op backend.ReduceOp, acc []A, s []T, a0, a1, b0, b1, k, c0, c1, r2 int) {
	if x, a, ok := asF32F64(s, acc); ok && !vecOff {
		reduceBlock32(op, a, x, a0, a1, b0, b1, k, c0, c1, r2)
		return
	}
	if r2 == 1 {
		// [R1, K]: row operations on the accumulator row
		out := acc[b0:b1]
		for r := a0; r < a1; r++ {
			row := s[r*k+b0 : r*k+b1]
			switch op {
			case backend.ReduceSum, backend.ReduceMean:
				addRow(out, row)
			case backend.ReduceMax:
				maxRow(out, row)
			default:
				minRow(out, row)
			}
		}
		return
	}
	// batch rows outer, kept positions inner: memory order; each acc[j]
	// still folds its segments in R1 order
	for r := a0; r < a1; r++ {
		for j := b0; j < b1; j++ {
			q := (r*k + j) * r2
			seg := s[q+c0 : q+c1]
			switch op {
			case backend.ReduceSum, backend.ReduceMean:
				acc[j] += sumSeg[T, A](seg)
			case backend.ReduceMax:
				acc[j] = maxSeg(acc[j], seg)
			default:
				acc[j] = minSeg(acc[j], seg)
			}
		}
	}
}

// reduceBlock32 is reduceBlock for float32 src and float64 accumulators,
// with the kernels of reduce_vec.go: column sums for [R1, K] sums (the
// generic order, so the same result), widening sums along R2, and the
// extremes of runs, whose result is folded in by the generic rule; a run
// whose extreme is a NaN or a zero is redone by the generic loop, so that
// the NaN and the sign of a zero are the ones it picks.
func reduceBlock32(op backend.ReduceOp, acc []float64, s []float32, a0, a1, b0, b1, k, c0, c1, r2 int) {
	rk := red32
	sum := op == backend.ReduceSum || op == backend.ReduceMean
	if r2 == 1 {
		if a0 >= a1 || b0 >= b1 {
			return
		}
		out := acc[b0:b1]
		if sum {
			rk.colSum(out, s[a0*k+b0:], a1-a0, k)
			return
		}
		for r := a0; r < a1; r++ {
			row := s[r*k+b0 : r*k+b1]
			if op == backend.ReduceMax {
				maxRow(out, row)
			} else {
				minRow(out, row)
			}
		}
		return
	}
	if c0 >= c1 {
		return
	}
	for r := a0; r < a1; r++ {
		for j := b0; j < b1; j++ {
			q := (r*k + j) * r2
			seg := s[q+c0 : q+c1]
			switch op {
			case backend.ReduceSum, backend.ReduceMean:
				acc[j] += rk.sum(seg)
			case backend.ReduceMax:
				m := rk.max(seg)
				if m != m || m == 0 {
					acc[j] = maxSeg(acc[j], seg)
				} else if w := float64(m); w > acc[j] {
					acc[j] = w
				}
			default:
				m := rk.min(seg)
				if m != m || m == 0 {
					acc[j] = minSeg(acc[j], seg)
				} else if w := float64(m); w < acc[j] {
					acc[j] = w
				}
			}
		}
	}
}

// sumSeg is Σ x in A, with eight independent partial sums.
func sumSeg[T number, A accum](x []T) A {
	var s0, s1, s2, s3, s4, s5, s6, s7 A
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		s0 += A(v[0])
		s1 += A(v[1])
		s2 += A(v[2])
		s3 += A(v[3])
		s4 += A(v[4])
		s5 += A(v[5])
		s6 += A(v[6])
		s7 += A(v[7])
	}
	for ; i < len(x); i++ {
		s0 += A(x[i])
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// maxSeg folds x into a by the generic rule: a strictly greater value or
// a NaN replaces it.
func maxSeg[T number, A accum](a A, x []T) A {
	for _, v := range x {
		if w := A(v); w > a || w != w {
			a = w
		}
	}
	return a
}

func minSeg[T number, A accum](a A, x []T) A {
	for _, v := range x {
		if w := A(v); w < a || w != w {
			a = w
		}
	}
	return a
}

func addRow[T number, A accum](acc []A, x []T) {
	x = x[:len(acc)]
	for i, v := range x {
		acc[i] += A(v)
	}
}

func maxRow[T number, A accum](acc []A, x []T) {
	x = x[:len(acc)]
	for i, v := range x {
		if w := A(v); w > acc[i] || w != w {
			acc[i] = w
		}
	}
}

func minRow[T number, A accum](acc []A, x []T) {
	x = x[:len(acc)]
	for i, v := range x {
		if w := A(v); w < acc[i] || w != w {
			acc[i] = w
		}
	}
}

// argRow returns the first maximum (max) or minimum of the n elements of s
// from p on, stride apart, and its position; NaN counts as the extreme
// and the first NaN wins.
func argRow[T number](max bool, s []T, p, n, stride int) (T, int) {
	if f, ok := any(s).([]float32); ok && stride == 1 && n >= argVecMin {
		v, at := argRow32(max, f[p:p+n])
		return T(v), at
	}
	if stride == 1 {
		row := s[p : p+n]
		best, at := row[0], 0
		if max {
			for j := 1; j < len(row); j++ {
				if x := row[j]; x > best || (x != x && best == best) {
					best, at = x, j
				}
			}
		} else {
			for j := 1; j < len(row); j++ {
				if x := row[j]; x < best || (x != x && best == best) {
					best, at = x, j
				}
			}
		}
		return best, at
	}
	best, at := s[p], 0
	if max {
		for j, q := 1, p+stride; j < n; j, q = j+1, q+stride {
			if x := s[q]; x > best || (x != x && best == best) {
				best, at = x, j
			}
		}
	} else {
		for j, q := 1, p+stride; j < n; j, q = j+1, q+stride {
			if x := s[q]; x < best || (x != x && best == best) {
				best, at = x, j
			}
		}
	}
	return best, at
}

// argVecMin is the shortest contiguous float32 run argRow hands to
// argRow32: below it, one pass of the generic loop costs less than two.
const argVecMin = 64

// argRow32 is argRow for a contiguous float32 row (len ≥ 1) in two
// passes: the extreme by red32's vector kernel, then the first element
// equal to it (or the first NaN, where the extreme is one). The generic
// loop keeps the first of equal extremes, and ±0 compare equal, so this
// is its element and position, bit for bit.
func argRow32(max bool, row []float32) (float32, int) {
	var m float32
	if max {
		m = red32.max(row)
	} else {
		m = red32.min(row)
	}
	if m != m {
		for j, x := range row {
			if x != x {
				return x, j
			}
		}
	}
	for j, x := range row {
		if x == m {
			return x, j
		}
	}
	panic("cpu: argRow32 found no element equal to the row's extreme")
}
