package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// winCase is an [N, C, S…] input and a window over its spatial dims.
type winCase struct {
	in []int
	w  backend.Window
}

func win(in []int, k, s, p, d []int) winCase {
	return winCase{in, backend.Window{Kernel: k, Stride: s, Padding: p, Dilation: d}}
}

func (wc winCase) String() string {
	return fmt.Sprintf("input %v kernel %v stride %v padding %v dilation %v", wc.in, wc.w.Kernel, wc.w.Stride, wc.w.Padding, wc.w.Dilation)
}

// outGrid is the window positions per spatial dim.
func (wc winCase) outGrid() []int {
	sp := wc.in[2:]
	o := make([]int, len(sp))
	for d, n := range sp {
		// computed here rather than with Window.OutSize: ⌊(n+2p−d(k−1)−1)/s⌋+1, or 0
		span := n + 2*wc.w.Padding[d] - wc.w.Dilation[d]*(wc.w.Kernel[d]-1) - 1
		if span >= 0 {
			o[d] = span/wc.w.Stride[d] + 1
		}
	}
	return o
}

// colShape is Unfold's [N, C·K, L].
func (wc winCase) colShape() []int {
	return []int{wc.in[0], wc.in[1] * numel(wc.w.Kernel), numel(wc.outGrid())}
}

// winGroups are the window cases by number of spatial dims. maxPool
// keeps only windows MaxPool accepts: padding at most half the kernel,
// so every window has a tap inside the input.
func (c *ctx) winGroups(maxPool bool) []struct {
	name  string
	cases []winCase
} {
	one := []winCase{
		win([]int{2, 3, 9}, []int{3}, []int{2}, []int{1}, []int{1}),
		win([]int{1, 2, 10}, []int{2}, []int{1}, []int{0}, []int{3}),
		win([]int{3, 1, 5}, []int{5}, []int{1}, []int{2}, []int{1}),
		win([]int{1, 1, 1}, []int{1}, []int{1}, []int{0}, []int{1}),
		win([]int{2, 2, 7}, []int{3}, []int{3}, []int{1}, []int{2}),
	}
	two := []winCase{
		win([]int{2, 3, 5, 6}, []int{3, 3}, []int{1, 1}, []int{0, 0}, []int{1, 1}),
		win([]int{1, 2, 7, 5}, []int{3, 2}, []int{2, 1}, []int{1, 0}, []int{1, 2}),
		win([]int{2, 1, 4, 4}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{1, 1}),
		win([]int{1, 3, 6, 7}, []int{2, 3}, []int{2, 3}, []int{1, 1}, []int{2, 1}),
		win([]int{1, 1, 3, 3}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}),
		win([]int{1, 2, 5, 1}, []int{2, 1}, []int{1, 1}, []int{0, 0}, []int{1, 1}),
		win([]int{0, 2, 4, 4}, []int{2, 2}, []int{1, 1}, []int{0, 0}, []int{1, 1}),
		win([]int{2, 0, 4, 4}, []int{2, 2}, []int{2, 2}, []int{0, 0}, []int{1, 1}),
	}
	if !maxPool {
		// a window larger than the padded input: no positions
		two = append(two, win([]int{1, 2, 2, 2}, []int{3, 3}, []int{1, 1}, []int{0, 0}, []int{1, 1}),
			win([]int{1, 2, 3, 4}, []int{2, 2}, []int{1, 2}, []int{2, 1}, []int{1, 1}))
	}
	if c.big() {
		two = append(two, win([]int{2, 8, 32, 32}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	}
	three := []winCase{
		win([]int{1, 2, 4, 5, 3}, []int{2, 3, 2}, []int{1, 2, 1}, []int{1, 0, 1}, []int{1, 1, 2}),
	}
	return []struct {
		name  string
		cases []winCase
	}{{"1d", one}, {"2d", two}, {"3d", three}}
}

// taps calls fn for every (output position o, kernel tap k) pair of
// window case wc whose tap lies inside the input, with the row-major
// indices of o and k and the tap's spatial position (row-major index p
// and multi-index pos).
func (wc winCase) taps(fn func(l, k, p int, pos []int)) {
	sp := wc.in[2:]
	grid := wc.outGrid()
	pos := make([]int, len(sp))
	each(grid, func(o []int) {
		l := lin(grid, o)
		each(wc.w.Kernel, func(kk []int) {
			for d := range sp {
				pos[d] = o[d]*wc.w.Stride[d] - wc.w.Padding[d] + kk[d]*wc.w.Dilation[d]
				if pos[d] < 0 || pos[d] >= sp[d] {
					return
				}
			}
			fn(l, lin(wc.w.Kernel, kk), lin(sp, pos), pos)
		})
	})
}

// winVariants: the input's layout; outputs are contiguous (at an offset,
// with padding after, so a write past the end shows).
var winVariants = []struct {
	name string
	src  kind
}{
	{"contig", kContig},
	{"perm", kPerm},
	{"gap", kGap},
	{"broadcast", kBcastFirst},
}

func testUnfold(c *ctx) {
	for _, dt := range c.types(floatTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, g := range c.winGroups(false) {
				c.run(g.name, func(c *ctx) {
					for _, v := range winVariants {
						c.run(v.name, func(c *ctx) {
							for _, wc := range g.cases {
								c.unfoldCase(dt, wc, v.src)
							}
						})
					}
				})
			}
		})
	}
}

