package cpu

// Large cases that cross the kernels' parallel thresholds (grain = 1<<15
// elements, and the reduction's choice of a kept or a reduced dim to split),
// each run with one and with three threads and checked against the
// reference. Kernels whose every output element comes from one formula
// must also give bit-identical results for any thread count.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/backend"
)

// perThreads runs fn with 1 and with 3 threads and returns the raw bits of
// the output operand fn returns for each.
func perThreads(t *testing.T, fn func(t *testing.T) operand) [][]uint64 {
	var outs [][]uint64
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("threads=%d", p), func(t *testing.T) {
			withThreads(t, p)
			o := fn(t)
			var bits []uint64 // the elements the layout reaches, row-major
			forEachIndex(o.l.Shape, func(idx []int) { bits = append(bits, getBits(o.buf, pos(o.l, idx))) })
			outs = append(outs, bits)
		})
	}
	return outs
}

// sameBits fails unless every run gave the same output bits.
func sameBits(t *testing.T, name string, outs [][]uint64) {
	t.Helper()
	for r := 1; r < len(outs); r++ {
		for i := range outs[0] {
			if outs[r][i] != outs[0][i] {
				t.Errorf("%s: element %d differs between thread counts", name, i)
				return
			}
		}
	}
}

// checkAll compares every element of dst with ref(idx) within rtol, atol.
func checkAll(t *testing.T, name string, dst operand, rtol, atol float64, ref func(idx []int) float64) {
	t.Helper()
	bad := 0
	forEachIndex(dst.l.Shape, func(idx []int) {
		want := ref(idx)
		if got := dst.at(idx); !near(got, want, rtol, atol) {
			if bad++; bad <= 5 {
				t.Errorf("%s: at %v: got %v, want %v", name, idx, got, want)
			}
		}
	})
}

func TestParallelElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	sh := []int{300, 400}
	// inputs shared by both thread counts
	x32 := newOperand(t, f32, lkTrans, sh, genFor(f32, rng, -3, 3))
	a64 := newOperand(t, f64, lkContig, sh, genFor(f64, rng, -3, 3))
	b64 := newOperand(t, f64, lkBcast0, sh, genFor(f64, rng, -3, 3))
	s32 := newOperand(t, f32, lkStep, sh, genFor(f32, rng, -3, 3))
	c32 := newOperand(t, f32, lkBcastLast, sh, genDiscrete(f32, rng))
	cond := newOperand(t, bl, lkContig, sh, genFor(bl, rng, 0, 0))

	outs := perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f32, lkContig, sh, rng)
		be.Unary(backend.Exp, dst.view(), x32.view(), backend.Scalars{})
		checkAll(t, "exp", dst, 1e-6, 0, func(idx []int) float64 { return math.Exp(x32.at(idx)) })
		return dst
	})
	sameBits(t, "exp", outs)

	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f64, lkStep, sh, rng)
		be.Binary(backend.Add, dst.view(), a64.view(), b64.view())
		checkAll(t, "add", dst, 1e-12, 0, func(idx []int) float64 { return a64.at(idx) + b64.at(idx) })
		return dst
	})
	sameBits(t, "add", outs)

	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f32, lkContig, sh, rng)
		be.Binary(backend.Maximum, dst.view(), s32.view(), x32.view())
		checkAll(t, "maximum", dst, 0, 0, func(idx []int) float64 { return math.Max(s32.at(idx), x32.at(idx)) })
		return dst
	})
	sameBits(t, "maximum", outs)

	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, bl, lkContig, sh, rng)
		be.Binary(backend.Le, dst.view(), c32.view(), s32.view())
		checkAll(t, "le", dst, 0, 0, func(idx []int) float64 { return b2f(c32.at(idx) <= s32.at(idx)) })
		return dst
	})
	sameBits(t, "le", outs)

	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f32, lkContig, sh, rng)
		be.Where(dst.view(), cond.view(), x32.view(), c32.view())
		checkAll(t, "where", dst, 0, 0, func(idx []int) float64 {
			if cond.at(idx) != 0 {
				return x32.at(idx)
			}
			return c32.at(idx)
		})
		return dst
	})
	sameBits(t, "where", outs)

	for _, lk := range []layoutKind{lkContig, lkStep} {
		outs = perThreads(t, func(t *testing.T) operand {
			dst, before := newOutput(t, i32, lk, []int{400, 300}, rng)
			be.Fill(dst.view(), -7.9)
			checkAll(t, "fill", dst, 0, 0, func([]int) float64 { return -7 })
			checkUntouched(t, "fill", dst, before)
			return dst
		})
		sameBits(t, "fill "+lk.String(), outs)
	}

	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f64, lkContig, sh, rng)
		be.Copy(dst.view(), x32.view())
		checkAll(t, "copy f32→f64", dst, 0, 0, func(idx []int) float64 { return x32.at(idx) })
		return dst
	})
	sameBits(t, "copy f32→f64", outs)

	// a same-dtype contiguous copy past the 4·grain threshold, and a flip
	big := newOperand(t, f32, lkContig, []int{1, 600000}, genFor(f32, rng, -3, 3))
	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f32, lkContig, []int{1, 600000}, rng)
		be.Copy(dst.view(), big.view())
		checkAll(t, "copy contiguous", dst, 0, 0, func(idx []int) float64 { return big.at(idx) })
		return dst
	})
	sameBits(t, "copy contiguous", outs)
	flip := newOperand(t, f64, lkFlip, sh, genFor(f64, rng, -3, 3))
	outs = perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f64, lkContig, sh, rng)
		be.Copy(dst.view(), flip.view())
		checkAll(t, "copy flip", dst, 0, 0, func(idx []int) float64 { return flip.at(idx) })
		return dst
	})
	sameBits(t, "copy flip", outs)
}

