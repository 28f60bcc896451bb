package cpu

// Where's contiguous and one-value (0-d or all-stride-0) paths, the
// typed Sign loop, the iterator past maxDims dims, the one-allocation
// small buffers, and the allocation counts of the common ops, against the
// element-by-element reference of oracle_test.go.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// scalarView is a one-value operand of the given shape: every stride 0
// (or no dims at all when shape is empty).
func scalarView(t testing.TB, dt backend.DType, shape []int, v float64) operand {
	t.Helper()
	s, err := be.Alloc(dt, 3)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: backend.Layout{Shape: shape, Strides: make([]int, len(shape)), Offset: 2}}
	setBits(o.buf, 0, encode(dt, 7))
	setBits(o.buf, 1, encode(dt, 7))
	setBits(o.buf, 2, encode(dt, v))
	return o
}

func TestWhereFastPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	lengths := vecLengths()
	if raceEnabled {
		lengths = []int{0, 1, 15, 16, 17, 65, 1000}
	}
	var shapes [][]int
	for _, n := range lengths {
		shapes = append(shapes, []int{n})
	}
	shapes = append(shapes, []int{3, 5, 7}, []int{}, []int{1, 1})
	kinds := []string{"vec", "scalar", "bcastLast", "trans", "step"}
	for _, dt := range []backend.DType{u8t, f16, f32, f64} {
		for _, sh := range shapes {
			for _, ka := range kinds {
				for _, kb := range kinds {
					for _, kc := range []layoutKind{lkContig, lkStep, lkBcastLast} {
						if raceEnabled && ka != kb && ka != "vec" && kb != "vec" {
							continue
						}
						if numel(sh) > 200 && (ka == "trans" || kb == "trans" || ka == "step" || kb == "step" || kc == lkStep || dt == f16) {
							continue // the long runs on the fast paths' layouts only
						}
						mk := func(k string) operand {
							gen := func() float64 { return float64(rng.IntN(200)) - 100 }
							if dt == u8t {
								gen = func() float64 { return float64(rng.IntN(256)) }
							}
							switch k {
							case "scalar":
								return scalarView(t, dt, sh, gen())
							case "bcastLast":
								return newOperand(t, dt, lkBcastLast, sh, gen)
							case "trans":
								return newOperand(t, dt, lkTrans, sh, gen)
							case "step":
								return newOperand(t, dt, lkStep, sh, gen)
							}
							return newOperand(t, dt, lkContig, sh, gen)
						}
						a, b := mk(ka), mk(kb)
						cond := newOperand(t, bl, kc, sh, func() float64 { return float64(rng.IntN(2)) })
						name := fmt.Sprintf("%v/%v/a=%s,b=%s,cond=%v", dt, sh, ka, kb, kc)
						for _, off := range []bool{false, true} {
							old := vecOff
							vecOff = off
							dst, before := newOutput(t, dt, lkContig, sh, rng)
							be.Where(dst.view(), cond.view(), a.view(), b.view())
							vecOff = old
							forEachIndex(sh, func(idx []int) {
								want := b.at(idx)
								if cond.at(idx) != 0 {
									want = a.at(idx)
								}
								if got := dst.at(idx); math.Float64bits(got) != math.Float64bits(want) {
									t.Fatalf("%s vecOff=%v: %v = %v, want %v", name, off, idx, got, want)
								}
							})
							checkUntouched(t, name, dst, before)
						}
					}
				}
			}
		}
	}
}

func TestSignTyped(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for _, dt := range []backend.DType{f32, f64} {
		for _, n := range []int{0, 1, 7, 64, 70, 70000} {
			for _, lk := range []layoutKind{lkContig, lkStep, lkTrans} {
				sh := []int{n}
				if lk == lkTrans {
					sh = []int{2, n / 2}
				}
				specials := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1e-45, -1e-300}
				src := newOperand(t, dt, lk, sh, func() float64 {
					if rng.IntN(5) == 0 {
						return specials[rng.IntN(len(specials))]
					}
					return rng.NormFloat64()
				})
				dst, _ := newOutput(t, dt, lkContig, sh, rng)
				be.Unary(backend.Sign, dst.view(), src.view(), backend.Scalars{})
				forEachIndex(sh, func(idx []int) {
					x := src.at(idx)
					want := x * 0
					if x > 0 {
						want = 1
					} else if x < 0 {
						want = -1
					}
					got := dst.at(idx)
					if math.Float64bits(got) != math.Float64bits(want) && !(got != got && want != want) {
						t.Fatalf("%v/%v/%v: sign(%v) = %v, want %v", dt, sh, lk, x, got, want)
					}
				})
			}
		}
	}
}