// unfoldRef is dst[n, c·K+k, l] = src[n, c, tap k of position l], 0 in
// the padding.
func unfoldRef(wc winCase, src *operand) []float64 {
	cs := wc.colShape()
	out := make([]float64, numel(cs))
	N, C, K := wc.in[0], wc.in[1], numel(wc.w.Kernel)
	idx := make([]int, len(wc.in))
	for n := 0; n < N; n++ {
		for ch := 0; ch < C; ch++ {
			idx[0], idx[1] = n, ch
			wc.taps(func(l, k, _ int, pos []int) {
				copy(idx[2:], pos)
				out[lin(cs, []int{n, ch*K + k, l})] = src.get(idx)
			})
		}
	}
	return out
}

// foldRef sums src[n, c·K+k, l] into dst[n, c, tap k of position l],
// dropping taps in the padding; it returns Σ|terms| per element too.
func foldRef(wc winCase, src *operand) (want, mag []float64) {
	sp := numel(wc.in[2:])
	want, mag = make([]float64, numel(wc.in)), make([]float64, numel(wc.in))
	N, C, K := wc.in[0], wc.in[1], numel(wc.w.Kernel)
	for n := 0; n < N; n++ {
		for ch := 0; ch < C; ch++ {
			base := (n*C + ch) * sp
			wc.taps(func(l, k, p int, _ []int) {
				x := src.get([]int{n, ch*K + k, l})
				want[base+p] += x
				mag[base+p] += math.Abs(x)
			})
		}
	}
	return want, mag
}

func (c *ctx) unfoldCase(dt backend.DType, wc winCase, sk kind) {
	what := fmt.Sprintf("Unfold %v (src=%v)", wc, sk)
	src := c.input(dt, sk, wc.in, c.uniform(-3, 3))
	dst := c.output(dt, kPad, wc.colShape())
	c.s.be.Unfold(dst.view(), src.view(), wc.w)
	c.unchanged(what, src)
	if c.written(what, dst) {
		c.check(what, dst, unfoldRef(wc, src), exact, 0)
	}
}

func testFold(c *ctx) {
	for _, dt := range c.types(floatTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, g := range c.winGroups(false) {
				c.run(g.name, func(c *ctx) {
					for _, v := range winVariants {
						c.run(v.name, func(c *ctx) {
							for _, wc := range g.cases {
								c.foldCase(dt, wc, v.src)
							}
						})
					}
					c.run("adjoint", func(c *ctx) {
						for _, wc := range g.cases {
							c.adjointCase(dt, wc)
						}
					})
				})
			}
		})
	}
}

func (c *ctx) foldCase(dt backend.DType, wc winCase, sk kind) {
	what := fmt.Sprintf("Fold %v (src=%v)", wc, sk)
	src := c.input(dt, sk, wc.colShape(), c.uniform(-3, 3))
	dst := c.output(dt, kPad, wc.in)
	c.s.be.Fold(dst.view(), src.view(), wc.w)
	c.unchanged(what, src)
	if c.written(what, dst) {
		want, mag := foldRef(wc, src)
		c.check(what, dst, want, c.accumTol(dt, mag), 0)
	}
}

