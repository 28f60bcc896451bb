package cpu

// The 2×2, stride-2 max-pool kernels (assembly and pure-Go twins) swept
// over every row length up to a few vectors, against a scalar reference
// of the sequential rule, with guard bands around what they may read and
// write; and MaxPoolBackward against ScatterAdd into zeros (the composed
// gradient) on every window shape of the forward tests.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// refMaxPool2x2 is the generic kernel's rule on one plane: taps in
// row-major order from −∞, a tap replaces the best when greater or NaN.
func refMaxPool2x2(s []float32, base, rs, wd, oh, ow int) ([]float32, []int64) {
	vo, io := make([]float32, oh*ow), make([]int64, oh*ow)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			best, bi := float32(math.Inf(-1)), 2*oy*wd+2*ox
			for k := 0; k < 4; k++ {
				y, x := 2*oy+k/2, 2*ox+k%2
				if v := s[base+y*rs+x]; v > best || v != v {
					best, bi = v, y*wd+x
				}
			}
			vo[oy*ow+ox], io[oy*ow+ox] = best, int64(bi)
		}
	}
	return vo, io
}

var poolGens = map[string]func(*rand.Rand) float32{
	"uniform": func(r *rand.Rand) float32 { return float32(r.NormFloat64()) },
	"ties": func(r *rand.Rand) float32 {
		sp := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1))}
		return sp[r.IntN(len(sp))]
	},
	"nan": func(r *rand.Rand) float32 {
		if r.IntN(5) == 0 {
			return float32(math.NaN())
		}
		return float32(r.IntN(3) - 1)
	},
	"relu": func(r *rand.Rand) float32 { return max(0, float32(r.NormFloat64())) },
}

const poolGuard = 37 // elements of guard band on each side

func sameF32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

func TestMaxPool2x2KernelsSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kernels := map[string]func(vo []float32, io []int64, s []float32, base, rs, wd, oh, ow int){
		"go": maxPool2x2Plane[float32],
	}
	if hasPoolAsm {
		kernels["asm"] = maxPool2x2AsmF32
	}
	const sentinel = float32(12345)
	for gname, gen := range poolGens {
		for ow := 1; ow <= 35; ow++ {
			for _, odd := range []int{0, 1} {
				for oh := 1; oh <= 3; oh++ {
					for _, pad := range []int{0, 5} {
						wd := 2*ow + odd
						rs := wd + pad
						h := 2*oh + odd
						// the plane, with NaN guards around it and in the
						// row padding: a read outside the windows would
						// make a NaN win
						s := make([]float32, 2*poolGuard+h*rs)
						for i := range s {
							s[i] = float32(math.NaN())
						}
						for y := 0; y < h; y++ {
							for x := 0; x < wd; x++ {
								s[poolGuard+y*rs+x] = gen(rng)
							}
						}
						wantV, wantI := refMaxPool2x2(s, poolGuard, rs, wd, oh, ow)
						for kname, k := range kernels {
							vb := make([]float32, 2*poolGuard+oh*ow)
							ib := make([]int64, 2*poolGuard+oh*ow)
							for i := range vb {
								vb[i], ib[i] = sentinel, -7
							}
							k(vb[poolGuard:poolGuard+oh*ow], ib[poolGuard:poolGuard+oh*ow], s, poolGuard, rs, wd, oh, ow)
							name := fmt.Sprintf("%s/%s/oh=%d/ow=%d/wd=%d/rs=%d", kname, gname, oh, ow, wd, rs)
							for i := range vb {
								j := i - poolGuard
								if j < 0 || j >= oh*ow {
									if vb[i] != sentinel || ib[i] != -7 {
										t.Fatalf("%s: wrote outside the output at %d", name, j)
									}
									continue
								}
								if !sameF32(vb[i], wantV[j]) || ib[i] != wantI[j] {
									t.Fatalf("%s: [%d] got %v@%d, want %v@%d", name, j, vb[i], ib[i], wantV[j], wantI[j])
								}
							}
						}
					}
				}
			}
		}
	}
}

