package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// gnCases are the [N, C, *] shapes and group counts of the GroupNorm
// kernel tests: empty batch, channel and spatial dims, size-1 dims, one
// channel per group and one group in all, odd lengths, lengths past the
// kernels' unrolled steps, 2-d and 4-d inputs, and rows enough to split
// over threads (rows of 2: a chunk is 2048 of them).
var gnCases = []struct {
	shape  []int
	groups int
}{
	{[]int{0, 4, 5}, 2},
	{[]int{2, 4, 0}, 2},
	{[]int{2, 0, 3}, 1},
	{[]int{1, 1, 1}, 1},
	{[]int{3, 6}, 2},
	{[]int{3, 6, 1}, 3},
	{[]int{2, 6, 3, 3}, 3},
	{[]int{2, 5, 7}, 5},
	{[]int{2, 6, 17}, 1},
	{[]int{3, 12, 33}, 4},
	{[]int{2, 4, 257}, 2},
	{[]int{2, 4, 3, 5}, 2},
	{[]int{1100, 4, 1}, 2},
}

// gnRef is GroupNorm in float64 loops: each group of each sample's mean
// and 1/√(var + eps) (two passes), then (x − μ)·r·w[c] + b[c].
func gnRef(x, w, b []float64, shape []int, groups int, eps float64) (y, mean, rstd []float64) {
	nb, c := shape[0], shape[1]
	hw := 1
	for _, s := range shape[2:] {
		hw *= s
	}
	cpg := c / groups
	y = make([]float64, len(x))
	for s := range nb {
		for g := range groups {
			lo, hi := (s*c+g*cpg)*hw, (s*c+(g+1)*cpg)*hw
			n := float64(hi - lo)
			var mu, v float64
			for _, e := range x[lo:hi] {
				mu += e
			}
			mu /= n
			for _, e := range x[lo:hi] {
				v += (e - mu) * (e - mu)
			}
			r := 1 / math.Sqrt(v/n+eps)
			mean, rstd = append(mean, mu), append(rstd, r)
			for i := lo; i < hi; i++ {
				ch := i / hw % c
				y[i] = (x[i] - mu) * r
				if w != nil {
					y[i] *= w[ch]
				}
				if b != nil {
					y[i] += b[ch]
				}
			}
		}
	}
	return y, mean, rstd
}

// TestGroupNormFloat32Reference runs GroupNorm on float32 with every
// LayerNorm kernel table (the assembly, the twins, and the scalar loops,
// lnOff) against gnRef over gnCases, with and without w and b, at offsets
// inside sentinel-filled buffers, so that writes outside the outputs
// show. y is rounded twice ((x − μ)·r·w, then + b): each within a
// float32 ulp of its terms.
func TestGroupNormFloat32Reference(t *testing.T) {
	tables := append([]*lnKernels{goLN(8), goLN(4)}, lnCandidates()...)
	cpu := Get()
	for ti := 0; ti <= len(tables); ti++ {
		var k *lnKernels
		off := ti == len(tables)
		if !off {
			k = tables[ti]
		}
		old, oldOff := setLN(k, off)
		rng := rand.New(rand.NewPCG(5, uint64(ti)))
		for _, c := range gnCases {
			for wb := range 4 {
				name := fmt.Sprintf("table %d (off %v)/%v/groups=%d/wb=%d", ti, off, c.shape, c.groups, wb)
				gnCheck32(t, cpu, rng, name, c.shape, c.groups, wb&2 != 0, wb&1 != 0)
			}
		}
		setLN(old, oldOff)
	}
}

