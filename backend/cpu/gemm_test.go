package cpu

// MatMul against a naive triple loop in float64, over shapes around the
// blocking constants of the pure-Go path (gemmMR = 4, gemmNR = 2,
// gemmMC = 96, gemmKC = 256, gemmNC = 2048), transposed operands,
// broadcast batches and both the serial and the split (row or column)
// paths; every such test runs once per GEMM path (forEachGemmPath): the
// pure-Go kernel and each SIMD kernel this CPU runs, so the SIMD paths
// pass the same tests as the pure-Go one. Then the SIMD paths against
// the pure-Go path exactly, with guard bands, and the micro-kernels and
// packing routines against their Go twins.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// withThreads sets the kernel thread count for the rest of the test.
func withThreads(t *testing.T, n int) {
	old := SetNumThreads(n)
	t.Cleanup(func() { SetNumThreads(old) })
}

// matOperand makes a [batch, rows, cols] operand. trans stores each matrix
// column-major (a transposed view); bcast gives the batch dim stride 0 (one
// matrix shared by every batch).
func matOperand(t testing.TB, dt backend.DType, batch, rows, cols int, trans, bcast bool, gen func() float64) operand {
	t.Helper()
	per := rows * cols
	nb := batch
	if bcast {
		nb = 1
	}
	st := []int{per, cols, 1}
	if trans {
		st = []int{per, 1, rows}
	}
	if bcast {
		st[0] = 0
	}
	off := 0
	if trans {
		off = 2 // and an offset, for good measure
	}
	s, err := be.Alloc(dt, off+nb*per)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: backend.Layout{Shape: []int{batch, rows, cols}, Strides: st, Offset: off}}
	for i := 0; i < s.Len(); i++ {
		setBits(o.buf, i, encode(dt, gen()))
	}
	return o
}

// dense copies a [batch, rows, cols] operand into a row-major float64 slice.
func dense(o operand) []float64 { return o.values() }

// matmulRef is the naive product in float64, with Σ_p |a_ip·b_pj| per
// element for the error bound.
func matmulRef(a, b []float64, batch, m, k, n int) (want, mag []float64) {
	want, mag = make([]float64, batch*m*n), make([]float64, batch*m*n)
	for bi := 0; bi < batch; bi++ {
		A, B := a[bi*m*k:], b[bi*k*n:]
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s, g := 0.0, 0.0
				for p := 0; p < k; p++ {
					x := A[i*k+p] * B[p*n+j]
					s += x
					g += math.Abs(x)
				}
				want[(bi*m+i)*n+j], mag[(bi*m+i)*n+j] = s, g
			}
		}
	}
	return want, mag
}

// unitRoundoff is u of the dtype's arithmetic (0 for exact integers).
func unitRoundoff(dt backend.DType) float64 {
	switch dt {
	case f32:
		return 0x1p-24
	case f64:
		return 0x1p-53
	}
	return 0
}

type mmCase struct {
	batch, m, k, n int
	ta, tb         bool // A, B transposed
	ba, bb         bool // A, B batch-broadcast
	tc             bool // dst transposed (column-major matrices)
}

func (c mmCase) String() string {
	return fmt.Sprintf("b%d %dx%dx%d ta=%v tb=%v ba=%v bb=%v tc=%v", c.batch, c.m, c.k, c.n, c.ta, c.tb, c.ba, c.bb, c.tc)
}