// neumaier is a compensated sum, accurate to about one rounding whatever
// the order, so the reference's own error is negligible beside the
// kernel's.
func neumaier(xs []float64) float64 {
	s, c := 0.0, 0.0
	for _, x := range xs {
		t := s + x
		if math.Abs(s) >= math.Abs(x) {
			c += (s - t) + x
		} else {
			c += (x - t) + s
		}
		s = t
	}
	return s + c
}

func TestParallelReduce(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	specs := []reduceSpec{
		{[]int{300, 400}, []int{0}}, {[]int{300, 400}, []int{1}}, {[]int{300, 400}, []int{0, 1}},
		{[]int{1, 200000}, []int{1}}, {[]int{200000, 1}, []int{0}}, {[]int{2, 100000}, []int{1}},
		{[]int{40, 30, 50}, []int{0, 2}},
	}
	// every op in float64; the split logic is shared by all dtypes, so
	// float32 and int64 take a few
	opsFor := map[backend.DType][]backend.ReduceOp{
		f64: {backend.ReduceSum, backend.ReduceMean, backend.ReduceProd, backend.ReduceMax, backend.ReduceMin},
		f32: {backend.ReduceMean, backend.ReduceMax},
		i64: {backend.ReduceSum, backend.ReduceMin},
	}
	layouts := []layoutKind{lkContig, lkTrans}
	if raceEnabled {
		layouts = layouts[:1]
	}
	for _, rs := range specs {
		osh := reducedShape(rs.shape, rs.dims)
		for _, lk := range layouts {
			for _, dt := range []backend.DType{f32, f64, i64} {
				// terms lists, per output element, the src elements it folds
				operands := map[bool]operand{}
				terms := map[bool][][]float64{}
				input := func(prod bool) (operand, [][]float64) {
					if o, ok := operands[prod]; ok {
						return o, terms[prod]
					}
					gen := genFor(dt, rng, -3, 3)
					if prod {
						// close to 1, so 200000 factors neither overflow nor underflow
						gen = genFor(dt, rng, 0.999, 1.001)
					}
					src := newOperand(t, dt, lk, rs.shape, gen)
					ts := make([][]float64, numel(osh))
					oidx := make([]int, len(osh))
					forEachIndex(rs.shape, func(idx []int) {
						copy(oidx, idx)
						for _, d := range rs.dims {
							oidx[d] = 0
						}
						k := linear(osh, oidx)
						ts[k] = append(ts[k], src.at(idx))
					})
					operands[prod], terms[prod] = src, ts
					return src, ts
				}
				for _, op := range opsFor[dt] {
					src, terms := input(op == backend.ReduceProd)
					name := fmt.Sprintf("%v/%v/%v dims %v/%v", op, dt, rs.shape, rs.dims, lk)
					perThreads(t, func(t *testing.T) operand {
						dst, _ := newOutput(t, dt, lkContig, osh, rng)
						be.Reduce(op, dst.view(), src.view())
						forEachIndex(osh, func(idx []int) {
							xs := terms[linear(osh, idx)]
							n := float64(len(xs))
							var want, atol, rtol float64
							mag := 0.0
							for _, x := range xs {
								mag += math.Abs(x)
							}
							switch op {
							case backend.ReduceSum, backend.ReduceMean:
								want = neumaier(xs)
								// a float64 sum of n terms in any order errs by at
								// most about n·2⁻⁵³·Σ|x| (and float32 data is summed
								// in float64); then the result rounds to the dtype
								atol, rtol = n*0x1p-53*mag, rtolOf(dt)
								if op == backend.ReduceMean {
									want, atol = want/n, atol/n
								}
							case backend.ReduceProd:
								want = 1.0
								for _, x := range xs {
									want *= x
								}
								// n roundings of a product: relative error ≤ 2n·2⁻⁵³
								rtol = max(rtolOf(dt), 2*n*0x1p-53)
							case backend.ReduceMax:
								want = math.Inf(-1)
								for _, x := range xs {
									want = math.Max(want, x)
								}
							case backend.ReduceMin:
								want = math.Inf(1)
								for _, x := range xs {
									want = math.Min(want, x)
								}
							}
							if dt == i64 {
								rtol, atol = 0, 0
							}
							if got := dst.at(idx); !near(got, want, rtol, atol) {
								t.Errorf("%s: at %v: got %v, want %v", name, idx, got, want)
							}
						})
						return dst
					})
				}
			}
		}
	}
}

