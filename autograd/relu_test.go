package autograd_test

import (
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

// ReLU's gradient passes g where the output is positive and is 0 at and
// below the kink; the incoming gradient tensor is not written to.
func TestReLUGradValues(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		x := tensor.FromSlice([]float64{-2, 0, 0.5, 3, -0.1, 7}, 2, 3).To(dt).SetRequiresGrad(true)
		g := tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 2, 3).To(dt)
		x.ReLU().BackwardWith(g)
		want := []float64{0, 0, 3, 4, 0, 6}
		for i, v := range x.Grad().Float64s() {
			if v != want[i] {
				t.Fatalf("%v: grad %v, want %v", dt, x.Grad().Float64s(), want)
			}
		}
		for i, v := range g.Float64s() {
			if v != float64(i+1) {
				t.Fatalf("%v: the incoming gradient was overwritten: %v", dt, g.Float64s())
			}
		}
		// a strided incoming gradient
		x.ZeroGrad()
		gt := tensor.FromSlice([]float64{1, 4, 2, 5, 3, 6}, 3, 2).To(dt).Transpose(0, 1)
		x.ReLU().BackwardWith(gt)
		for i, v := range x.Grad().Float64s() {
			if v != want[i] {
				t.Fatalf("%v strided: grad %v, want %v", dt, x.Grad().Float64s(), want)
			}
		}
	}
}

// Gradients of ReLU's gradient: d/dg of (g·mask) is the mask, and the
// mask itself carries no gradient back to x.
func TestReLUDoubleBackward(t *testing.T) {
	x := tensor.FromSlice([]float64{-1, 2, 0.5, -3}).SetRequiresGrad(true)
	g := tensor.FromSlice([]float64{1, 1, 1, 1}).SetRequiresGrad(true)
	y := x.ReLU().Square() // dy/dx = 2·relu(x)·[x>0]
	gx := autograd.Grad([]*tensor.Tensor{y}, []*tensor.Tensor{x}, []*tensor.Tensor{g}, autograd.GradOptions{CreateGraph: true})[0]
	// d(Σ gx)/dx = 2·[x>0]; d(Σ gx)/dg = 2·relu(x)·[x>0]
	dd := autograd.Grad([]*tensor.Tensor{gx.Sum()}, []*tensor.Tensor{x, g}, nil, autograd.GradOptions{})
	wantX := []float64{0, 2, 2, 0}
	wantG := []float64{0, 4, 1, 0}
	for i := range wantX {
		if dd[0].Float64s()[i] != wantX[i] || dd[1].Float64s()[i] != wantG[i] {
			t.Fatalf("second derivatives %v, %v; want %v, %v", dd[0].Float64s(), dd[1].Float64s(), wantX, wantG)
		}
	}
}