// refScatter is 0 + each g[j] added at idx[j] of a zeroed plane.
func refScatter(plane int, g []float32, idx []int64) []float32 {
	d := make([]float32, plane)
	for j, i := range idx {
		d[i] += g[j]
	}
	return d
}

func TestMaxPool2x2GradKernelsSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	kernels := map[string]func(d, g []float32, idx []int64, wd, oh, ow int) bool{
		"go": maxPool2x2GradPlane[float32],
	}
	if hasPoolAsm {
		kernels["asm"] = maxPool2x2GradAsmF32
	}
	gvals := []float32{float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(-1))}
	const sentinel = float32(-999)
	for ow := 1; ow <= 35; ow++ {
		for _, odd := range []int{0, 1} {
			for oh := 1; oh <= 3; oh++ {
				wd := 2*ow + odd
				h := 2*oh + odd
				plane := h * wd
				s := make([]float32, plane)
				for i := range s {
					s[i] = poolGens["ties"](rng)
				}
				_, idx := refMaxPool2x2(s, 0, wd, wd, oh, ow)
				g := make([]float32, oh*ow)
				for i := range g {
					g[i] = float32(rng.NormFloat64())
					if rng.IntN(4) == 0 {
						g[i] = gvals[rng.IntN(len(gvals))]
					}
				}
				want := refScatter(plane, g, idx)
				for kname, k := range kernels {
					name := fmt.Sprintf("%s/oh=%d/ow=%d/wd=%d", kname, oh, ow, wd)
					db := make([]float32, 2*poolGuard+plane)
					for i := range db {
						db[i] = sentinel
					}
					d := db[poolGuard : poolGuard+plane]
					if !k(d, g, idx, wd, oh, ow) {
						t.Fatalf("%s: rejected the forward's indices", name)
					}
					for i := range db {
						j := i - poolGuard
						switch {
						case j < 0 || j >= 2*oh*wd:
							if db[i] != sentinel {
								t.Fatalf("%s: wrote outside rows 0..2oh-1 at %d", name, j)
							}
						case !sameF32(db[i], want[j]):
							t.Fatalf("%s: [%d] got %v, want %v", name, j, db[i], want[j])
						}
					}
					// an index inside the plane but outside its window
					bad := append([]int64(nil), idx...)
					w := rng.IntN(len(bad))
					bad[w] = int64(rng.IntN(plane))
					if inWindow(bad[w], w, wd, ow) {
						continue
					}
					if k(d, g, bad, wd, oh, ow) {
						t.Fatalf("%s: accepted index %d for window %d", name, bad[w], w)
					}
				}
			}
		}
	}
}

func inWindow(i int64, w, wd, ow int) bool {
	oy, ox := w/ow, w%ow
	y, x := int(i)/wd, int(i)%wd
	return y/2 == oy && x/2 == ox
}

// poolGradOracle is Fill(0) and ScatterAdd along the flattened plane
// with the fast paths off: the composed gradient.
func poolGradOracle(t *testing.T, in []int, g, idx operand) []uint64 {
	t.Helper()
	n, c := in[0], in[1]
	plane := numel(in[2:])
	m := numel(g.l.Shape) / (n * c)
	out, _ := newOutput(t, g.dt, lkContig, []int{n, c, plane}, rand.New(rand.NewPCG(0, 0)))
	old := fastKernels
	fastKernels = false
	defer func() { fastKernels = old }()
	be.Fill(out.view(), 0)
	gv, iv := g.view(), idx.view()
	gv.Layout = backend.Layout{Shape: []int{n, c, m}, Strides: []int{c * m, m, 1}, Offset: gv.Offset}
	iv.Layout = backend.Layout{Shape: []int{n, c, m}, Strides: []int{c * m, m, 1}, Offset: iv.Offset}
	if err := be.ScatterAdd(out.view(), 2, iv, gv); err != nil {
		t.Fatal(err)
	}
	return out.snapshot()
}

func TestMaxPoolBackwardMatchesScatterAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gen := func() float64 { return rng.NormFloat64() }
	ties := func() float64 { return []float64{0, 1, -1, 2}[rng.IntN(4)] }
	cases := append([]winCase{
		{in: []int{2, 3, 28, 28}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
		{in: []int{2, 3, 11, 11}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
		{in: []int{1, 2, 4, 70}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
		{in: []int{1, 1, 4, 65}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
		{in: []int{1, 1, 5, 37}, k: []int{3, 3}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}}, // 2·ow ≤ wd, but overlapping
	}, poolFastCases...)
	for _, c := range cases {
		w := c.window()
		osz := []int{c.in[0], c.in[1]}
		for d := range c.k {
			if c.pools != nil {
				osz = append(osz, c.pools[d])
			} else {
				osz = append(osz, w.OutSize(d, c.in[2+d]))
			}
		}
		for _, dt := range []backend.DType{f32, f64} {
			for _, data := range []func() float64{gen, ties} {
				src := newOperand(t, dt, lkContig, c.in, data)
				vals, _ := newOutput(t, dt, lkContig, osz, rng)
				idx, _ := newOutput(t, i64, lkContig, osz, rng)
				be.MaxPool(vals.view(), idx.view(), src.view(), w)
				g := newOperand(t, dt, lkContig, osz, func() float64 {
					if rng.IntN(5) == 0 {
						return math.Copysign(0, -1)
					}
					return rng.NormFloat64()
				})
				want := poolGradOracle(t, c.in, g, idx)
				for _, mode := range []string{"asm", "go", "generic"} {
					name := fmt.Sprintf("%v/%v/%s", c, dt, mode)
					oldF, oldA := fastKernels, poolAsmOff
					fastKernels, poolAsmOff = mode != "generic", mode != "asm"
					out, _ := newOutput(t, dt, lkContig, c.in, rng)
					err := be.MaxPoolBackward(out.view(), g.view(), idx.view())
					fastKernels, poolAsmOff = oldF, oldA
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					got := out.snapshot()
					for i := range want {
						if got[i] != want[i] && !(math.IsNaN(decode(dt, got[i])) && math.IsNaN(decode(dt, want[i]))) {
							t.Fatalf("%s: [%d] got %v, want %v", name, i, decode(dt, got[i]), decode(dt, want[i]))
						}
					}
				}
			}
		}
	}
}

func TestMaxPoolBackwardBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	in, o := []int{1, 2, 4, 4}, []int{1, 2, 2, 2}
	g := newOperand(t, f32, lkContig, o, func() float64 { return 1 })
	idx, _ := newOutput(t, i64, lkContig, o, rng)
	for i := 0; i < 8; i++ {
		setBits(idx.buf, i, uint64(i%4*2))
	}
	setBits(idx.buf, 5, uint64(16)) // one past the plane
	for _, fast := range []bool{true, false} {
		old := fastKernels
		fastKernels = fast
		out, _ := newOutput(t, f32, lkContig, in, rng)
		err := be.MaxPoolBackward(out.view(), g.view(), idx.view())
		fastKernels = old
		if !errors.Is(err, backend.ErrIndex) || !strings.Contains(err.Error(), "max_pool_backward") || !strings.Contains(err.Error(), "16") {
			t.Errorf("fast=%v: index 16 in a plane of 16: error %v", fast, err)
		}
	}
	mustPanic := func(what, want string, fn func()) {
		t.Helper()
		defer func() {
			r := recover()
			if s, _ := r.(string); !strings.Contains(s, want) {
				t.Errorf("%s: panic %v, want one mentioning %q", what, r, want)
			}
		}()
		fn()
	}
	out, _ := newOutput(t, f32, lkContig, in, rng)
	g3 := newOperand(t, f32, lkContig, []int{1, 3, 2, 2}, func() float64 { return 1 })
	mustPanic("channels", "[1 2 4 4], gradient [1 3 2 2]", func() { be.MaxPoolBackward(out.view(), g3.view(), idx.view()) })
	g64 := newOperand(t, f64, lkContig, o, func() float64 { return 1 })
	mustPanic("dtype", "dtype", func() { be.MaxPoolBackward(out.view(), g64.view(), idx.view()) })
	gt := newOperand(t, f32, lkTrans, o, func() float64 { return 1 })
	mustPanic("strided", "contiguous", func() { be.MaxPoolBackward(out.view(), gt.view(), idx.view()) })
}