// NaN anywhere in a large reduction, on either side of any split, wins.
func TestParallelReduceNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	for _, sh := range [][]int{{1, 200000}, {200000, 1}, {300, 400}} {
		ats := []int{0, 1, 99999, 133334, 199999}
		if raceEnabled {
			ats = []int{0, 133334}
		}
		for _, at := range ats {
			for _, op := range []backend.ReduceOp{backend.ReduceMax, backend.ReduceMin, backend.ReduceSum} {
				src := newOperand(t, f32, lkContig, sh, genFor(f32, rng, -3, 3))
				idx := []int{at / sh[1] % sh[0], at % sh[1]}
				src.set(idx, math.NaN())
				src.set([]int{(idx[0] + 7) % sh[0], (idx[1] + 3) % sh[1]}, math.Inf(-1))
				perThreads(t, func(t *testing.T) operand {
					dst, _ := newOutput(t, f32, lkContig, []int{1, 1}, rng)
					be.Reduce(op, dst.view(), src.view())
					if got := dst.at([]int{0, 0}); !math.IsNaN(got) {
						t.Errorf("%v of %v with NaN at %v: got %v", op, sh, idx, got)
					}
					return dst
				})
			}
			// and ArgMax finds it
			src := newOperand(t, f64, lkTrans, sh, genFor(f64, rng, -3, 3))
			idx := []int{at / sh[1] % sh[0], at % sh[1]}
			src.set(idx, math.NaN())
			outs := perThreads(t, func(t *testing.T) operand {
				ind, _ := newOutput(t, i64, lkContig, []int{sh[0], 1}, rng)
				be.ArgReduce(backend.ArgMax, backend.View{}, ind.view(), src.view(), 1)
				if got := ind.at([]int{idx[0], 0}); got != float64(idx[1]) {
					t.Errorf("argmax of %v with NaN at %v: got %v", sh, idx, got)
				}
				return ind
			})
			sameBits(t, "argmax NaN", outs)
		}
	}
}

func TestParallelLanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(57, 58))
	sh := []int{300, 400}
	layouts := []layoutKind{lkContig, lkTrans}
	if raceEnabled {
		layouts = layouts[1:]
	}
	for _, dt := range []backend.DType{f32, f64} {
		for _, lk := range layouts {
			src := newOperand(t, dt, lk, sh, genFor(dt, rng, -5, 5))
			disc := newOperand(t, dt, lk, sh, genDiscrete(dt, rng))
			for dim := 0; dim < 2; dim++ {
				for _, log := range []bool{false, true} {
					name := fmt.Sprintf("softmax log=%v %v %v dim %d", log, dt, lk, dim)
					outs := perThreads(t, func(t *testing.T) operand {
						dst, _ := newOutput(t, dt, lkContig, sh, rng)
						be.Softmax(dst.view(), src.view(), dim, log)
						checkLanes(t, name, dst, src, dim, func(lane []float64) ([]float64, []float64) {
							want, scale := softmaxRef(lane, log)
							for i := range scale {
								scale[i] *= 1e-12 // see TestSoftmax
							}
							return want, scale
						})
						return dst
					})
					sameBits(t, name, outs)
				}
				name := fmt.Sprintf("cumsum %v %v dim %d", dt, lk, dim)
				outs := perThreads(t, func(t *testing.T) operand {
					dst, _ := newOutput(t, dt, lkContig, sh, rng)
					be.CumSum(dst.view(), src.view(), dim)
					checkLanes(t, name, dst, src, dim, func(lane []float64) ([]float64, []float64) {
						want, atol := make([]float64, len(lane)), make([]float64, len(lane))
						s, m := 0.0, 0.0
						for i, x := range lane {
							s += x
							m += math.Abs(x)
							// a running float64 sum of n terms errs by at most n·2⁻⁵³·Σ|x|
							want[i], atol[i] = s, float64(i+1)*0x1p-52*m
						}
						return want, atol
					})
					return dst
				})
				sameBits(t, name, outs)
				for _, op := range []backend.ArgOp{backend.ArgMax, backend.ArgMin} {
					name := fmt.Sprintf("%v %v %v dim %d", op, dt, lk, dim)
					osh := keepDim(sh, dim)
					outs := perThreads(t, func(t *testing.T) operand {
						ind, _ := newOutput(t, i64, lkContig, osh, rng)
						vals, _ := newOutput(t, dt, lkContig, osh, rng)
						be.ArgReduce(op, vals.view(), ind.view(), disc.view(), dim)
						forEachIndex(osh, func(idx []int) {
							at, best := argRef(op, disc, idx, dim)
							if ind.at(idx) != float64(at) || vals.at(idx) != best {
								t.Errorf("%s: at %v: got (%v, %v), want (%d, %v)", name, idx, ind.at(idx), vals.at(idx), at, best)
							}
						})
						return ind
					})
					sameBits(t, name, outs)
				}
			}
		}
	}
}