func gnCheck32(t *testing.T, cpu *CPU, rng *rand.Rand, name string, shape []int, groups int, hasW, hasB bool) {
	t.Helper()
	numel := 1
	for _, s := range shape {
		numel *= s
	}
	nb, c := shape[0], shape[1]
	rows := nb * groups
	gen := func(m int, scale, shift float64) ([]float32, []float64) {
		v, v64 := make([]float32, m), make([]float64, m)
		for i := range v {
			v[i] = float32(rng.NormFloat64()*scale + shift)
			v64[i] = float64(v[i])
		}
		return v, v64
	}
	// a mean far from 0 next to the spread, as activations have
	xv, x64 := gen(numel, 3, 4)
	none := backend.View{Layout: backend.Contiguous([]int{c})}
	wView, bView := none, none
	var wv, bv []float32
	var w64, b64 []float64
	if hasW {
		wv, w64 = gen(c, 1, 1)
		wView, _ = lnView(t, wv, 2, c)
	}
	if hasB {
		bv, b64 = gen(c, 1, 0)
		bView, _ = lnView(t, bv, 1, c)
	}
	eps := 1e-5
	xView, _ := lnView(t, xv, 3, shape...)
	yView, yAll := lnView(t, make([]float32, numel), 5, shape...)
	mView, mAll := lnView(t, make([]float32, rows), 2, rows)
	rView, rAll := lnView(t, make([]float32, rows), 1, rows)
	cpu.GroupNorm(yView, mView, rView, xView, wView, bView, groups, eps)
	lnCheckGuard(t, name+"/y", yAll, 5, numel)
	lnCheckGuard(t, name+"/mean", mAll, 2, rows)
	lnCheckGuard(t, name+"/rstd", rAll, 1, rows)
	if numel == 0 {
		return
	}
	y, mean, rstd := gnRef(x64, w64, b64, shape, groups, eps)
	for r := range rows {
		if got := float64(mAll[2+r]); !near(got, mean[r], 1e-6, 1e-6) {
			t.Fatalf("%s: mean[%d] = %v, reference %v", name, r, got, mean[r])
		}
		if got := float64(rAll[1+r]); !near(got, rstd[r], 1e-6, 0) {
			t.Fatalf("%s: rstd[%d] = %v, reference %v", name, r, got, rstd[r])
		}
	}
	hw := numel / (nb * c)
	for i, want := range y {
		ch := i / hw % c
		xh := math.Abs(x64[i]-mean[i/(hw*(c/groups))]) * rstd[i/(hw*(c/groups))]
		scale := xh + 1
		if hasW {
			scale *= math.Abs(w64[ch]) + 1
		}
		if hasB {
			scale += math.Abs(b64[ch])
		}
		if got := float64(yAll[5+i]); !(math.Abs(got-want) <= 4e-7*scale) {
			t.Fatalf("%s: y[%d] = %v, reference %v", name, i, got, want)
		}
	}
}

// TestGroupNormFloat64Reference: the float64 loops against gnRef, to
// float64 rounding.
func TestGroupNormFloat64Reference(t *testing.T) {
	cpu := Get()
	rng := rand.New(rand.NewPCG(6, 1))
	for _, c := range gnCases {
		for wb := range 4 {
			name := fmt.Sprintf("%v/groups=%d/wb=%d", c.shape, c.groups, wb)
			numel := 1
			for _, s := range c.shape {
				numel *= s
			}
			ch, rows := c.shape[1], c.shape[0]*c.groups
			mk := func(m int, scale, shift float64) ([]float64, backend.View) {
				s, err := be.Alloc(f64, m+3)
				if err != nil {
					t.Fatal(err)
				}
				v := slice[float64](s)[3:]
				for i := range v {
					v[i] = rng.NormFloat64()*scale + shift
				}
				return v, backend.View{Storage: s, Layout: backend.Layout{Shape: []int{m}, Strides: []int{1}, Offset: 3}}
			}
			x, xView := mk(numel, 3, 4)
			xView.Layout = backend.Layout{Shape: c.shape, Strides: backend.ContiguousStrides(c.shape), Offset: 3}
			none := backend.View{Layout: backend.Contiguous([]int{ch})}
			wView, bView := none, none
			var w, b []float64
			if wb&2 != 0 {
				w, wView = mk(ch, 1, 1)
			}
			if wb&1 != 0 {
				b, bView = mk(ch, 1, 0)
			}
			yv, yView := mk(numel, 0, 0)
			yView.Layout = xView.Layout
			mv, mView := mk(rows, 0, 0)
			rv, rView := mk(rows, 0, 0)
			cpu.GroupNorm(yView, mView, rView, xView, wView, bView, c.groups, 1e-5)
			if numel == 0 {
				continue
			}
			y, mean, rstd := gnRef(x, w, b, c.shape, c.groups, 1e-5)
			for r := range rows {
				if !near(mv[r], mean[r], 1e-14, 1e-14) || !near(rv[r], rstd[r], 1e-14, 0) {
					t.Fatalf("%s: row %d: mean, rstd = %v, %v; reference %v, %v", name, r, mv[r], rv[r], mean[r], rstd[r])
				}
			}
			for i := range y {
				if !near(yv[i], y[i], 1e-14, 1e-14) {
					t.Fatalf("%s: y[%d] = %v, reference %v", name, i, yv[i], y[i])
				}
			}
		}
	}
}