// adjointCase checks ⟨Unfold(x), y⟩ = ⟨x, Fold(y)⟩ in float64 over the
// backend's own outputs: Fold is Unfold's adjoint, whatever the
// references say.
func (c *ctx) adjointCase(dt backend.DType, wc winCase) {
	what := fmt.Sprintf("⟨Unfold(x), y⟩ = ⟨x, Fold(y)⟩ for %v", wc)
	x := c.input(dt, kContig, wc.in, c.uniform(-1, 1))
	y := c.input(dt, kContig, wc.colShape(), c.uniform(-1, 1))
	ux := c.output(dt, kContig, wc.colShape())
	fy := c.output(dt, kContig, wc.in)
	c.s.be.Unfold(ux.view(), x.view(), wc.w)
	c.s.be.Fold(fy.view(), y.view(), wc.w)
	if !c.written(what, ux) || !c.written(what, fy) {
		return
	}
	dot := func(a, b *operand) (s, m float64) {
		av, bv := a.values(), b.values()
		for i := range av {
			s += av[i] * bv[i]
			m += math.Abs(av[i] * bv[i])
		}
		return s, m
	}
	lhs, m1 := dot(ux, y)
	rhs, m2 := dot(x, fy)
	// Fold's sums round in dt: Tol·(Σ|Ux·y| + Σ|x·Fy|) covers it
	if d := math.Abs(lhs - rhs); !(d <= c.tol(dt)*(m1+m2)) {
		c.Errorf("%s: %v ≠ %v (difference %.3g)", what, lhs, rhs, d)
	}
}

func testMaxPool(c *ctx) {
	for _, dt := range c.types(floatTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, g := range c.winGroups(true) {
				c.run(g.name, func(c *ctx) {
					for _, v := range winVariants {
						c.run(v.name, func(c *ctx) {
							for _, wc := range g.cases {
								c.maxPoolCase(dt, wc, v.src, c.uniform(-3, 3))
							}
						})
					}
					c.run("ties", func(c *ctx) {
						for _, wc := range g.cases {
							c.maxPoolCase(dt, wc, kGap, c.intsIn(-1, 1))
						}
					})
					c.run("nan", func(c *ctx) {
						nan, inf := math.NaN(), math.Inf(1)
						pool := []float64{nan, -inf, 1, 2, 2, -1, 0, 3}
						for _, wc := range g.cases {
							c.maxPoolCase(dt, wc, kPerm, func() float64 { return pool[c.rng.IntN(len(pool))] })
						}
					})
				})
			}
		})
	}
}

func (c *ctx) maxPoolCase(dt backend.DType, wc winCase, sk kind, gen func() float64) {
	what := fmt.Sprintf("MaxPool %v (src=%v)", wc, sk)
	osh := append(wc.in[:2:2], wc.outGrid()...)
	src := c.input(dt, sk, wc.in, gen)
	vals := c.outputFinite(dt, kPad, osh) // NaN results are expected in the nan subtests
	ind := c.output(i64, kPad, osh)
	c.s.be.MaxPool(vals.view(), ind.view(), src.view(), wc.w)
	c.unchanged(what, src)
	okV, okI := c.written(what+" values", vals), c.written(what+" indices", ind)
	if !okV || !okI {
		return
	}
	// per output: the first maximum among the taps inside the input (a
	// NaN wins, and any NaN's index is accepted), and the NaN positions
	L := numel(wc.outGrid())
	want := make([]float64, numel(osh))
	wantI := make([]int64, numel(osh))
	nans := make([]map[int64]bool, numel(osh))
	seen := make([]bool, numel(osh))
	idx := make([]int, len(wc.in))
	N, C := wc.in[0], wc.in[1]
	for n := 0; n < N; n++ {
		for ch := 0; ch < C; ch++ {
			idx[0], idx[1] = n, ch
			base := (n*C + ch) * L
			wc.taps(func(l, _, p int, pos []int) {
				copy(idx[2:], pos)
				x := src.get(idx)
				o := base + l
				switch {
				case x != x:
					if nans[o] == nil {
						nans[o] = map[int64]bool{}
					}
					nans[o][int64(p)] = true
					if want[o] == want[o] || !seen[o] {
						want[o], wantI[o] = x, int64(p)
					}
				case !seen[o] || (want[o] == want[o] && x > want[o]):
					want[o], wantI[o] = x, int64(p)
				}
				seen[o] = true
			})
		}
	}
	c.check(what+" values", vals, want, exact, 0)
	got := ind.ints()
	reported := 0
	for o := range got {
		ok := got[o] == wantI[o]
		if nans[o] != nil {
			ok = nans[o][got[o]]
		}
		if !ok {
			if reported < maxReports {
				c.Errorf("%s indices: at %v: got %d, want %d", what, multi(osh, o), got[o], wantI[o])
			}
			reported++
		}
	}
}
