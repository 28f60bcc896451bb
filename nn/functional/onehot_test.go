package functional_test

import (
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestOneHotLoop(t *testing.T) {
	idx := []int64{3, 0, 1, 3, 2, 0}
	for _, n := range []int{4, 6} {
		y := F.OneHot(tensor.FromSlice(idx, 2, 3).To(tensor.Int32), n)
		if y.DType() != tensor.Int64 {
			t.Fatalf("dtype %v, want int64", y.DType())
		}
		if sh := y.Shape(); len(sh) != 3 || sh[0] != 2 || sh[1] != 3 || sh[2] != n {
			t.Fatalf("shape %v, want [2 3 %d]", sh, n)
		}
		got := y.Int64s()
		for i, v := range idx {
			for c := 0; c < n; c++ {
				want := int64(0)
				if int64(c) == v {
					want = 1
				}
				if got[i*n+c] != want {
					t.Fatalf("n=%d: one_hot[%d][%d] = %d, want %d", n, i, c, got[i*n+c], want)
				}
			}
		}
	}
}

func TestOneHotPanics(t *testing.T) {
	for _, c := range []struct {
		name, want string
		f          func()
	}{
		{"negative", "one_hot: class values must be non-negative, got -1",
			func() { F.OneHot(tensor.FromSlice([]int64{0, -1}), 3) }},
		{"too big", "one_hot: class value 3 is not smaller than num_classes 3",
			func() { F.OneHot(tensor.FromSlice([]int64{0, 3}), 3) }},
		{"float", "one_hot: indices must be an integer tensor, not float32",
			func() { F.OneHot(tensor.Zeros(2), 3) }},
		{"empty infer", "one_hot: cannot infer the number of classes from an empty tensor [0]",
			func() { F.OneHot(tensor.FromSlice([]int64{}), -1) }},
	} {
		t.Run(c.name, func(t *testing.T) { expectPanic(t, c.want, c.f) })
	}
}
