package cpu

// Conformance of ScatterAdd's fast path (last dim of a contiguous index)
// with the generic loop: identical results (each element receives its
// additions in the same order) and the same error for a bad index.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

func TestScatterAddFastMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct {
		dst, idx, src []int
		dim           int
	}{
		{[]int{2, 3, 10}, []int{2, 3, 4}, []int{2, 3, 4}, 2},
		{[]int{2, 3, 10}, []int{2, 2, 4}, []int{2, 3, 6}, 2}, // src and dst larger than index
		{[]int{5}, []int{9}, []int{9}, 0},
		{[]int{1, 1}, []int{1, 1}, []int{1, 1}, 1},
		{[]int{4, 3}, []int{2, 3}, []int{2, 3}, 0}, // not the last dim: generic
		{[]int{64, 16, 49}, []int{64, 16, 12}, []int{64, 16, 12}, 2},
		{[]int{2, 3, 10}, []int{2, 3, 0}, []int{2, 3, 0}, 2},
	} {
		for _, dt := range []backend.DType{f32, f64, i64, i32, u8t} {
			for _, lk := range []layoutKind{lkContig, lkStep, lkTrans} {
				for _, badAt := range []int{-1, 0, 3} {
					n := c.dst[c.dim]
					var vals []int
					for i := 0; i < numel(c.idx); i++ {
						vals = append(vals, rng.IntN(n))
					}
					if badAt >= 0 && badAt < len(vals) {
						vals[badAt] = n + badAt
						if len(vals) > badAt+2 {
							vals[badAt+2] = -1
						}
					}
					index := newIndex(t, lkContig, c.idx, vals)
					src := newOperand(t, dt, lk, c.src, genFor(dt, rng, -1, 1))
					base := newOperand(t, dt, lkContig, c.dst, genFor(dt, rng, -1, 1))
					name := fmt.Sprintf("%v/%v/%v/bad%d", c, dt, lk, badAt)
					type res struct {
						d   []uint64
						err string
					}
					g, f := bothPaths(func() res {
						dst := newOperand(t, dt, lk, c.dst, func() float64 { return 0 })
						be.Copy(dst.view(), base.view())
						err := be.ScatterAdd(dst.view(), c.dim, index.view(), src.view())
						s := ""
						if err != nil {
							s = err.Error()
						}
						return res{dst.snapshot(), s}
					})
					if g.err != f.err {
						t.Fatalf("%s: error %q, generic %q", name, f.err, g.err)
					}
					for i := range g.d {
						if g.d[i] != f.d[i] {
							t.Fatalf("%s: storage [%d] fast %v, generic %v", name, i, decode(dt, f.d[i]), decode(dt, g.d[i]))
						}
					}
				}
			}
		}
	}
}

// IndexSelect and IndexAdd on contiguous operands (indexBlocks's whole
// blocks) agree bit for bit with the generic loops, along each dim, with
// repeated indices, for float32 (IndexAdd's vector add), float64 and the
// integer widths.
func TestIndexBlocksMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range []backend.DType{f32, f64, i64, i32, u8t} {
		for _, shape := range [][]int{{7, 5}, {3, 4, 9}, {1, 6, 1}, {5, 0, 3}, {40, 33}} {
			for dim := range shape {
				n := shape[dim]
				if n == 0 {
					continue
				}
				k := 1 + rng.IntN(2*n)
				vals := make([]int, k)
				for i := range vals {
					vals[i] = rng.IntN(n)
				}
				index := newIndex(t, lkContig, []int{k}, vals)
				picked := append([]int(nil), shape...)
				picked[dim] = k
				src := newOperand(t, dt, lkContig, shape, genFor(dt, rng, -1, 1))
				add := newOperand(t, dt, lkContig, picked, genFor(dt, rng, -1, 1))
				base := newOperand(t, dt, lkContig, shape, genFor(dt, rng, -1, 1))
				type res struct{ sel, acc []uint64 }
				g, f := bothPaths(func() res {
					dst := newOperand(t, dt, lkContig, picked, func() float64 { return 0 })
					if err := be.IndexSelect(dst.view(), src.view(), dim, index.view()); err != nil {
						t.Fatal(err)
					}
					into := newOperand(t, dt, lkContig, shape, func() float64 { return 0 })
					be.Copy(into.view(), base.view())
					if err := be.IndexAdd(into.view(), dim, index.view(), add.view()); err != nil {
						t.Fatal(err)
					}
					return res{dst.snapshot(), into.snapshot()}
				})
				if !slices.Equal(g.sel, f.sel) || !slices.Equal(g.acc, f.acc) {
					t.Errorf("%v %v dim %d index %v: the fast paths differ from the generic loops", dt, shape, dim, vals)
				}
			}
		}
	}
}
