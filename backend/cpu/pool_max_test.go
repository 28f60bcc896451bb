package cpu

// Conformance of MaxPool's fast paths with the generic loop: values bit
// for bit (so ±0 come out alike), indices exactly, on inputs full of
// ties, signed zeros, infinities and NaNs, through contiguous layouts
// (fast), row-padded ones (fast: rows contiguous, planes not) and
// strided ones (generic both times).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

var poolFastCases = []winCase{
	{in: []int{2, 3, 8, 8}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{2, 2, 7, 9}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}}, // odd: last row/col dropped
	{in: []int{1, 1, 2, 2}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{2, 2, 9, 7}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{1, 3, 6, 6}, k: []int{3, 3}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 5, 5}, k: []int{3, 3}, s: []int{1, 1}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 1, 7, 8}, k: []int{2, 3}, s: []int{1, 2}, p: []int{1, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 1, 1}, k: []int{1, 1}, s: []int{1, 1}, p: []int{0, 0}, d: []int{1, 1}},
	{in: []int{1, 2, 3, 3}, k: []int{3, 3}, s: []int{3, 3}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 2, 6, 6}, k: []int{2, 2}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}},
	{in: []int{2, 2, 9, 9}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{2, 2}}, // dilated: generic
	{in: []int{3, 2, 11}, k: []int{3}, s: []int{2}, p: []int{1}, d: []int{1}},
	{in: []int{1, 4, 6}, k: []int{2}, s: []int{2}, p: []int{0}, d: []int{1}},
	{in: []int{16, 16, 12, 12}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}}, // parallel
	// ceil mode: a last, partial window
	{in: []int{1, 2, 5, 7}, k: []int{2, 2}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}, pools: []int{3, 4}},
	{in: []int{1, 2, 7, 7}, k: []int{3, 3}, s: []int{2, 2}, p: []int{1, 1}, d: []int{1, 1}, pools: []int{4, 4}},
	{in: []int{1, 2, 6, 6}, k: []int{3, 3}, s: []int{2, 2}, p: []int{0, 0}, d: []int{1, 1}, pools: []int{3, 3}},
}

func TestMaxPoolFastMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), 1, -1, 2}
	gens := map[string]func() float64{
		"uniform": func() float64 { return rng.NormFloat64() },
		"ties":    func() float64 { return specials[rng.IntN(len(specials))] },
		"relu":    func() float64 { return max(0, rng.NormFloat64()) },
		"nan": func() float64 {
			if rng.IntN(6) == 0 {
				return math.NaN()
			}
			return specials[rng.IntN(len(specials))]
		},
		"-inf": func() float64 { return math.Inf(-1) },
	}
	for _, c := range poolFastCases {
		w := c.window()
		osz := []int{c.in[0], c.in[1]}
		for d := range c.k {
			if c.pools != nil {
				osz = append(osz, c.pools[d])
			} else {
				osz = append(osz, w.OutSize(d, c.in[2+d]))
			}
		}
		for gname, gen := range gens {
			for _, dt := range []backend.DType{f32, f64} {
				for _, lay := range []string{"contig", "rowpad", "trans", "step"} {
					var src operand
					switch lay {
					case "contig":
						src = newOperand(t, dt, lkContig, c.in, gen)
					case "rowpad":
						src = newRowPadded(t, dt, c.in, gen)
					case "trans":
						src = newOperand(t, dt, lkTrans, c.in, gen)
					case "step":
						src = newOperand(t, dt, lkStep, c.in, gen)
					}
					name := fmt.Sprintf("%v/%s/%v/%s", c, gname, dt, lay)
					type res struct{ v, i []uint64 }
					g, f := bothPaths(func() res {
						v, _ := newOutput(t, dt, lkContig, osz, rng)
						ix, _ := newOutput(t, i64, lkContig, osz, rng)
						be.MaxPool(v.view(), ix.view(), src.view(), w)
						return res{v.snapshot(), ix.snapshot()}
					})
					for i := range g.v {
						if g.i[i] != f.i[i] || g.v[i] != f.v[i] && !(math.IsNaN(decode(dt, g.v[i])) && math.IsNaN(decode(dt, f.v[i]))) {
							t.Fatalf("%s: [%d] fast %v@%d, generic %v@%d", name, i, decode(dt, f.v[i]), f.i[i], decode(dt, g.v[i]), g.i[i])
						}
					}
				}
			}
		}
	}
}
