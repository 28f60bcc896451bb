package cpu

// Conformance of Unfold's and Fold's fast paths with the generic loops,
// bit for bit (Fold's fast path makes each element's additions in the
// generic order), through contiguous, row-padded, transposed and strided
// operands.

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

var convFastCases = []winCase{
	{in: []int{2, 3, 6, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 2, 7, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 3, 3}, k: []int{3, 3}, s: []int{1, 1}, p: []int{2, 2}, d: []int{1, 1}},
	{in: []int{1, 1, 1, 1}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 3, 4, 5}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 8, 9}, k: []int{5, 5}, s: []int{1, 1}, p: []int{2, 2}, d: []int{1, 1}},
	{in: []int{2, 1, 6, 7}, k: []int{2, 3}, s: []int{1, 1}, p: []int{1, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 4, 3}, k: []int{4, 2}, s: []int{1, 1}, p: []int{0, 1}, d: []int{1, 1}},
	{in: []int{2, 2, 7, 7}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}}, // generic
	{in: []int{1, 2, 8, 8}, k: []int{3, 3}, s: []int{1, 1}, p: []int{2, 2}, d: []int{2, 2}}, // generic
	{in: []int{1, 1, 2, 2}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}}, // no window
	{in: []int{3, 2, 11}, k: []int{3}, s: []int{1}, p: []int{1}, d: []int{1}},
	{in: []int{2, 4, 6}, k: []int{1}, s: []int{1}, p: []int{0}, d: []int{1}},
	{in: []int{8, 16, 12, 12}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, // parallel
	// rows of 24 or more take Fold's fast path
	{in: []int{2, 2, 5, 30}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{1, 2, 3, 27}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 6, 29}, k: []int{5, 5}, s: []int{1, 1}, p: []int{2, 2}, d: []int{1, 1}},
	{in: []int{1, 2, 4, 26}, k: []int{2, 3}, s: []int{1, 1}, p: []int{1, 0}, d: []int{1, 1}},
	{in: []int{2, 3, 4, 25}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 1, 1, 30}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 3, 40}, k: []int{3}, s: []int{1}, p: []int{1}, d: []int{1}},
	{in: []int{4, 8, 6, 40}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}}, // parallel
}

func colsShape(c winCase) []int {
	w := c.window()
	l := 1
	for d := range c.k {
		l *= w.OutSize(d, c.in[2+d])
	}
	return []int{c.in[0], c.in[1] * w.KernelSize(), l}
}

func TestUnfoldFoldFastMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range convFastCases {
		w := c.window()
		cs := colsShape(c)
		for _, dt := range []backend.DType{f32, f64} {
			for _, lay := range []string{"contig", "rowpad", "trans", "step"} {
				mk := func(shape []int) operand {
					gen := genFor(dt, rng, -2, 2)
					switch lay {
					case "rowpad":
						return newRowPadded(t, dt, shape, gen)
					case "trans":
						return newOperand(t, dt, lkTrans, shape, gen)
					case "step":
						return newOperand(t, dt, lkStep, shape, gen)
					}
					return newOperand(t, dt, lkContig, shape, gen)
				}
				x, cols := mk(c.in), mk(cs)
				name := fmt.Sprintf("%v/%v/%s", c, dt, lay)
				g, f := bothPaths(func() []uint64 {
					dst, _ := newOutput(t, dt, lkContig, cs, rng)
					be.Unfold(dst.view(), x.view(), w)
					return dst.snapshot()
				})
				for i := range g {
					if g[i] != f[i] {
						t.Fatalf("unfold %s: [%d] fast %v, generic %v", name, i, decode(dt, f[i]), decode(dt, g[i]))
					}
				}
				g, f = bothPaths(func() []uint64 {
					dst, _ := newOutput(t, dt, lkContig, c.in, rng)
					be.Fold(dst.view(), cols.view(), w)
					return dst.snapshot()
				})
				for i := range g {
					if g[i] != f[i] {
						t.Fatalf("fold %s: [%d] fast %v, generic %v", name, i, decode(dt, f[i]), decode(dt, g[i]))
					}
				}
			}
		}
	}
}