// More dims than the iterator holds inline (maxDims), none of which
// coalesce: Binary and Reduce against the reference.
func TestIterManyDims(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	for _, nd := range []int{maxDims - 1, maxDims, maxDims + 1, maxDims + 3} {
		sh := make([]int, nd)
		for i := range sh {
			sh[i] = 2
		}
		sh[0] = 3
		for _, lk := range []layoutKind{lkTrans, lkStep} {
			x := newOperand(t, f64, lk, sh, genFor(f64, rng, -1, 1))
			y := newOperand(t, f64, lkTrans, sh, genFor(f64, rng, -1, 1))
			dst, _ := newOutput(t, f64, lkStep, sh, rng)
			be.Binary(backend.Sub, dst.view(), x.view(), y.view())
			forEachIndex(sh, func(idx []int) {
				if got, want := dst.at(idx), x.at(idx)-y.at(idx); got != want {
					t.Fatalf("%d dims/%v: %v = %v, want %v", nd, lk, idx, got, want)
				}
			})
			// reduce every other dim: the reordering and re-coalescing
			var dims []int
			for d := 0; d < nd; d += 2 {
				dims = append(dims, d)
			}
			osh := reducedShape(sh, dims)
			out, _ := newOutput(t, f64, lkContig, osh, rng)
			old := fastKernels
			fastKernels = false
			be.Reduce(backend.ReduceMax, out.view(), x.view())
			fastKernels = old
			want := make([]float64, numel(osh))
			for i := range want {
				want[i] = math.Inf(-1)
			}
			forEachIndex(sh, func(idx []int) {
				o := append([]int(nil), idx...)
				for _, d := range dims {
					o[d] = 0
				}
				want[linear(osh, o)] = max(want[linear(osh, o)], x.at(idx))
			})
			for i, got := range out.values() {
				if got != want[i] {
					t.Fatalf("%d dims/%v: max [%d] = %v, want %v", nd, lk, i, got, want[i])
				}
			}
		}
	}
}

// Small buffers keep their elements in their own object: every size up
// to smallWords words and past it has the right length, is zeroed, and
// does not share memory with another buffer.
func TestSmallBuffers(t *testing.T) {
	for _, dt := range []backend.DType{u8t, f16, f32, f64} {
		for n := 0; n <= (smallWords+2)*8/dt.Size(); n += 1 + n/7 {
			a, _ := be.Alloc(dt, n)
			b, _ := be.Alloc(dt, n)
			ab, bb := a.(*Buffer).Bytes(), b.(*Buffer).Bytes()
			if len(ab) != n*dt.Size() || a.Len() != n {
				t.Fatalf("%v n=%d: %d bytes", dt, n, len(ab))
			}
			for i := range ab {
				if ab[i] != 0 {
					t.Fatalf("%v n=%d: not zeroed", dt, n)
				}
				ab[i] = 0xff
			}
			for i := range bb {
				if bb[i] != 0 {
					t.Fatalf("%v n=%d: buffers share memory", dt, n)
				}
			}
			be.Release(a)
			be.Release(b)
			if a.Len() != 0 || a.(*Buffer).Bytes() != nil {
				t.Fatalf("%v n=%d: released buffer still has elements", dt, n)
			}
		}
	}
}

// The allocations of the ops a training step makes most, on one thread:
// Alloc of a small buffer one, the elementwise ops and their broadcasts
// none, nor a matrix product.
func TestOpAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer SetNumThreads(SetNumThreads(1))
	rng := rand.New(rand.NewPCG(37, 38))
	x := newOperand(t, f32, lkContig, []int{16, 32}, genFor(f32, rng, -1, 1))
	row := newOperand(t, f32, lkBcast0, []int{16, 32}, genFor(f32, rng, -1, 1))
	col := newOperand(t, f32, lkBcastLast, []int{16, 32}, genFor(f32, rng, -1, 1))
	tr := newOperand(t, f32, lkTrans, []int{16, 32}, genFor(f32, rng, -1, 1))
	dst, _ := newOutput(t, f32, lkContig, []int{16, 32}, rng)
	cond := newOperand(t, bl, lkContig, []int{16, 32}, func() float64 { return float64(rng.IntN(2)) })
	bmask, _ := newOutput(t, bl, lkContig, []int{16, 32}, rng)
	zero := scalarView(t, f32, []int{16, 32}, 0)
	// a product big enough for the packed path (gemm_packed.go) where
	// there is a SIMD kernel
	ma := newOperand(t, f32, lkContig, []int{1, 64, 96}, genFor(f32, rng, -1, 1))
	mb := newOperand(t, f32, lkContig, []int{1, 96, 80}, genFor(f32, rng, -1, 1))
	mc, _ := newOutput(t, f32, lkContig, []int{1, 64, 80}, rng)
	for _, c := range []struct {
		name string
		max  float64
		fn   func()
	}{
		{"alloc16", 1, func() { s, _ := be.Alloc(f32, 16); be.Release(s) }},
		{"add", 0, func() { be.Binary(backend.Add, dst.view(), x.view(), x.view()) }},
		{"add row", 0, func() { be.Binary(backend.Add, dst.view(), x.view(), row.view()) }},
		{"add col", 0, func() { be.Binary(backend.Add, dst.view(), col.view(), x.view()) }},
		{"add trans", 0, func() { be.Binary(backend.Add, dst.view(), tr.view(), x.view()) }},
		{"gt row", 0, func() { be.Binary(backend.Gt, bmask.view(), x.view(), row.view()) }},
		// a strided unary op's generic loop is a closure of a generic
		// function, which carries its dictionary: one allocation
		{"relu trans", 1, func() { be.Unary(backend.ReLU, dst.view(), tr.view(), backend.Scalars{}) }},
		{"where scalar", 0, func() { be.Where(dst.view(), cond.view(), x.view(), zero.view()) }},
		{"sign", 0, func() { be.Unary(backend.Sign, dst.view(), x.view(), backend.Scalars{}) }},
		{"matmul", 0, func() { be.MatMul(mc.view(), ma.view(), mb.view()) }},
	} {
		if got := testing.AllocsPerRun(20, c.fn); got > c.max {
			t.Errorf("%s: %v allocations per op, want at most %v", c.name, got, c.max)
		}
	}
}
