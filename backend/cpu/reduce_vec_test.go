package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// redTables is every reduction kernel table this machine runs: the
// pure-Go twins and each assembly instruction set cpuid reports.
func redTables() []*redKernels {
	return append([]*redKernels{goRed()}, redCandidates()...)
}

// redInputs is n values for the reduction kernels: mostly ordinary, with
// ±0, ±Inf and NaN mixed in when specials is set.
func redInputs(rng *rand.Rand, n int, specials bool) []float32 {
	sp := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64() * 3)
		if specials && rng.IntN(20) == 0 {
			xs[i] = sp[rng.IntN(len(sp))]
		}
	}
	return xs
}

// redGuarded copies xs into the middle of a buffer whose guard bands hold
// NaN, so a kernel that reads outside its input returns NaN.
func redGuarded(xs []float32, off int) []float32 {
	buf := make([]float32, len(xs)+off+vecGuard)
	for i := range buf {
		buf[i] = float32(math.NaN())
	}
	copy(buf[off:], xs)
	return buf[off : off+len(xs) : off+len(xs)]
}

func redLengths() []int {
	ns := vecLengths()
	if raceEnabled {
		ns = []int{0, 1, 7, 8, 9, 31, 32, 33, 65, 1000}
	}
	return ns
}

// The widening sum: each assembly kernel bit for bit against the twin of
// its lane count, and every table against a float64 reference within the
// bound of a reordered float64 sum, on lengths 0..70 and long ones, at
// unaligned offsets, with NaN guard bands.
func TestRedSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tbl := range redTables() {
		twin := goRedLanes(tbl.lanes)
		for _, n := range redLengths() {
			for off := range 3 {
				xs := redInputs(rng, n, false)
				x := redGuarded(xs, vecGuard+off)
				got, want := tbl.sum(x), twin.sum(xs)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("%s n=%d off=%d: sum %v, twin %v", tbl.name, n, off, got, want)
				}
				var ref, mag float64
				for _, v := range xs {
					ref += float64(v)
					mag += math.Abs(float64(v))
				}
				if math.Abs(got-ref) > float64(n+1)*0x1p-52*mag {
					t.Fatalf("%s n=%d: sum %v, reference %v", tbl.name, n, got, ref)
				}
			}
		}
		// specials: Inf and NaN propagate as in any order
		for _, c := range []struct {
			xs   []float32
			want float64
		}{
			{[]float32{1, float32(math.Inf(1)), 2}, math.Inf(1)},
			{[]float32{float32(math.Inf(-1)), float32(math.Inf(1))}, math.NaN()},
			{[]float32{float32(math.NaN())}, math.NaN()},
		} {
			for _, n := range []int{1, 17, 40, 100} {
				xs := make([]float32, n)
				for i := range xs {
					xs[i] = 1
				}
				for i, v := range c.xs {
					xs[(i*7+3)%n] = v
				}
				if len(c.xs) > n {
					continue
				}
				got := tbl.sum(xs)
				if !(got == c.want || got != got && c.want != c.want) {
					t.Errorf("%s n=%d %v: sum %v, want %v", tbl.name, n, c.xs, got, c.want)
				}
			}
		}
	}
}

// The extremes: every table against the sequential rule (a NaN anywhere
// gives NaN; a zero result may be either zero), with NaN, ±Inf and ±0 at
// every position of short inputs.
func TestRedExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(tbl *redKernels, name string, xs []float32) {
		t.Helper()
		for _, isMax := range []bool{true, false} {
			f := tbl.min
			if isMax {
				f = tbl.max
			}
			got, want := f(redGuarded(xs, vecGuard+1)), extremeGo(xs, isMax)
			ok := got == want || got != got && want != want
			if !ok || want != want && got == got {
				t.Fatalf("%s %s max=%v n=%d: %v, want %v", tbl.name, name, isMax, len(xs), got, want)
			}
		}
	}
	for _, tbl := range redTables() {
		for _, n := range redLengths() {
			if n == 0 {
				continue
			}
			check(tbl, "random", redInputs(rng, n, false))
			check(tbl, "specials", redInputs(rng, n, true))
		}
		sp := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1e30, -1e30}
		for n := 1; n <= 70; n++ {
			if raceEnabled && n%16 != 1 {
				continue
			}
			for p := 0; p < n; p++ {
				for _, v := range sp {
					xs := redInputs(rng, n, false)
					xs[p] = v
					check(tbl, fmt.Sprintf("%v at %d", v, p), xs)
				}
			}
		}
	}
}

// The column sums: each table bit for bit against the sequential loop
// (the order is the same), over rows 0..5 and 33, columns 0..70, strides
// past the columns, with guard bands around the accumulators.
func TestRedColSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	cols := redLengths()
	for _, tbl := range redTables() {
		for _, rows := range []int{0, 1, 2, 3, 5, 33} {
			for _, c := range cols {
				if c > 5000 {
					continue
				}
				for _, pad := range []int{0, 3} {
					stride := c + pad
					xs := redInputs(rng, max(0, rows*stride), rows == 3)
					x := redGuarded(xs, vecGuard)
					accBuf := make([]float64, c+2*vecGuard)
					for i := range accBuf {
						accBuf[i] = -7
					}
					acc := accBuf[vecGuard : vecGuard+c : vecGuard+c]
					want := make([]float64, c)
					for i := range acc {
						acc[i] = rng.NormFloat64()
						want[i] = acc[i]
					}
					colSumGo(want, xs, rows, stride)
					tbl.colSum(acc, x, rows, stride)
					for i := range acc {
						if math.Float64bits(acc[i]) != math.Float64bits(want[i]) && !(acc[i] != acc[i] && want[i] != want[i]) {
							t.Fatalf("%s rows=%d cols=%d stride=%d: acc[%d] = %v, want %v", tbl.name, rows, c, stride, i, acc[i], want[i])
						}
					}
					for i := range vecGuard {
						if accBuf[i] != -7 || accBuf[vecGuard+c+i] != -7 {
							t.Fatalf("%s rows=%d cols=%d: guard band overwritten", tbl.name, rows, c)
						}
					}
				}
			}
		}
	}
}

// Reduce's fast paths with each other reduction table installed, against
// the generic loops (TestReduceFastMatchesGeneric's cases but the largest,
// and TestReduceFastNaNAndZeros), so that both the assembly and the twins
// run behind Reduce.
func TestReduceFastKernels(t *testing.T) {
	if raceEnabled {
		t.Skip("numeric sweep; the race run covers the default table")
	}
	for _, tbl := range redTables() {
		if tbl == red32 {
			continue // the other tests run it
		}
		t.Run(tbl.name, func(t *testing.T) {
			old := setRed(tbl)
			defer setRed(old)
			reduceFastMatchesGeneric(t, false)
			TestReduceFastNaNAndZeros(t)
		})
	}
}
