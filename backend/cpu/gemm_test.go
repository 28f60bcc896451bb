package cpu

// MatMul against a naive triple loop in float64, over shapes around the
// blocking constants (gemmMR = gemmNR = 4, gemmMC = 96, gemmKC = 256,
// gemmNC = 2048), transposed operands, broadcast batches and both the
// serial and the split (row or column) paths.

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