func runMatMul(t *testing.T, dt backend.DType, c mmCase, rng *rand.Rand) {
	t.Helper()
	gen := genFor(dt, rng, -1, 1)
	a := matOperand(t, dt, c.batch, c.m, c.k, c.ta, c.ba, gen)
	b := matOperand(t, dt, c.batch, c.k, c.n, c.tb, c.bb, gen)
	var dst operand
	var before []uint64
	if c.tc {
		dst = matOperand(t, dt, c.batch, c.m, c.n, true, false, gen)
		before = dst.snapshot()
	} else {
		dst, before = newOutput(t, dt, lkContig, []int{c.batch, c.m, c.n}, rng)
	}
	be.MatMul(dst.view(), a.view(), b.view())
	want, mag := matmulRef(dense(a), dense(b), c.batch, c.m, c.k, c.n)
	// A k-term dot product in the dtype's arithmetic, in any order and
	// blocking, errs by at most γ_k·Σ|a_ip·b_pj| with γ_k = k·u/(1−k·u)
	// (Higham, Accuracy and Stability, §3.1); 2k·u covers γ_k here. The
	// float64 reference's own error is below that.
	u := unitRoundoff(dt)
	bad := 0
	forEachIndex(dst.l.Shape, func(idx []int) {
		w := want[linear(dst.l.Shape, idx)]
		if !dt.IsFloat() {
			w = wrapped(dt, int64(w))
		}
		atol := 2 * float64(c.k) * u * mag[linear(dst.l.Shape, idx)]
		if got := dst.at(idx); !near(got, w, rtolOf(dt), atol) {
			if bad++; bad <= 5 {
				t.Errorf("%v %v: at %v: got %v, want %v (tol %g)", dt, c, idx, got, w, atol)
			}
		}
	})
	checkUntouched(t, fmt.Sprint(dt, c), dst, before)
}

func gemmCases(rng *rand.Rand) []mmCase {
	small := []int{0, 1, 3, 4, 5}
	edge := []int{95, 96, 97, 255, 256, 257}
	var cs []mmCase
	// every small shape with every transpose combination
	for _, m := range small {
		for _, k := range small {
			for _, n := range small {
				for tr := 0; tr < 4; tr++ {
					cs = append(cs, mmCase{batch: 1, m: m, k: k, n: n, ta: tr&1 != 0, tb: tr&2 != 0})
				}
			}
		}
	}
	rt := func() bool { return rng.IntN(2) == 0 }
	// one dim at a block edge, the others small
	for _, e := range edge {
		for _, s := range []int{1, 3, 5} {
			cs = append(cs,
				mmCase{batch: 1, m: e, k: s, n: 4 + s, ta: rt(), tb: rt()},
				mmCase{batch: 1, m: s, k: e, n: 4 + s, ta: rt(), tb: rt()},
				mmCase{batch: 1, m: 4 + s, k: s, n: e, ta: rt(), tb: rt()})
		}
	}
	// two dims at block edges
	for _, e1 := range edge {
		for _, e2 := range edge {
			switch rng.IntN(3) {
			case 0:
				cs = append(cs, mmCase{batch: 1, m: e1, k: e2, n: 3, ta: rt(), tb: rt()})
			case 1:
				cs = append(cs, mmCase{batch: 1, m: 5, k: e1, n: e2, ta: rt(), tb: rt()})
			default:
				cs = append(cs, mmCase{batch: 1, m: e1, k: 3, n: e2, ta: rt(), tb: rt(), tc: rt()})
			}
		}
	}
	// all three, and columns past gemmNC
	cs = append(cs,
		mmCase{batch: 1, m: 95, k: 257, n: 97},
		mmCase{batch: 1, m: 97, k: 256, n: 255, ta: true},
		mmCase{batch: 1, m: 257, k: 255, n: 96, tb: true},
		mmCase{batch: 1, m: 96, k: 97, n: 257, ta: true, tb: true, tc: true},
		mmCase{batch: 1, m: 5, k: 3, n: 2100},
		mmCase{batch: 1, m: 3, k: 2, n: 4100, tb: true},
		mmCase{batch: 1, m: 9, k: 300, n: 2049, ta: true},
	)
	return cs
}

func TestMatMulShapes(t *testing.T) {
	forEachGemmPath(t, testMatMulShapes)
}

func testMatMulShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	cases := gemmCases(rng)
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("threads=%d", p), func(t *testing.T) {
			withThreads(t, p)
			for _, dt := range []backend.DType{f32, f64, i64} {
				for _, c := range cases {
					big := c.m*c.n*c.k > 1<<20
					if big && (dt == i64 || testing.Short()) {
						continue // the integer kernel is a naive loop: the small shapes cover it
					}
					if raceEnabled && p == 1 && c.m*c.n*c.k > 1<<16 {
						continue // one goroutine has nothing to race
					}
					runMatMul(t, dt, c, rng)
				}
			}
		})
	}
}

func TestMatMulBatched(t *testing.T) {
	forEachGemmPath(t, testMatMulBatched)
}

func testMatMulBatched(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	var cases []mmCase
	for _, sh := range [][3]int{{1, 1, 1}, {5, 7, 9}, {33, 17, 65}, {4, 0, 6}, {0, 3, 3}} {
		for bc := 0; bc < 4; bc++ {
			for _, batch := range []int{1, 3, 7} {
				cases = append(cases, mmCase{batch: batch, m: sh[0], k: sh[1], n: sh[2],
					ba: bc&1 != 0, bb: bc&2 != 0, ta: rng.IntN(2) == 0, tb: rng.IntN(2) == 0, tc: rng.IntN(3) == 0})
			}
		}
	}
	cases = append(cases,
		mmCase{batch: 2, m: 97, k: 96, n: 257, bb: true}, // batch < threads: split inside each product
		mmCase{batch: 0, m: 3, k: 4, n: 5},
	)
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("threads=%d", p), func(t *testing.T) {
			withThreads(t, p)
			for _, dt := range []backend.DType{f32, f64, i64, i32} {
				for _, c := range cases {
					runMatMul(t, dt, c, rng)
				}
			}
		})
	}
}

// The 513×257×129 product is large enough for every parallel split.
func TestMatMulLarge(t *testing.T) {
	forEachGemmPath(t, testMatMulLarge)
}

func testMatMulLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("threads=%d", p), func(t *testing.T) {
			withThreads(t, p)
			for _, dt := range []backend.DType{f32, f64} {
				runMatMul(t, dt, mmCase{batch: 1, m: 513, k: 257, n: 129}, rng)
				runMatMul(t, dt, mmCase{batch: 1, m: 60, k: 40, n: 1100, ta: true, tc: true}, rng) // split by columns
				runMatMul(t, dt, mmCase{batch: 6, m: 20, k: 30, n: 40, ba: true}, rng)             // split by batch
			}
		})
	}
}

// gemmPath is one way gemm can run: the pure-Go kernel (nil kernels) or
// a pair of SIMD kernels.
type gemmPath struct {
	name string
	k32  *microKernel[float32]
	k64  *microKernel[float64]
}

// tinyBlocks returns a copy of kn with blocks a few tiles wide, so small
// products cross every block boundary (k, columns of B, rows of A).
func tinyBlocks[T float](kn *microKernel[T]) *microKernel[T] {
	if kn == nil {
		return nil
	}
	c := *kn
	c.name += " tiny blocks"
	c.kc, c.nc, c.mc = 7, 2*kn.nr, 2*kn.mr
	return &c
}

// gemmPaths lists the pure-Go path, each SIMD kernel this CPU runs (the
// float32 and float64 lists paired by position), the same kernels with
// tiny blocks, and the Go twin of the kernel (microRef) driven through
// the packed blocking, which runs on every platform.
func gemmPaths() []gemmPath {
	paths := []gemmPath{{name: "go"}}
	c32, c64 := gemmCandidates32(), gemmCandidates64()
	for i := 0; i < max(len(c32), len(c64)); i++ {
		var p gemmPath
		if i < len(c32) {
			p.k32, p.name = c32[i], "f32 "+c32[i].name
		}
		if i < len(c64) {
			p.k64, p.name = c64[i], p.name+" f64 "+c64[i].name
		}
		paths = append(paths, p, gemmPath{p.name + " tiny blocks", tinyBlocks(p.k32), tinyBlocks(p.k64)})
	}
	return append(paths, gemmPath{"ref 5x8", refKernel[float32](5, 8, 9, 24, 15), refKernel[float64](3, 4, 11, 12, 9)})
}

