package tensor

import (
	"slices"
	"testing"
)

// TestEmptyViewsAtAnOffset runs ops on empty views whose offset lies past
// the end of their (empty) buffer, as Select(1, 1) of a [0, 2] tensor
// makes: each must return an empty result of the right shape, not panic
// slicing the buffer at the offset.
func TestEmptyViewsAtAnOffset(t *testing.T) {
	ops := []struct {
		name   string
		floats bool // the op takes float dtypes only
		f      func(x, y *Tensor) *Tensor
	}{
		{"relu", false, func(x, _ *Tensor) *Tensor { return x.ReLU() }},
		{"neg", false, func(x, _ *Tensor) *Tensor { return x.Neg() }},
		{"abs", false, func(x, _ *Tensor) *Tensor { return x.Abs() }},
		{"add", false, (*Tensor).Add},
		{"mul", false, (*Tensor).Mul},
		{"maximum", false, (*Tensor).Maximum},
		{"gt", false, (*Tensor).Gt},
		{"where", false, func(x, y *Tensor) *Tensor { return Where(x.Gt(y), x, y) }},
		{"add_", false, func(x, y *Tensor) *Tensor { return x.Clone().AddIn(y) }},
		{"clamp", false, func(x, _ *Tensor) *Tensor { return x.Clamp(-1, 1) }},
		{"mul_scalar", false, func(x, _ *Tensor) *Tensor { return x.MulScalar(2) }},
		{"exp", true, func(x, _ *Tensor) *Tensor { return x.Exp() }},
		{"sigmoid", true, func(x, _ *Tensor) *Tensor { return x.Sigmoid() }},
		{"sqrt", true, func(x, _ *Tensor) *Tensor { return x.Sqrt() }},
	}
	for _, dt := range []DType{Float32, Float64, Int64, Int32} {
		for _, op := range ops {
			if op.floats && !dt.IsFloat() {
				continue
			}
			x := Zeros(0, 2).To(dt).Select(1, 1)
			y := Zeros(0, 2).To(dt).Select(1, 1)
			var got *Tensor
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%v %s: panic: %v", dt, op.name, r)
					}
				}()
				got = op.f(x, y)
			}()
			if got != nil && !slices.Equal(got.Shape(), []int{0}) {
				t.Errorf("%v %s: shape %v, want [0]", dt, op.name, got.Shape())
			}
		}
	}
}
