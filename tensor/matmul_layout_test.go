package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// TestMatMulGradLayout holds matmul's gradients to a float64 loop
// reference when an operand is a transposed view (Linear's weight.T()),
// where backward computes the transposed product so that the leaf's
// gradient arrives contiguous: it must be, and it must be right. Shapes
// cover 2-d and batched 3-d, single rows and columns (which count as
// row-major) and every mix of transposed and plain operands.
func TestMatMulGradLayout(t *testing.T) {
	type tc struct {
		batch, m, k, n int // batch 0: 2-d
		ta, tb         bool
	}
	var cases []tc
	for _, sh := range [][4]int{{0, 5, 7, 3}, {0, 1, 4, 6}, {0, 4, 1, 5}, {0, 6, 3, 1}, {2, 4, 5, 3}, {3, 1, 2, 7}, {0, 33, 40, 17}} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			cases = append(cases, tc{sh[0], sh[1], sh[2], sh[3], tr[0], tr[1]})
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			gen := tensor.NewGenerator(11)
			// leaf holds the operand's data, transposed when tr: the
			// operand is then leaf's transpose, a column-major view
			mk := func(rows, cols int, tr bool) (leaf, op *tensor.Tensor) {
				shape := []int{rows, cols}
				if tr {
					shape = []int{cols, rows}
				}
				if c.batch > 0 {
					shape = append([]int{c.batch}, shape...)
				}
				leaf = gen.Normal(tensor.Float32, 0, 1, shape...).SetRequiresGrad(true)
				op = leaf
				if tr {
					op = leaf.Transpose(-1, -2)
				}
				return leaf, op
			}
			la, a := mk(c.m, c.k, c.ta)
			lb, b := mk(c.k, c.n, c.tb)
			out := a.MatMul(b)
			g := gen.Normal(tensor.Float32, 0, 1, out.Shape()...)
			// the gradients of the operands themselves take the operands'
			// layouts: a transposed operand gets a transposed gradient,
			// which reaches its leaf contiguous through the transpose
			opGrads := autograd.Grad([]*tensor.Tensor{out}, []*tensor.Tensor{a, b}, []*tensor.Tensor{g}, autograd.GradOptions{RetainGraph: true})
			for i, op := range []*tensor.Tensor{a, b} {
				if op.IsContiguous() {
					continue
				}
				if got, want := opGrads[i].Strides(), op.Strides(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("grad of operand %d has strides %v, want the operand's %v", i, got, want)
				}
			}
			out.Mul(g).Sum().Backward()

			nb := max(c.batch, 1)
			av, bv, gv := dense(a), dense(b), dense(g)
			wantA := make([]float64, nb*c.m*c.k)
			wantB := make([]float64, nb*c.k*c.n)
			for p := range nb {
				A, B, G := av[p*c.m*c.k:], bv[p*c.k*c.n:], gv[p*c.m*c.n:]
				for i := range c.m {
					for j := range c.n {
						for l := range c.k {
							wantA[p*c.m*c.k+i*c.k+l] += G[i*c.n+j] * B[l*c.n+j]
							wantB[p*c.k*c.n+l*c.n+j] += A[i*c.k+l] * G[i*c.n+j]
						}
					}
				}
			}
			for _, x := range []struct {
				name     string
				leaf, op *tensor.Tensor
				want     []float64
			}{{"a", la, a, wantA}, {"b", lb, b, wantB}} {
				lg := x.leaf.Grad()
				if lg == nil || !lg.IsContiguous() {
					t.Fatalf("grad of %s: %v, want a contiguous tensor", x.name, lg)
				}
				// the operand's gradient is the leaf's, seen through
				// the same transpose
				got := dense(lg)
				if x.op != x.leaf {
					got = dense(lg.Transpose(-1, -2))
				}
				for i := range x.want {
					if math.Abs(got[i]-x.want[i]) > 1e-4*(1+math.Abs(x.want[i])) {
						t.Fatalf("grad of %s [%d] = %g, want %g", x.name, i, got[i], x.want[i])
					}
				}
			}
		})
	}
}

// dense is t's elements in row-major order as float64.
func dense(t *tensor.Tensor) []float64 { return t.Contiguous().Float64s() }

// TestMatMulGradLayoutGradCheck checks first and second derivatives of
// products with transposed operands by finite differences in float64.
func TestMatMulGradLayoutGradCheck(t *testing.T) {
	gen := tensor.NewGenerator(4)
	for _, batch := range []int{0, 2} {
		sh := func(r, c int) []int {
			if batch > 0 {
				return []int{batch, r, c}
			}
			return []int{r, c}
		}
		a := gen.Normal(tensor.Float64, 0, 1, sh(4, 3)...).SetRequiresGrad(true)
		b := gen.Normal(tensor.Float64, 0, 1, sh(5, 4)...).SetRequiresGrad(true)
		err := autograd.GradCheck(func(in []*tensor.Tensor) *tensor.Tensor {
			// aᵀ [3,4] · bᵀ [4,5]: both operands column-major
			return in[0].Transpose(-1, -2).MatMul(in[1].Transpose(-1, -2)).Tanh()
		}, []*tensor.Tensor{a, b}, autograd.GradCheckOptions{GradGrad: true})
		if err != nil {
			t.Errorf("batch %d: %v", batch, err)
		}
	}
}