// withGemmPath makes gemm take path p for the rest of the test.
func withGemmPath(t *testing.T, p gemmPath) {
	old32, old64 := setKernels(p.k32, p.k64)
	t.Cleanup(func() { setKernels(old32, old64) })
}

// forEachGemmPath runs test once per GEMM path, as a subtest. Under the
// race detector, which is after the goroutines' sharing of memory rather
// than the kernels' arithmetic, it runs the pure-Go path, the first SIMD
// path and the packed blocking with the Go kernel.
func forEachGemmPath(t *testing.T, test func(*testing.T)) {
	paths := gemmPaths()
	if raceEnabled && len(paths) > 3 {
		paths = []gemmPath{paths[0], paths[1], paths[len(paths)-1]}
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			withGemmPath(t, p)
			test(t)
		})
	}
}

// discrete fills s with multiples of 1/4 in [-2, 2]: every product of two
// is a multiple of 1/16 and every sum of up to 2¹⁸ of them is exact in
// float32, so any order of summation gives the same bits.
func discrete[T float](rng *rand.Rand, s []T) {
	for i := range s {
		s[i] = T(rng.IntN(17)-8) / 4
	}
}

// gemmLayout is how a test matrix lies in its buffer.
type gemmLayout int

const (
	glRow     gemmLayout = iota // row-major, rows packed
	glRowPad                    // row-major, rows 3 elements apart more
	glCol                       // column-major (a transposed view), padded
	glStep                      // both strides above 1
	glFlip                      // row-major with negative strides
	glColWide                   // column-major, columns a multiple of 256 elements apart
)

func (l gemmLayout) String() string {
	return [...]string{"row", "rowpad", "col", "step", "flip", "colwide"}[l]
}

// guard is the number of elements before and after every test matrix.
const guard = 37

// guardedMat lays a rows×cols matrix out as l inside a buffer with guard
// bands of guard elements at both ends.
func guardedMat[T float](rows, cols int, l gemmLayout) (mat[T], []T) {
	m := mat[T]{rows: rows, cols: cols}
	var extent int
	switch l {
	case glRow:
		m.rs, m.cs, extent = cols, 1, rows*cols
	case glRowPad:
		m.rs, m.cs, extent = cols+3, 1, rows*(cols+3)
	case glCol:
		m.rs, m.cs, extent = 1, rows+2, cols*(rows+2)
	case glStep:
		m.rs, m.cs, extent = 2*cols+1, 2, rows*(2*cols+1)
	case glFlip:
		m.rs, m.cs, extent = -cols, -1, rows*cols
	case glColWide:
		m.rs, m.cs = 1, roundUp(rows+1, 256)
		extent = (cols-1)*m.cs + rows
	}
	m.data = make([]T, guard+extent+guard)
	m.off = guard
	if l == glFlip {
		m.off = guard + extent - 1
	}
	return m, m.data
}

// sameValue reports whether got and want hold the same values, bit for bit
// (so NaN sentinels must match), counting +0 and -0 as equal.
func sameValue[T float](got, want T) bool {
	if got == 0 && want == 0 {
		return true
	}
	switch g := any(got).(type) {
	case float32:
		return math.Float32bits(g) == math.Float32bits(any(want).(float32))
	case float64:
		return math.Float64bits(g) == math.Float64bits(any(want).(float64))
	}
	return false
}

// sentinels returns n sentinels: a guard band, or an output whose every
// element a test expects to be written or left alone.
func sentinels[T float](n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = sentinel[T]()
	}
	return s
}

// sentinel is a NaN with a payload no kernel computes.
func sentinel[T float]() T {
	var z T
	if _, ok := any(z).(float32); ok {
		return T(any(math.Float32frombits(0x7fc0dead)).(float32))
	}
	return T(any(math.Float64frombits(0x7ff8_0000_dead_beef)).(float64))
}

