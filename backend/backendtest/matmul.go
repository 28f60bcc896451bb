package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// custom makes an operand with an explicit layout over a storage of n
// elements, every element gen() rounded to dt.
func (c *ctx) custom(dt backend.DType, l backend.Layout, n int, gen func() float64) *operand {
	c.Helper()
	o := &operand{dt: dt, st: c.alloc(dt, n), l: l, mem: make([]uint64, n)}
	for i := range o.mem {
		o.mem[i] = encode(dt, gen())
	}
	c.upload(o)
	return o
}

// customOut makes a poisoned output with an explicit layout.
func (c *ctx) customOut(dt backend.DType, l backend.Layout, n int) *operand {
	c.Helper()
	o := &operand{dt: dt, st: c.alloc(dt, n), l: l, mem: make([]uint64, n)}
	p := poison(dt)
	for i := range o.mem {
		o.mem[i] = p
	}
	c.upload(o)
	return o
}

// matLayout is how one [batch, rows, cols] operand of a MatMul lies in
// its storage.
type matLayout struct {
	trans bool // each matrix column-major: a transposed operand, as a stride swap
	bcast bool // batch stride 0: one matrix for every batch
	gap   bool // rows (or columns) 3 elements further apart than dense, at an offset
}

// layout returns the layout and the storage length.
func (m matLayout) layout(batch, rows, cols int) (backend.Layout, int) {
	lead, inner := cols, rows // row-major: row stride cols
	if m.trans {
		lead, inner = rows, cols
	}
	ld := max(lead, 1)
	off := 0
	if m.gap {
		ld += 3
		off = 2
	}
	per := ld * max(inner, 1)
	st := []int{per, ld, 1}
	if m.trans {
		st = []int{per, 1, ld}
	}
	nb := max(batch, 1)
	if m.bcast {
		st[0], nb = 0, 1
	}
	return backend.Layout{Shape: []int{batch, rows, cols}, Strides: st, Offset: off}, off + nb*per + 4
}

// matmulShapes are (B, M, K, N): sizes 0 and 1, odd sizes, and unless
// -short sizes past a register block and past the point where a backend
// splits a product across threads.
func (c *ctx) matmulShapes() [][4]int {
	s := [][4]int{
		{1, 1, 1, 1}, {1, 0, 3, 4}, {1, 3, 0, 4}, {1, 3, 4, 0}, {0, 2, 3, 4},
		{2, 7, 7, 7}, {3, 1, 7, 33}, {2, 33, 1, 7}, {1, 7, 33, 1}, {2, 5, 3, 9}, {1, 33, 33, 33},
	}
	if c.big() {
		s = append(s, [4]int{1, 33, 130, 7}, [4]int{1, 130, 33, 130}, [4]int{2, 64, 130, 33}, [4]int{1, 130, 130, 130}, [4]int{5, 17, 64, 19})
	}
	return s
}

func testMatMul(c *ctx) {
	variants := []struct {
		name    string
		a, b, d matLayout
	}{
		{"contig", matLayout{}, matLayout{}, matLayout{}},
		{"transA", matLayout{trans: true}, matLayout{}, matLayout{}},
		{"transB", matLayout{}, matLayout{trans: true}, matLayout{}},
		{"transAB", matLayout{trans: true, gap: true}, matLayout{trans: true}, matLayout{}},
		{"gap", matLayout{gap: true}, matLayout{gap: true}, matLayout{gap: true}},
		{"bcastA", matLayout{bcast: true}, matLayout{trans: true}, matLayout{}},
		{"bcastB", matLayout{gap: true}, matLayout{bcast: true, gap: true}, matLayout{}},
		{"dstperm", matLayout{}, matLayout{}, matLayout{trans: true, gap: true}},
	}
	for _, dt := range c.types(numericTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range variants {
				c.run(v.name, func(c *ctx) {
					gen := c.values(dt)
					switch {
					case dt.IsFloat():
						gen = c.uniform(-1, 1)
					case dt == u8:
						gen = c.intsIn(0, 20)
					}
					for _, s := range c.matmulShapes() {
						c.matmulCase(dt, s, v.a, v.b, v.d, v.name, gen)
					}
				})
			}
		})
	}
}

func (c *ctx) matmulCase(dt backend.DType, s [4]int, la, lb, ld matLayout, vname string, gen func() float64) {
	B, M, K, N := s[0], s[1], s[2], s[3]
	what := fmt.Sprintf("MatMul [%d,%d,%d]×[%d,%d,%d] (%s)", B, M, K, B, K, N, vname)
	al, an := la.layout(B, M, K)
	bl, bn := lb.layout(B, K, N)
	dl, dn := ld.layout(B, M, N)
	a := c.custom(dt, al, an, gen)
	b := c.custom(dt, bl, bn, gen)
	dst := c.customOut(dt, dl, dn)
	c.s.be.MatMul(dst.view(), a.view(), b.view())
	c.unchanged(what, a)
	c.unchanged(what, b)
	if !c.written(what, dst) {
		return
	}
	n := B * M * N
	if !dt.IsFloat() {
		av, bv := a.ints(), b.ints() // row-major [B,M,K] and [B,K,N]
		want := make([]int64, 0, n)
		for p := 0; p < B; p++ {
			for i := 0; i < M; i++ {
				for j := 0; j < N; j++ {
					var acc int64
					for k := 0; k < K; k++ {
						acc += av[(p*M+i)*K+k] * bv[(p*K+k)*N+j]
					}
					want = append(want, wrap(dt, acc))
				}
			}
		}
		c.checkInts(what, dst, want)
		return
	}
	av, bv := a.values(), b.values()
	want, mag := make([]float64, 0, n), make([]float64, 0, n)
	for p := 0; p < B; p++ {
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				var acc, m float64
				for k := 0; k < K; k++ {
					x := av[(p*M+i)*K+k] * bv[(p*K+k)*N+j]
					acc += x
					m += math.Abs(x)
				}
				want = append(want, acc)
				mag = append(mag, m)
			}
		}
	}
	// Tol·K·Σ|a·b|: a float32 dot product of K terms accumulated in any
	// order errs by at most about K·2⁻²⁴·Σ|a·b|, and Tol is 16·2⁻²⁴
	r := c.tol(dt) * float64(max(K, 1))
	c.check(what, dst, want, func(i int) float64 { return r * mag[i] }, 0)
}
