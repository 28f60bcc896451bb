package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// The optional backend.Convolver: its three products against float64
// sums over every window and tap, written here from the definitions
// (winCase.taps), on windows over one and two spatial dims, with groups,
// and with strided inputs. A backend without the interface skips the
// family.

func init() {
	families = append(families, struct {
		name string
		fn   func(*ctx)
	}{"Convolver", testConvolver})
}

// convCase is a window case with its output channels and groups.
type convCase struct {
	winCase
	cout, groups int
}

func (cc convCase) String() string {
	return fmt.Sprintf("%v, %d output channels, %d groups", cc.winCase, cc.cout, cc.groups)
}

func (c *ctx) convCases() []convCase {
	cases := []convCase{
		{win([]int{2, 3, 9}, []int{3}, []int{2}, []int{1}, []int{1}), 4, 1},
		{win([]int{3, 4, 10}, []int{2}, []int{1}, []int{0}, []int{3}), 6, 2},
		{win([]int{2, 3, 5, 6}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}), 5, 1},
		{win([]int{3, 4, 7, 5}, []int{3, 2}, []int{2, 1}, []int{1, 0}, []int{1, 2}), 4, 2},
		{win([]int{4, 3, 6, 6}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}), 3, 3},
		{win([]int{2, 2, 4, 4}, []int{1, 1}, []int{1, 1}, []int{0, 0}, []int{1, 1}), 3, 1},
		{win([]int{1, 2, 3, 4}, []int{2, 2}, []int{1, 2}, []int{2, 1}, []int{1, 1}), 2, 1},
		{win([]int{0, 2, 4, 4}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}), 2, 1},
		{win([]int{2, 2, 2, 2}, []int{3, 3}, []int{1, 1}, []int{0, 0}, []int{1, 1}), 2, 1}, // no positions
	}
	if c.big() {
		cases = append(cases, convCase{win([]int{4, 40, 12, 12}, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}), 8, 1})
	}
	return cases
}

func testConvolver(c *ctx) {
	cv, ok := c.s.be.(backend.Convolver)
	if !ok {
		c.Logf("backendtest: %s has no backend.Convolver", c.s.be.Name())
		return
	}
	for _, dt := range c.types(backend.Float32, backend.Float64) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range []struct {
				name string
				k    kind
			}{{"contig", kContig}, {"perm", kPerm}, {"gap", kGap}} {
				c.run(v.name, func(c *ctx) {
					for _, cc := range c.convCases() {
						c.convCase(cv, dt, cc, v.k)
					}
				})
			}
		})
	}
}

// convRef returns the three products of backend.Convolver for cc from
// the definitions, with Σ|terms| per element for the tolerances.
func convRef(cc convCase, x, w, dy *operand) (y, ymag, dx, dxmag, dw, dwmag []float64) {
	grid := cc.outGrid()
	l, k := numel(grid), numel(cc.w.Kernel)
	n, cin := cc.in[0], cc.in[1]
	ci, co := cin/cc.groups, cc.cout/cc.groups
	y, ymag = make([]float64, n*cc.cout*l), make([]float64, n*cc.cout*l)
	dx, dxmag = make([]float64, numel(cc.in)), make([]float64, numel(cc.in))
	dw, dwmag = make([]float64, cc.cout*ci*k), make([]float64, cc.cout*ci*k)
	sp := numel(cc.in[2:])
	idx := make([]int, len(cc.in))
	for b := 0; b < n; b++ {
		for ch := 0; ch < cin; ch++ {
			g := ch / ci
			idx[0], idx[1] = b, ch
			cc.taps(func(li, t, p int, pos []int) {
				copy(idx[2:], pos)
				xv := x.get(idx)
				r := (ch%ci)*k + t
				for o := g * co; o < (g+1)*co; o++ {
					wv, gy := w.get([]int{o, r}), dy.get([]int{b, o, li})
					yi, xi, wi := (b*cc.cout+o)*l+li, (b*cin+ch)*sp+p, o*ci*k+r
					y[yi] += wv * xv
					ymag[yi] += math.Abs(wv * xv)
					dx[xi] += wv * gy
					dxmag[xi] += math.Abs(wv * gy)
					dw[wi] += gy * xv
					dwmag[wi] += math.Abs(gy * xv)
				}
			})
		}
	}
	return
}

func (c *ctx) convCase(cv backend.Convolver, dt backend.DType, cc convCase, k kind) {
	what := fmt.Sprintf("Convolver %v (inputs %v)", cc, k)
	l, taps := numel(cc.outGrid()), numel(cc.w.Kernel)
	wshape := []int{cc.cout, cc.in[1] / cc.groups * taps}
	yshape := []int{cc.in[0], cc.cout, l}
	x := c.input(dt, k, cc.in, c.uniform(-2, 2))
	w := c.input(dt, k, wshape, c.uniform(-2, 2))
	dy := c.input(dt, k, yshape, c.uniform(-2, 2))
	y := c.output(dt, kPad, yshape)
	dx := c.output(dt, kPad, cc.in)
	dw := c.output(dt, kPad, wshape)
	cv.ConvForward(y.view(), x.view(), w.view(), cc.w, cc.groups)
	cv.ConvBackwardInput(dx.view(), dy.view(), w.view(), cc.w, cc.groups)
	cv.ConvBackwardWeight(dw.view(), dy.view(), x.view(), cc.w, cc.groups)
	c.unchanged(what, x)
	c.unchanged(what, w)
	c.unchanged(what, dy)
	wy, my, wdx, mdx, wdw, mdw := convRef(cc, x, w, dy)
	// a sum of n products rounds to within about n ulps of its
	// magnitude; the tolerance scales the base one by a bound on n
	n := float64(max(cc.in[1]*taps, cc.in[0]*l, cc.cout))
	scale := func(mag []float64) bound {
		r := c.tol(dt) * n
		return func(i int) float64 { return r * mag[i] }
	}
	if c.written(what+": forward", y) {
		c.check(what+": forward", y, wy, scale(my), 0)
	}
	if c.written(what+": input gradient", dx) {
		c.check(what+": input gradient", dx, wdx, scale(mdx), 0)
	}
	if c.written(what+": weight gradient", dw) {
		c.check(what+": weight gradient", dw, wdw, scale(mdw), 0)
	}
}