// gemmShapes covers every remainder of the kernel's mr and nr (paired
// diagonally, with the other dim varying), k from 1 past the unroll of 4
// and past kc, and a few products large enough for every thread split.
func gemmShapes(mr, nr, kc int) [][3]int {
	var sh [][3]int
	ks := []int{1, 2, 3, 4, 5, 7, 8, 9, 13, 17, kc - 1, kc, kc + 1, 2*kc + 3}
	for r := 0; r < max(mr, nr); r++ {
		m, n := mr+r%mr+1, nr+r%nr+1 // remainders 1…mr-1 and 0 of each
		if r%3 == 1 {
			m = r%mr + 1 // a lone partial panel
		}
		if r%4 == 2 {
			n = r%nr + 1
		}
		sh = append(sh, [3]int{m, n, ks[r%len(ks)]})
	}
	for _, k := range ks {
		sh = append(sh, [3]int{2*mr + 1, 2*nr - 1, k}, [3]int{mr, nr, k})
	}
	return append(sh, [3]int{1, 3 * nr, 2*kc + 1}, [3]int{5 * mr, 1, 3}, [3]int{4*mr + 3, 5*nr + 1, kc + 5},
		[3]int{97, 131, 300}, [3]int{200, 7, 64}, [3]int{7, 300, 65})
}

// testGemmAgainstGo holds gemm on kernel kn to gemm on the pure-Go path,
// bit for bit, over gemmShapes in every combination of layouts of A, B
// and C, at 1 to 4 threads; C lies in a buffer of NaN sentinels, so
// writes outside it (guard bands, row padding, the gaps of a strided C)
// show up as differences.
func testGemmAgainstGo[T float](t *testing.T, kn *microKernel[T]) {
	rng := rand.New(rand.NewPCG(7, uint64(kn.mr*100+kn.nr)))
	layouts := []gemmLayout{glRow, glRowPad, glCol, glStep, glFlip}
	i := 0
	for _, sh := range gemmShapes(kn.mr, kn.nr, kn.kc) {
		m, n, k := sh[0], sh[1], sh[2]
		for _, threads := range []int{1, 2, 3, 4} {
			i++
			la, lb, lc := layouts[i%5], layouts[(i/5)%5], layouts[(i/25)%4]
			checkGemmAgainstGo(t, rng, kn, m, n, k, la, lb, lc, threads)
		}
	}
}

// checkGemmAgainstGo holds one product on kernel kn, m×k by k×n with
// operands laid out la, lb and C lc, to the pure-Go path, bit for bit,
// with C in a buffer of NaN sentinels; it returns the operands' B.
func checkGemmAgainstGo[T float](t *testing.T, rng *rand.Rand, kn *microKernel[T], m, n, k int, la, lb, lc gemmLayout, threads int) mat[T] {
	t.Helper()
	A, abuf := guardedMat[T](m, k, la)
	B, bbuf := guardedMat[T](k, n, lb)
	discrete(rng, abuf)
	discrete(rng, bbuf)
	C, cbuf := guardedMat[T](m, n, lc)
	want := make([]T, len(cbuf))
	for j := range cbuf {
		cbuf[j], want[j] = sentinel[T](), sentinel[T]()
	}
	W := C
	W.data = want
	gemmGo(W, A, B, 1)
	gemmPacked(kn, C, A, B, threads)
	for j := range cbuf {
		if !sameValue(cbuf[j], want[j]) {
			t.Fatalf("%s %dx%dx%d A %v B %v C %v threads %d: element %d of C's buffer (offset %d, strides %d, %d) is %v, want %v",
				kn.name, m, k, n, la, lb, lc, threads, j, C.off, C.rs, C.cs, cbuf[j], want[j])
		}
	}
	return B
}

// TestGemmSIMDMatchesGo runs every SIMD kernel (and the packed blocking
// with the Go twin of the kernel) against the pure-Go path.
func TestGemmSIMDMatchesGo(t *testing.T) {
	for _, p := range gemmPaths()[1:] {
		t.Run(p.name, func(t *testing.T) {
			if p.k32 != nil {
				testGemmAgainstGo(t, p.k32)
			}
			if p.k64 != nil {
				testGemmAgainstGo(t, p.k64)
			}
		})
	}
}