// IndexSelect and IndexAdd move slices of 200000 elements, each split
// over goroutines.
func TestParallelIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(59, 60))
	sh := []int{2, 100000}
	src := newOperand(t, f32, lkTrans, sh, genFor(f32, rng, -3, 3))
	ix := []int{1, 0, 1}
	index := newIndex(t, lkContig, []int{3}, ix)
	outs := perThreads(t, func(t *testing.T) operand {
		dst, _ := newOutput(t, f32, lkContig, []int{3, 100000}, rng)
		if err := be.IndexSelect(dst.view(), src.view(), 0, index.view()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, "index_select", dst, 0, 0, func(idx []int) float64 { return src.at([]int{ix[idx[0]], idx[1]}) })
		return dst
	})
	sameBits(t, "index_select", outs)

	add := newOperand(t, f64, lkStep, []int{3, 100000}, genFor(f64, rng, -3, 3))
	init := newOperand(t, f64, lkContig, sh, genFor(f64, rng, -3, 3))
	outs = perThreads(t, func(t *testing.T) operand {
		dst := newOperand(t, f64, lkContig, sh, func() float64 { return 0 })
		be.Copy(dst.view(), init.view())
		if err := be.IndexAdd(dst.view(), 0, index.view(), add.view()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, "index_add", dst, 0, 1e-14*12, func(idx []int) float64 {
			w := init.at(idx)
			for k, i := range ix {
				if i == idx[0] {
					w += add.at([]int{k, idx[1]})
				}
			}
			return w
		})
		return dst
	})
	sameBits(t, "index_add", outs)
}

// TestParallelForCovers checks that parallelFor hands every index of
// [0, n) to exactly one call, in chunks of at least minChunk (but the
// only one), for thread counts up to past GOMAXPROCS.
func TestParallelForCovers(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		withThreads(t, threads)
		for _, n := range []int{0, 1, 2, 3, 7, 8, 100, 1001} {
			for _, minChunk := range []int{0, 1, 3, 50} {
				hits := make([]atomic.Int32, n)
				var calls atomic.Int32
				parallelFor(n, minChunk, func(lo, hi int) {
					calls.Add(1)
					if hi-lo < max(minChunk, 1) && !(lo == 0 && hi == n) {
						t.Errorf("threads %d n %d minChunk %d: chunk [%d, %d) is short", threads, n, minChunk, lo, hi)
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads %d n %d minChunk %d: index %d run %d times", threads, n, minChunk, i, h)
					}
				}
				if c := int(calls.Load()); c > threads {
					t.Errorf("threads %d n %d minChunk %d: %d chunks", threads, n, minChunk, c)
				}
			}
		}
	}
}

// TestRunTeam runs teams of 1 to 5 parts from four goroutines at once,
// some of them nesting a team inside a part, back to back (so parts go to
// spinning helpers, to fresh ones when those are busy, and to helpers
// handed a part just as they give up): every part must run exactly once
// before runTeam returns. Then the helpers must all exit within a few
// times helperSpin, leaving no goroutine behind.
func TestRunTeam(t *testing.T) {
	idle := func() int {
		helperMu.Lock()
		defer helperMu.Unlock()
		return len(idleHelpers)
	}
	settle := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d goroutines, %d helpers listed idle", what, runtime.NumGoroutine(), idle())
			}
			time.Sleep(time.Millisecond)
		}
	}
	settle("helpers of earlier tests", func() bool { return idle() == 0 })
	time.Sleep(10 * time.Millisecond) // for them to return
	before := runtime.NumGoroutine()
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				p := 1 + (r+g)%5
				hits := make([]atomic.Int32, p)
				var nested atomic.Int32
				runTeam(p, func(i int) {
					hits[i].Add(1)
					if i == p-1 && r%7 == 0 {
						runTeam(2, func(int) { nested.Add(1) })
					}
					if r%50 == 0 {
						time.Sleep(2 * helperSpin) // some helpers give up meanwhile
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Errorf("team of %d: part %d ran %d times", p, i, h)
						return
					}
				}
				if r%7 == 0 && nested.Load() != 2 {
					t.Errorf("nested team of 2 ran %d parts", nested.Load())
					return
				}
			}
		}()
	}
	wg.Wait()
	settle("helpers after the teams", func() bool { return idle() == 0 && runtime.NumGoroutine() <= before })
}
