package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// lnLens is the row lengths the kernel tests sweep: 0..80 and some past
// several unrolled steps, odd and even.
func lnLens() []int {
	var ns []int
	for n := 0; n <= 80; n++ {
		ns = append(ns, n)
	}
	return append(ns, 127, 128, 255, 256, 257, 1000)
}

// lnGuard is a slice of n values at off inside a buffer whose other
// elements are a sentinel NaN payload, so writes outside [off, off+n)
// show.
type lnGuard struct {
	buf    []float32
	off, n int
}

const lnSentinel = 0x7fc0dead

func newLNGuard(rng *rand.Rand, off, n int, fill bool) lnGuard {
	g := lnGuard{buf: make([]float32, off+n+24), off: off, n: n}
	for i := range g.buf {
		g.buf[i] = math.Float32frombits(lnSentinel)
	}
	if fill {
		for i := range g.s() {
			g.s()[i] = float32(rng.NormFloat64()*2 + 0.5)
		}
	}
	return g
}

func (g lnGuard) s() []float32 { return g.buf[g.off : g.off+g.n] }

func (g lnGuard) check(t *testing.T, name string) {
	t.Helper()
	for i, v := range g.buf {
		if (i < g.off || i >= g.off+g.n) && math.Float32bits(v) != lnSentinel {
			t.Fatalf("%s: element %d outside [%d, %d) written", name, i, g.off, g.off+g.n)
		}
	}
}

// TestLNKernelsMatchTwins checks each assembly table against the pure-Go
// twin adding in its order, bit for bit, over lengths 0..80 and more,
// misaligned starts and every variant, with guard bands around the
// outputs.
func TestLNKernelsMatchTwins(t *testing.T) {
	for _, k := range lnCandidates() {
		tw := goLN(k.lanes)
		rng := rand.New(rand.NewPCG(7, uint64(k.lanes)))
		for _, n := range lnLens() {
			for off := 0; off < 4; off++ {
				name := fmt.Sprintf("%s/n=%d/off=%d", k.name, n, off)
				x, g := newLNGuard(rng, off, n, true), newLNGuard(rng, (off+1)%4, n, true)
				w, b := newLNGuard(rng, (off+2)%4, n, true), newLNGuard(rng, (off+3)%4, n, true)
				mu, r := rng.NormFloat64(), 0.5+rng.Float64()
				a, c := rng.NormFloat64(), rng.NormFloat64()
				if got, want := k.sqDev(x.s(), mu), tw.sqDev(x.s(), mu); got != want {
					t.Fatalf("%s: sqDev %v, twin %v", name, got, want)
				}
				for _, ww := range [][]float32{nil, w.s()} {
					ga, gc := k.bwdSums(g.s(), x.s(), ww, mu)
					wa, wc := tw.bwdSums(g.s(), x.s(), ww, mu)
					if ga != wa || gc != wc {
						t.Fatalf("%s w=%v: bwdSums (%v, %v), twin (%v, %v)", name, ww != nil, ga, gc, wa, wc)
					}
					for _, bb := range [][]float32{nil, b.s()} {
						y1, y2 := newLNGuard(rng, off, n, false), newLNGuard(rng, off, n, false)
						k.fwd(y1.s(), x.s(), ww, bb, mu, r)
						tw.fwd(y2.s(), x.s(), ww, bb, mu, r)
						y1.check(t, name+"/fwd")
						lnSameBits(t, name+"/fwd", y1.s(), y2.s())
					}
					for _, hasH := range []bool{false, true} {
						d1, d2 := newLNGuard(rng, off, n, false), newLNGuard(rng, off, n, false)
						h1, h2 := newLNGuard(rng, (off+1)%4, n, false), newLNGuard(rng, (off+1)%4, n, false)
						var hs1, hs2 []float32
						if hasH {
							hs1, hs2 = h1.s(), h2.s()
						}
						k.bwd(d1.s(), hs1, g.s(), x.s(), ww, mu, r, a, c)
						tw.bwd(d2.s(), hs2, g.s(), x.s(), ww, mu, r, a, c)
						d1.check(t, name+"/bwd dx")
						lnSameBits(t, name+"/bwd dx", d1.s(), d2.s())
						if hasH {
							h1.check(t, name+"/bwd h")
							lnSameBits(t, name+"/bwd h", h1.s(), h2.s())
						} else {
							h1.check(t, name+"/bwd no h")
							if n > 0 && math.Float32bits(h1.buf[h1.off]) != lnSentinel {
								t.Fatalf("%s: h written without h", name)
							}
						}
					}
				}
			}
		}
	}
}

func lnSameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, twin %v", name, i, got[i], want[i])
		}
	}
}

// lnRef is LayerNorm of one row in float64 from its float32 values: the
// oracle of the float32 path.
func lnRef(x, w, b []float32, eps float64) (y []float64, mu, rinv float64) {
	n := float64(len(x))
	for _, e := range x {
		mu += float64(e)
	}
	mu /= n
	var v float64
	for _, e := range x {
		d := float64(e) - mu
		v += d * d
	}
	rinv = 1 / math.Sqrt(v/n+eps)
	y = make([]float64, len(x))
	for i, e := range x {
		y[i] = (float64(e) - mu) * rinv
		if w != nil {
			y[i] *= float64(w[i])
		}
		if b != nil {
			y[i] += float64(b[i])
		}
	}
	return y, mu, rinv
}

// lnBwdRef is LayerNormBackward of one row in float64, from the saved
// (float32) mean and rstd as the op receives them.
func lnBwdRef(g, x, w []float32, mu, rinv float64) (dx, h []float64) {
	n := float64(len(x))
	var a, c float64
	xh := make([]float64, len(x))
	gh := make([]float64, len(x))
	for i, e := range x {
		xh[i] = (float64(e) - mu) * rinv
		gh[i] = float64(g[i])
		if w != nil {
			gh[i] *= float64(w[i])
		}
		a += gh[i]
		c += gh[i] * xh[i]
	}
	a, c = a/n, c/n
	dx, h = make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		h[i] = float64(g[i]) * xh[i]
		dx[i] = rinv * (gh[i] - a - xh[i]*c)
	}
	return dx, h
}

// lnView is a float32 storage holding vals at off, seen as a contiguous
// shape there.
func lnView(t *testing.T, vals []float32, off int, shape ...int) (backend.View, []float32) {
	t.Helper()
	s, err := be.Alloc(f32, off+len(vals)+8)
	if err != nil {
		t.Fatal(err)
	}
	all := slice[float32](s)
	for i := range all {
		all[i] = math.Float32frombits(lnSentinel)
	}
	copy(all[off:], vals)
	return backend.View{Storage: s, Layout: backend.Layout{Shape: shape, Strides: backend.ContiguousStrides(shape), Offset: off}}, all
}

// TestLayerNormFloat32Reference runs LayerNorm and LayerNormBackward on
// float32 with every kernel table (the assembly, the twins, and the
// scalar loops) against the float64 reference: rows of odd and even
// lengths, empty and size-1 dims, offsets, with and without w, b and
// gxhat, and nothing written outside the outputs.
func TestLayerNormFloat32Reference(t *testing.T) {
	tables := append([]*lnKernels{goLN(8), goLN(4)}, lnCandidates()...)
	cpu := Get()
	for ti := 0; ti <= len(tables); ti++ {
		var k *lnKernels
		off := ti == len(tables)
		if !off {
			k = tables[ti]
		}
		old, oldOff := setLN(k, off)
		rng := rand.New(rand.NewPCG(3, uint64(ti)))
		for _, rows := range []int{0, 1, 3, 7} {
			for _, n := range []int{0, 1, 2, 3, 5, 8, 15, 16, 17, 31, 33, 64, 255, 256, 257} {
				for _, wb := range []int{0, 1, 2, 3} {
					name := fmt.Sprintf("table %d (off %v)/rows=%d/n=%d/wb=%d", ti, off, rows, n, wb)
					lnCheckOne(t, cpu, rng, name, rows, n, wb&2 != 0, wb&1 != 0)
				}
			}
		}
		setLN(old, oldOff)
	}
}

