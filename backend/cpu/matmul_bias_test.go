package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// MatMulBias against a float64 triple loop plus the bias, on every GEMM
// path (pure Go, each SIMD kernel, tiny blocks, the Go twin of the
// kernel), at 1 and 2 threads, over empty, size-1, tiny (direct dot
// products), odd and MLP-sized products with transposed operands, a
// strided bias, batches and a column-major dst; and the packed GEMM's
// accumulate mode against the pure-Go GEMM bit for bit.

// biasOperand makes a [n] bias with element stride stride and an offset,
// inside a buffer with room on both sides.
func biasOperand(t *testing.T, dt backend.DType, n, stride int, gen func() float64) operand {
	t.Helper()
	s, err := be.Alloc(dt, 3+max(n, 1)*stride+3)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: backend.Layout{Shape: []int{n}, Strides: []int{stride}, Offset: 3}}
	for i := 0; i < s.Len(); i++ {
		setBits(o.buf, i, encode(dt, gen()))
	}
	return o
}

func TestMatMulBias(t *testing.T) {
	forEachGemmPath(t, func(t *testing.T) {
		for _, p := range []int{1, 2} {
			withThreads(t, p)
			rng := rand.New(rand.NewPCG(11, uint64(p)))
			for _, dt := range []backend.DType{f32, f64} {
				for _, c := range []struct {
					mmCase
					bstride int
				}{
					{mmCase{batch: 1, m: 0, k: 3, n: 4}, 1},
					{mmCase{batch: 1, m: 3, k: 4, n: 0}, 1},
					{mmCase{batch: 1, m: 3, k: 0, n: 5}, 2},
					{mmCase{batch: 1, m: 1, k: 1, n: 1}, 1},
					{mmCase{batch: 1, m: 4, k: 5, n: 6}, 3},
					{mmCase{batch: 1, m: 13, k: 33, n: 37}, 1},
					{mmCase{batch: 1, m: 13, k: 33, n: 37, ta: true, tb: true}, 2},
					{mmCase{batch: 1, m: 25, k: 70, n: 10, tb: true}, 1},
					{mmCase{batch: 2, m: 17, k: 9, n: 41, tc: true}, 2},
					{mmCase{batch: 3, m: 12, k: 20, n: 33, bb: true}, 1},
					{mmCase{batch: 1, m: 128, k: 784, n: 10, tb: true}, 1},
					// rows of biasPrefillCols or more: the bias added after
					{mmCase{batch: 1, m: 20, k: 30, n: 70, tb: true}, 1},
					{mmCase{batch: 2, m: 13, k: 9, n: 65, ta: true}, 2},
					{mmCase{batch: 1, m: 5, k: 7, n: 64, tc: true}, 1},
				} {
					runMatMulBias(t, dt, c.mmCase, c.bstride, rng)
				}
			}
		}
	})
}

func runMatMulBias(t *testing.T, dt backend.DType, c mmCase, bstride int, rng *rand.Rand) {
	t.Helper()
	gen := genFor(dt, rng, -1, 1)
	a := matOperand(t, dt, c.batch, c.m, c.k, c.ta, c.ba, gen)
	b := matOperand(t, dt, c.batch, c.k, c.n, c.tb, c.bb, gen)
	bias := biasOperand(t, dt, c.n, bstride, gen)
	var dst operand
	var before []uint64
	if c.tc {
		dst = matOperand(t, dt, c.batch, c.m, c.n, true, false, gen)
		before = dst.snapshot()
	} else {
		dst, before = newOutput(t, dt, lkContig, []int{c.batch, c.m, c.n}, rng)
	}
	be.MatMulBias(dst.view(), a.view(), b.view(), bias.view())
	want, mag := matmulRef(dense(a), dense(b), c.batch, c.m, c.k, c.n)
	bv := bias.values()
	u := unitRoundoff(dt)
	name := fmt.Sprint(dt, c, " bias stride ", bstride)
	bad := 0
	forEachIndex(dst.l.Shape, func(idx []int) {
		l := linear(dst.l.Shape, idx)
		w := want[l] + bv[idx[2]]
		// as for MatMul, with one more term (the bias) in the sum
		atol := 2 * float64(c.k+1) * u * (mag[l] + math.Abs(bv[idx[2]]))
		if got := dst.at(idx); !near(got, w, rtolOf(dt), atol) {
			if bad++; bad <= 5 {
				t.Errorf("%s: at %v: got %v, want %v (tol %g)", name, idx, got, w, atol)
			}
		}
	})
	checkUntouched(t, name, dst, before)
}

