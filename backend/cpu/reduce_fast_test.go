package cpu

// Conformance of the fast paths (fastKernels) of Reduce and ArgReduce
// with the generic loops: every case runs both ways on the same inputs.
// Results that only move or compare elements (max, min, arg, integer
// sums) must be identical bit for bit; float sums may differ by the
// reordering of their float64 additions. A float64 oracle checks the
// sums too.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// bothPaths runs fn with the fast paths off, then on, and returns what
// each run returned.
func bothPaths[R any](fn func() R) (generic, fast R) {
	old := fastKernels
	defer func() { fastKernels = old }()
	fastKernels = false
	generic = fn()
	fastKernels = true
	fast = fn()
	return generic, fast
}

// newRowPadded is a [.., W] operand whose rows lie W+3 apart in storage,
// from offset 1: contiguous rows that are not one contiguous block.
func newRowPadded(t testing.TB, dt backend.DType, shape []int, gen func() float64) operand {
	t.Helper()
	phys := append([]int(nil), shape...)
	phys[len(phys)-1] += 3
	st := rowMajor(phys)
	n := 1 + numel(phys)
	s, err := be.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: backend.Layout{Shape: append([]int(nil), shape...), Strides: st, Offset: 1}}
	for i := 0; i < n; i++ {
		setBits(o.buf, i, encode(dt, gen()))
	}
	return o
}

// dims subsets of a rank: every subset, as the reduced dims.
func subsets(rank int) [][]int {
	var out [][]int
	for m := 0; m < 1<<rank; m++ {
		var ds []int
		for d := 0; d < rank; d++ {
			if m&(1<<d) != 0 {
				ds = append(ds, d)
			}
		}
		out = append(out, ds)
	}
	return out
}

func TestReducePattern(t *testing.T) {
	for _, c := range []struct {
		src, dst  []int
		r1, k, r2 int
		ok        bool
	}{
		{[]int{4, 5}, []int{4, 1}, 1, 4, 5, true},
		{[]int{4, 5}, []int{1, 5}, 4, 5, 1, true},
		{[]int{2, 3, 4, 5}, []int{1, 3, 1, 1}, 2, 3, 20, true},
		{[]int{2, 3, 4, 5}, []int{1, 1, 1, 1}, 120, 1, 1, true},
		{[]int{2, 3, 4, 5}, []int{2, 1, 4, 1}, 0, 0, 0, false},
		{[]int{2, 1, 4, 1}, []int{2, 1, 1, 1}, 1, 2, 4, true},
		{[]int{2, 3, 4}, []int{2, 3, 4}, 1, 24, 1, true},
	} {
		r1, k, r2, ok := reducePattern(c.dst, c.src)
		if ok != c.ok || (ok && (r1 != c.r1 || k != c.k || r2 != c.r2)) {
			t.Errorf("%v→%v: got %d %d %d %v, want %d %d %d %v", c.src, c.dst, r1, k, r2, ok, c.r1, c.k, c.r2, c.ok)
		}
	}
}

func TestReduceFastMatchesGeneric(t *testing.T) { reduceFastMatchesGeneric(t, !testing.Short()) }