func lnCheckOne(t *testing.T, cpu *CPU, rng *rand.Rand, name string, rows, n int, hasW, hasB bool) {
	t.Helper()
	gen := func(m int, scale, shift float64) []float32 {
		v := make([]float32, m)
		for i := range v {
			v[i] = float32(rng.NormFloat64()*scale + shift)
		}
		return v
	}
	xv, gv := gen(rows*n, 3, 1.5), gen(rows*n, 1, 0)
	var wv, bv []float32
	none := backend.View{Layout: backend.Contiguous([]int{n})}
	wView, bView := none, none
	if hasW {
		wv = gen(n, 1, 1)
		wView, _ = lnView(t, wv, 2, n)
	}
	if hasB {
		bv = gen(n, 1, 0)
		bView, _ = lnView(t, bv, 1, n)
	}
	eps := 1e-5
	xView, _ := lnView(t, xv, 3, rows, n)
	gView, _ := lnView(t, gv, 1, rows, n)
	yView, yAll := lnView(t, make([]float32, rows*n), 5, rows, n)
	mView, mAll := lnView(t, make([]float32, rows), 2, rows, 1)
	rView, rAll := lnView(t, make([]float32, rows), 1, rows, 1)
	cpu.LayerNorm(yView, mView, rView, xView, wView, bView, eps)
	dView, dAll := lnView(t, make([]float32, rows*n), 7, rows, n)
	hView, hAll := lnView(t, make([]float32, rows*n), 4, rows, n)
	noH := hasB && !hasW // gxhat a view without storage: not computed
	if noH {
		cpu.LayerNormBackward(dView, backend.View{Layout: hView.Layout}, gView, xView, mView, rView, wView)
	} else {
		cpu.LayerNormBackward(dView, hView, gView, xView, mView, rView, wView)
	}
	lnCheckGuard(t, name+"/y", yAll, 5, rows*n)
	lnCheckGuard(t, name+"/mean", mAll, 2, rows)
	lnCheckGuard(t, name+"/rstd", rAll, 1, rows)
	lnCheckGuard(t, name+"/dx", dAll, 7, rows*n)
	lnCheckGuard(t, name+"/gxhat", hAll, 4, rows*n)
	if noH {
		for i, v := range hAll[4 : 4+rows*n] {
			if v != 0 {
				t.Fatalf("%s: gxhat[%d] written without storage", name, i)
			}
		}
	}
	if n == 0 {
		return
	}
	for r := 0; r < rows; r++ {
		xr := xv[r*n : (r+1)*n]
		y, mu, rinv := lnRef(xr, wv, bv, eps)
		gotMu, gotR := float64(mAll[2+r]), float64(rAll[1+r])
		if !near(gotMu, mu, 1e-6, 1e-6) || !near(gotR, rinv, 1e-6, 0) {
			t.Fatalf("%s: row %d: mean, rstd = %v, %v; reference %v, %v", name, r, gotMu, gotR, mu, rinv)
		}
		for i := range y {
			// one float32 rounding of y, plus the float32 rounding of
			// the saved statistics the kernel does not use: scale of
			// the terms of y
			scale := math.Abs((float64(xr[i])-mu)*rinv) + 1
			if hasW {
				scale *= math.Abs(float64(wv[i])) + 1
			}
			if hasB {
				scale += math.Abs(float64(bv[i]))
			}
			if got := float64(yAll[5+r*n+i]); math.Abs(got-y[i]) > 4e-7*scale {
				t.Fatalf("%s: y[%d][%d] = %v, reference %v", name, r, i, got, y[i])
			}
		}
		dx, h := lnBwdRef(gv[r*n:(r+1)*n], xr, wv, gotMu, gotR)
		var dscale float64
		for i := range dx {
			dscale = max(dscale, math.Abs(float64(gv[r*n+i]))*(math.Abs(float64(lnAt(wv, i)))+1)*gotR)
		}
		for i := range dx {
			if got := float64(dAll[7+r*n+i]); math.Abs(got-dx[i]) > 1e-6*(dscale*(1+math.Abs((float64(xr[i])-gotMu)*gotR))+math.Abs(dx[i])) {
				t.Fatalf("%s: dx[%d][%d] = %v, reference %v", name, r, i, got, dx[i])
			}
			if got := float64(hAll[4+r*n+i]); !noH && !near(got, h[i], 1e-6, 1e-7) {
				t.Fatalf("%s: gxhat[%d][%d] = %v, reference %v", name, r, i, got, h[i])
			}
		}
	}
}

func lnAt(w []float32, i int) float32 {
	if w == nil {
		return 1
	}
	return w[i]
}

func lnCheckGuard(t *testing.T, name string, all []float32, off, n int) {
	t.Helper()
	for i, v := range all {
		if (i < off || i >= off+n) && math.Float32bits(v) != lnSentinel {
			t.Fatalf("%s: element %d outside [%d, %d) written", name, i, off, off+n)
		}
	}
}