// TestGemmRowBMatchesGo holds the products that read a row-major B
// unpacked (useRowB) to the pure-Go path, bit for bit, as
// testGemmAgainstGo does: every partial panel of rows, k in one block and
// in several, B's rows contiguous or padded, C row-major or not, one
// thread and several.
func TestGemmRowBMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 5))
	for _, kn := range gemmCandidates32() {
		if kn.rowB == nil {
			continue
		}
		for _, k := range []*microKernel[float32]{kn, tinyBlocks(kn)} {
			for _, sh := range [][3]int{{1, 64, 1025}, {12, 128, 600}, {41, 256, 300}, {128, 96, 700}, {kn.mr - 1, 512, 128}} {
				m, n, kk := sh[0], sh[1], sh[2]
				for _, lb := range []gemmLayout{glRow, glRowPad} {
					for _, lc := range []gemmLayout{glRow, glCol} {
						for _, threads := range []int{1, 3} {
							B := checkGemmAgainstGo(t, rng, k, m, n, kk, glRow, lb, lc, threads)
							if !useRowB(k, B, m, n) {
								t.Fatalf("%s %dx%dx%d B %v: not read unpacked", k.name, m, kk, n, lb)
							}
						}
					}
				}
			}
		}
	}
}

// TestGemmTransposedRowAMatchesGo holds the products computed as Cᵀ =
// Bᵀ·Aᵀ (rowATransposed: A row-major, B column-major, few rows) to the
// pure-Go path, bit for bit, on both sides of rowATransposedMinK, where
// the choice between that and the packed product flips.
func TestGemmTransposedRowAMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 3))
	for _, kn := range gemmCandidates32() {
		if kn.rowA == nil {
			continue
		}
		for _, sh := range [][3]int{{64, 200, 10}, {64, 200, rowATransposedMinK - 1}, {64, 200, rowATransposedMinK}, {96, 130, 2*kn.kc + 3}} {
			m, n, k := sh[0], sh[1], sh[2]
			for _, threads := range []int{1, 3} {
				A, _ := guardedMat[float32](m, k, glRow)
				B := checkGemmAgainstGo(t, rng, kn, m, n, k, glRow, glCol, glRow, threads)
				C, _ := guardedMat[float32](m, n, glRow)
				if got, want := rowATransposed(kn, C, A, B), k >= rowATransposedMinK; got != want {
					t.Fatalf("%s %dx%dx%d: rowATransposed %v, want %v", kn.name, m, k, n, got, want)
				}
			}
		}
	}
}

// testKernel holds the micro-kernel kn.fn to microRef, bit for bit, for k
// from 0 to past several unrolled iterations, both overwriting and
// accumulating into a tile whose rows are ldc = nr+5 apart, inside a
// buffer of sentinels: the padding between rows and the bands around the
// tile must come back untouched.
func testKernel[T float](t *testing.T, kn *microKernel[T]) {
	testKernelPart(t, kn, kn.fn, kn.mr, kn.nr)
	for h := 1; h < len(kn.edge); h++ {
		testKernelPart(t, kn, kn.edge[h], h, kn.nr)
	}
	for h := 1; h < len(kn.narrow); h++ {
		testKernelPart(t, kn, kn.narrow[h], h, kn.nr/2)
	}
	if kn.rowA != nil {
		testKernelRowA(t, kn)
	}
	if kn.rowB != nil {
		testKernelRowB(t, kn)
	}
}