// reduceFastMatchesGeneric is TestReduceFastMatchesGeneric, with the
// largest cases when big is set.
func reduceFastMatchesGeneric(t *testing.T, big bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][]int{{}, {1}, {7}, {0}, {3, 0}, {1, 5}, {5, 1}, {3, 17}, {2, 3, 4}, {2, 1, 9, 3}, {3, 4, 5, 6}, {3, 70}, {33, 20}, {2, 3, 40},
		{70000}, {3, 25000}, {25000, 3}, {2, 5, 7000}, {40000, 2, 1}}
	ops := []backend.ReduceOp{backend.ReduceSum, backend.ReduceMean, backend.ReduceMax, backend.ReduceMin, backend.ReduceProd}
	for _, sh := range shapes {
		for _, dims := range subsets(len(sh)) {
			if numel(sh) > 1000 && (!big || len(dims) > 2 && len(dims) < len(sh) && len(sh) > 2) {
				continue // keep the big cases few
			}
			dsh := reducedShape(sh, dims)
			for _, op := range ops {
				for _, dt := range []backend.DType{f32, f64, i64, i32, u8t} {
					if op == backend.ReduceMean && !dt.IsFloat() {
						continue
					}
					if op == backend.ReduceProd && numel(sh) > 100 {
						continue
					}
					odt := dt
					if (op == backend.ReduceSum || op == backend.ReduceProd) && !dt.IsFloat() {
						odt = i64
					}
					for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
						gen := genDiscrete(dt, rng)
						if dt.IsFloat() && op != backend.ReduceMax && op != backend.ReduceMin {
							gen = genFor(dt, rng, -1, 1)
						}
						if op == backend.ReduceProd && dt.IsFloat() {
							gen = genFor(dt, rng, 0.5, 1.5)
						}
						src := newOperand(t, dt, lk, sh, gen)
						name := fmt.Sprintf("%v/%v/%v/%v/dims%v", op, dt, lk, sh, dims)
						g, f := bothPaths(func() []float64 {
							dst, _ := newOutput(t, odt, lkContig, dsh, rng)
							be.Reduce(op, dst.view(), src.view())
							return dst.values()
						})
						checkReduceFast(t, name, op, dt, src, dims, g, f)
					}
				}
			}
		}
	}
}

func checkReduceFast(t *testing.T, name string, op backend.ReduceOp, dt backend.DType, src operand, dims []int, g, f []float64) {
	t.Helper()
	if len(g) != len(f) {
		t.Fatalf("%s: %d vs %d results", name, len(g), len(f))
	}
	exact := !dt.IsFloat() || op == backend.ReduceMax || op == backend.ReduceMin
	var want, mag []float64
	if !exact && op != backend.ReduceProd {
		want, mag = reduceRef(op, src, dims)
	}
	for i := range g {
		if exact {
			if math.Float64bits(g[i]) != math.Float64bits(f[i]) {
				t.Fatalf("%s: [%d] fast %v, generic %v", name, i, f[i], g[i])
			}
			continue
		}
		rtol := 1e-13
		if dt == f32 {
			rtol = 2e-7 // both round one float64 sum to float32
		}
		if !near(f[i], g[i], rtol, rtol*1e-3) {
			t.Fatalf("%s: [%d] fast %v, generic %v", name, i, f[i], g[i])
		}
		if want != nil {
			atol := 1e-12 * mag[i]
			if dt == f32 {
				atol = 1e-6 * mag[i]
			}
			if !near(f[i], want[i], 0, atol+1e-30) {
				t.Fatalf("%s: [%d] fast %v, oracle %v", name, i, f[i], want[i])
			}
		}
	}
}

func TestReduceFastNaNAndZeros(t *testing.T) {
	// max/min with NaN, ±Inf and signed zeros: identical to the generic
	// loop, including which zero wins a tie
	rng := rand.New(rand.NewPCG(3, 4))
	vals := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1}
	for _, sh := range [][]int{{9}, {4, 9}, {9, 4}, {3, 4, 5}, {3, 40}, {50000, 2}} {
		for _, dims := range subsets(len(sh)) {
			for _, op := range []backend.ReduceOp{backend.ReduceMax, backend.ReduceMin, backend.ReduceSum} {
				for _, dt := range []backend.DType{f32, f64} {
					for _, nanP := range []float64{0, 0.02} {
						src := newOperand(t, dt, lkContig, sh, func() float64 {
							if rng.Float64() < nanP {
								return math.NaN()
							}
							return vals[1+rng.IntN(len(vals)-1)]
						})
						g, f := bothPaths(func() []uint64 {
							dst, _ := newOutput(t, dt, lkContig, reducedShape(sh, dims), rng)
							be.Reduce(op, dst.view(), src.view())
							return dst.snapshot()
						})
						for i := range g {
							if g[i] != f[i] && !(math.IsNaN(decode(dt, g[i])) && math.IsNaN(decode(dt, f[i]))) {
								t.Fatalf("%v/%v/%v dims%v nan%v: [%d] fast %v generic %v", op, dt, sh, dims, nanP, i, decode(dt, f[i]), decode(dt, g[i]))
							}
						}
					}
				}
			}
		}
	}
}

func TestArgReduceFastMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][]int{{1}, {7}, {1, 1}, {3, 1}, {5, 10}, {4, 6, 5}, {2, 40000}} {
		for dim := range sh {
			for _, op := range []backend.ArgOp{backend.ArgMax, backend.ArgMin} {
				for _, dt := range []backend.DType{f32, f64, i64, i32, u8t} {
					for _, lk := range []layoutKind{lkContig, lkTrans, lkStep} {
						gen := genDiscrete(dt, rng)
						if dt.IsFloat() {
							g0 := gen
							gen = func() float64 {
								if rng.IntN(20) == 0 {
									return math.NaN()
								}
								return g0()
							}
						}
						src := newOperand(t, dt, lk, sh, gen)
						name := fmt.Sprintf("%v/%v/%v/%v/dim%d", op, dt, lk, sh, dim)
						type res struct{ v, i []uint64 }
						g, f := bothPaths(func() res {
							v, _ := newOutput(t, dt, lkContig, keepDim(sh, dim), rng)
							ix, _ := newOutput(t, i64, lkContig, keepDim(sh, dim), rng)
							be.ArgReduce(op, v.view(), ix.view(), src.view(), dim)
							return res{v.snapshot(), ix.snapshot()}
						})
						for i := range g.i {
							if g.i[i] != f.i[i] || (g.v[i] != f.v[i] && !math.IsNaN(decode(dt, g.v[i]))) {
								t.Fatalf("%s: [%d] fast %v@%d, generic %v@%d", name, i, decode(dt, f.v[i]), f.i[i], decode(dt, g.v[i]), g.i[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestArgRow32 holds the two-pass argRow32 to the generic loop (the first
// strictly greater or smaller element, the first NaN winning) on rows
// around and past argVecMin and the kernels' vector widths, with ties,
// signed zeros and NaNs, for every reduction kernel table.
func TestArgRow32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	generic := func(isMax bool, row []float32) (float32, int) {
		best, at := row[0], 0
		for j, x := range row {
			if isMax && (x > best || (x != x && best == best)) || !isMax && (x < best || (x != x && best == best)) {
				best, at = x, j
			}
		}
		return best, at
	}
	kinds := []struct {
		name string
		gen  func() float32
	}{
		{"ties", func() float32 { return float32(rng.IntN(5)) }},
		{"zeros", func() float32 { return []float32{0, float32(math.Copysign(0, -1)), -1}[rng.IntN(3)] }},
		{"normal", func() float32 { return float32(rng.NormFloat64()) }},
		{"inf", func() float32 { return []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 1}[rng.IntN(3)] }},
	}
	tables := append([]*redKernels{goRed()}, redCandidates()...)
	for _, k := range tables {
		old := setRed(k)
		for _, kind := range kinds {
			for n := 1; n <= 300; n++ {
				row := make([]float32, n)
				for i := range row {
					row[i] = kind.gen()
				}
				for _, nan := range []bool{false, true} {
					if nan {
						row[rng.IntN(n)] = float32(math.NaN())
						row[rng.IntN(n)] = math.Float32frombits(0x7fc00001)
					}
					for _, isMax := range []bool{true, false} {
						wv, wi := generic(isMax, row)
						gv, gi := argRow32(isMax, row)
						if gi != wi || math.Float32bits(gv) != math.Float32bits(wv) {
							t.Fatalf("%s/%s n=%d nan=%v max=%v: got %v@%d, want %v@%d", k.name, kind.name, n, nan, isMax, gv, gi, wv, wi)
						}
					}
				}
			}
		}
		setRed(old)
	}
}