// TestGemmPackedAccumulate holds gemmPackedInto's accumulate mode to the
// pure-Go GEMM plus C's prior contents, bit for bit (discrete values make
// every sum exact), over gemmShapes in every layout of A, B and C and at
// 1 to 3 threads; C lies in NaN sentinels, so a write outside it shows.
func TestGemmPackedAccumulate(t *testing.T) {
	for _, p := range gemmPaths()[1:] {
		t.Run(p.name, func(t *testing.T) {
			if p.k32 != nil {
				testGemmAccumulate(t, p.k32)
			}
			if p.k64 != nil {
				testGemmAccumulate(t, p.k64)
			}
		})
	}
}

func testGemmAccumulate[T float](t *testing.T, kn *microKernel[T]) {
	rng := rand.New(rand.NewPCG(13, uint64(kn.mr*100+kn.nr)))
	layouts := []gemmLayout{glRow, glRowPad, glCol, glStep, glFlip}
	shapes := gemmShapes(kn.mr, kn.nr, kn.kc)
	if testing.Short() || raceEnabled {
		shapes = shapes[len(shapes)-8:]
	}
	i := 0
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		for _, threads := range []int{1, 2, 3} {
			i++
			la, lb, lc := layouts[i%5], layouts[(i/5)%5], layouts[(i/25)%5]
			A, abuf := guardedMat[T](m, k, la)
			B, bbuf := guardedMat[T](k, n, lb)
			discrete(rng, abuf)
			discrete(rng, bbuf)
			C, cbuf := guardedMat[T](m, n, lc)
			for j := range cbuf {
				cbuf[j] = sentinel[T]()
			}
			W := C
			W.data = make([]T, len(cbuf))
			copy(W.data, cbuf)
			gemmGo(W, A, B, 1)
			for r := 0; r < m; r++ {
				for c := 0; c < n; c++ {
					v := T(rng.IntN(17)-8) / 4
					C.data[C.off+r*C.rs+c*C.cs] = v
					W.data[W.off+r*W.rs+c*W.cs] += v
				}
			}
			gemmPackedInto(kn, C, A, B, threads, true)
			for j := range cbuf {
				if !sameValue(cbuf[j], W.data[j]) {
					t.Fatalf("%s %dx%dx%d A %v B %v C %v threads %d: element %d of C's buffer is %v, want %v",
						kn.name, m, k, n, la, lb, lc, threads, j, cbuf[j], W.data[j])
				}
			}
		}
	}
}

// TestSwapOperands checks the cost model that has the packed GEMM compute
// Cᵀ = Bᵀ·Aᵀ: a C a few columns wide and many rows tall is transposed, its
// transpose and square or wide products are not. (The results do not
// depend on it: TestGemmSIMDMatchesGo holds both orientations to the
// pure-Go GEMM bit for bit.)
func TestSwapOperands(t *testing.T) {
	kn := refKernel[float32](12, 32, 512, 1024, 96)
	kn.edge = make([]func(int, *float32, *float32, *float32, int, bool), 12)
	kn.narrow = make([]func(int, *float32, *float32, *float32, int, bool), 13)
	for _, c := range []struct {
		m, n int
		want bool
	}{
		{128, 10, true},  // 128 rows × 16 narrow columns against 10 × 128
		{10, 128, false}, // its transpose
		{128, 512, false},
		{512, 128, false},
		{10, 512, false}, // 10 × 512 against 512 × 16
		{1, 1, false},
		{64, 1, true},
		{60, 5, false}, // B would get a partial panel of 28 columns
		{200, 20, true},
		{12, 32, false},
		{40, 17, true},  // 40 × 32 against 17 × 48
		{40, 20, false}, // 40 × 32 against 20 × 48: 3/4, too close to pay
	} {
		if got := swapOperands(kn, c.m, c.n); got != c.want {
			t.Errorf("swapOperands(%d×%d) = %v, want %v (work %d, transposed %d)",
				c.m, c.n, got, c.want, tileWork(kn, c.m, c.n), tileWork(kn, c.n, c.m))
		}
	}
}