// testKernelRowB holds kn.rowB and its edges to microRefA on the same B
// packed, bit for bit, on rows of B ldb = nr+pad apart whose padding is
// NaN: a kernel that reads past a row's nr values, or a row too many,
// returns NaN; and the rows of the tile past an edge kernel's must come
// back untouched.
func testKernelRowB[T float](t *testing.T, kn *microKernel[T]) {
	rng := rand.New(rand.NewPCG(19, uint64(kn.mr*100+kn.nr)))
	mr, nr, ldc := kn.mr, kn.nr, kn.nr+5
	for h := 1; h <= mr; h++ {
		fn := kn.rowB
		if h < mr {
			fn = kn.rowBEdge[h]
		}
		for k := 1; k <= 70; k++ {
			if k > 20 && k%8 != 1 && k%8 != 4 {
				continue
			}
			for _, pad := range []int{0, 3, 16} {
				for _, accum := range []bool{false, true} {
					ldb := nr + pad
					a := make([]T, k*mr+1)
					discrete(rng, a)
					a[len(a)-1] = sentinel[T]()
					b := sentinels[T](k*ldb + 1)
					packed := make([]T, k*nr)
					for p := 0; p < k; p++ {
						discrete(rng, b[p*ldb:p*ldb+nr])
						copy(packed[p*nr:], b[p*ldb:p*ldb+nr])
					}
					got := sentinels[T](guard + (mr-1)*ldc + nr + guard)
					for i := 0; i < mr; i++ {
						discrete(rng, got[guard+i*ldc:guard+i*ldc+nr])
					}
					want := append([]T(nil), got...)
					microRefA(h, nr, k, a, 1, mr, packed, want[guard:], ldc, accum)
					fn(k, &a[0], &b[0], ldb, &got[guard], ldc, accum)
					for i := range got {
						if !sameValue(got[i], want[i]) {
							t.Fatalf("%s rowB rows=%d k=%d ldb=%d accum=%v: element %d (tile starts at %d, rows %d apart) is %v, want %v",
								kn.name, h, k, ldb, accum, i, guard, ldc, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// testKernelRowA holds kn.rowA to microRefRowA, bit for bit, as
// testKernelPart holds the packed kernels, on rows of A lda = k+pad
// apart whose padding is NaN: a kernel that reads past a row's k values,
// or a row too many, returns NaN.
func testKernelRowA[T float](t *testing.T, kn *microKernel[T]) {
	rng := rand.New(rand.NewPCG(17, uint64(kn.mr*100+kn.nr)))
	mr, nr, ldc := kn.mr, kn.nr, kn.nr+5
	for k := 1; k <= 70; k++ {
		if k > 20 && k%8 != 1 && k%8 != 4 {
			continue
		}
		for _, pad := range []int{0, 3, 16} {
			for _, accum := range []bool{false, true} {
				lda := k + pad
				a := sentinels[T](mr*lda + 1)
				for i := 0; i < mr; i++ {
					discrete(rng, a[i*lda:i*lda+k])
				}
				b := make([]T, k*nr+1)
				discrete(rng, b)
				b[len(b)-1] = sentinel[T]()
				got := sentinels[T](guard + (mr-1)*ldc + nr + guard)
				for i := 0; i < mr; i++ {
					discrete(rng, got[guard+i*ldc:guard+i*ldc+nr])
				}
				want := append([]T(nil), got...)
				microRefRowA(mr, nr, k, a, lda, b, want[guard:], ldc, accum)
				kn.rowA(k, &a[0], lda, &b[0], &got[guard], ldc, accum)
				for i := range got {
					if !sameValue(got[i], want[i]) {
						t.Fatalf("%s rowA k=%d lda=%d accum=%v: element %d (tile starts at %d, rows %d apart) is %v, want %v",
							kn.name, k, lda, accum, i, guard, ldc, got[i], want[i])
					}
				}
			}
		}
	}
}

// testKernelPart is testKernel for fn, which computes the first rows rows
// and cols columns of kn's tile: the rest of the tile must come back
// untouched too.
func testKernelPart[T float](t *testing.T, kn *microKernel[T], fn func(k int, a, b, c *T, ldc int, accum bool), rows, cols int) {
	rng := rand.New(rand.NewPCG(11, uint64(kn.mr*100+kn.nr)))
	mr, nr, ldc := kn.mr, kn.nr, kn.nr+5
	for k := 0; k <= 70; k++ {
		if k > 20 && k%8 != 1 && k%8 != 4 {
			continue
		}
		for _, accum := range []bool{false, true} {
			// +1 so a kernel that reads a past the panel's end faults the
			// comparison rather than the test: the extra values are NaN
			a, b := make([]T, k*mr+1), make([]T, k*nr+1)
			discrete(rng, a)
			discrete(rng, b)
			a[len(a)-1], b[len(b)-1] = sentinel[T](), sentinel[T]()
			got := sentinels[T](guard + (mr-1)*ldc + nr + guard)
			for i := 0; i < mr; i++ {
				discrete(rng, got[guard+i*ldc:guard+i*ldc+nr])
			}
			want := append([]T(nil), got...)
			all := append([]T(nil), got...)
			microRef(mr, nr, k, a, b, all[guard:], ldc, accum)
			for i := 0; i < rows; i++ {
				copy(want[guard+i*ldc:guard+i*ldc+cols], all[guard+i*ldc:])
			}
			fn(k, &a[0], &b[0], &got[guard], ldc, accum)
			for i := range got {
				if !sameValue(got[i], want[i]) {
					t.Fatalf("%s rows %d cols %d k=%d accum=%v: element %d (tile starts at %d, rows %d apart) is %v, want %v",
						kn.name, rows, cols, k, accum, i, guard, ldc, got[i], want[i])
				}
			}
		}
	}
}

// testPacks holds each assembly packing routine of kn to its Go loop for
// k from 0 to 40 and a source stride past the panel's width, with guard
// bands around the destination.
func testPacks[T float](t *testing.T, kn *microKernel[T]) {
	rng := rand.New(rand.NewPCG(13, uint64(kn.mr*100+kn.nr)))
	type pack struct {
		name  string
		fn    func(dst, src *T, ld, k int)
		w     int
		trans bool
	}
	for _, p := range []pack{{"packTA", kn.packTA, kn.mr, true}, {"packNA", kn.packNA, kn.mr, false},
		{"packTB", kn.packTB, kn.nr, true}, {"packNB", kn.packNB, kn.nr, false}} {
		if p.fn == nil {
			continue
		}
		for k := 0; k <= 40; k++ {
			// trans: w rows of k values, ld apart; else k rows of w values
			ld := k + 3
			rows, cols := p.w, k
			if !p.trans {
				ld, rows, cols = p.w+3, k, p.w
			}
			src := make([]T, rows*ld+1)
			discrete(rng, src)
			got := sentinels[T](guard + k*p.w + guard)
			want := append([]T(nil), got...)
			for r := 0; r < rows; r++ {
				for c := 0; c < cols; c++ {
					if p.trans { // dst[c·w + r] = src[r·ld + c]
						want[guard+c*p.w+r] = src[r*ld+c]
					} else { // dst[r·w + c] = src[r·ld + c]
						want[guard+r*p.w+c] = src[r*ld+c]
					}
				}
			}
			p.fn(&got[guard], &src[0], ld, k)
			for i := range got {
				if !sameValue(got[i], want[i]) {
					t.Fatalf("%s %s (w=%d) k=%d: element %d is %v, want %v", kn.name, p.name, p.w, k, i, got[i], want[i])
				}
			}
		}
	}
}

// TestGemmKernels runs every micro-kernel and packing routine this CPU
// runs against its Go twin.
func TestGemmKernels(t *testing.T) {
	for _, kn := range gemmCandidates32() {
		t.Run("f32 "+kn.name, func(t *testing.T) { testKernel(t, kn); testPacks(t, kn) })
	}
	for _, kn := range gemmCandidates64() {
		t.Run("f64 "+kn.name, func(t *testing.T) { testKernel(t, kn); testPacks(t, kn) })
	}
	t.Run("ref", func(t *testing.T) { testKernel(t, refKernel[float32](5, 8, 9, 24, 15)) })
}
